// Writes: the one seam every write RPC goes through (Feedback,
// ImportEvents, UpsertItems, DeleteItems, UpsertUsers, DeleteUser,
// MergeUsers,
// ActivateModel), so
// that single-node and cluster mode differ in one place:
//   - LocalWrites (single-node, the default): straight to Ingest (durable
//     in the local store, then the engine) and ModelManager;
//   - ClusterWrites (cluster_writes.h, `aisle serve --cluster`): appended
//     to the replicated log first, answered once this node has applied the
//     entry (log_applier.h).
// Inputs are validated by the caller (validation.h). The contracts of the
// methods are those of Ingest (ingest.h) and ModelManager::Activate; what
// cluster mode adds is in cluster_writes.h.
//
// Thread safety: implementations allow concurrent calls.
#ifndef AISLE_SERVER_WRITES_H_
#define AISLE_SERVER_WRITES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model.h"
#include "core/types.h"
#include "server/event_batcher.h"
#include "server/ingest.h"
#include "server/model_manager.h"

namespace aisle::server {

class Writes {
 public:
  virtual ~Writes() = default;
  virtual absl::StatusOr<EventsStored> AddEvents(
      std::vector<core::Event> events, int64_t now_ms,
      storage::Store::OnIdConflict on_conflict =
          storage::Store::OnIdConflict::kStoreNothing) = 0;
  // AddEvents (with kStoreNothing) that answers through `done`, once,
  // perhaps later and on another thread: LocalWrites stores concurrent
  // calls together (event_batcher.h). By default AddEvents, then `done`,
  // here (cluster mode's Feedback calls AddEvents on its write pool).
  virtual void AddEventsLater(std::vector<core::Event> events, int64_t now_ms,
                              EventBatcher::Done done) {
    std::move(done)(AddEvents(std::move(events), now_ms));
  }
  virtual absl::Status UpsertItems(std::vector<core::Item> items,
                                   int64_t now_ms) = 0;
  virtual absl::StatusOr<int> DeleteItems(
      const std::vector<std::string>& item_ids) = 0;
  virtual absl::Status UpsertUsers(std::vector<core::UserAttributes> users,
                                   int64_t now_ms) = 0;
  virtual absl::StatusOr<UserErasure> EraseUser(const std::string& user_id) = 0;
  virtual absl::StatusOr<UserMerge> MergeUsers(const std::string& from,
                                               const std::string& to) = 0;
  // An empty version with rollback: the previous active version.
  virtual absl::StatusOr<core::ModelMetadata> ActivateModel(
      const std::string& version, bool rollback) = 0;
};

// Single-node mode. Borrowed pointers; all must outlive it. AddEventsLater
// goes through `batcher` (over the same `ingest`).
class LocalWrites final : public Writes {
 public:
  LocalWrites(Ingest* ingest, ModelManager* models, EventBatcher* batcher)
      : ingest_(ingest), models_(models), batcher_(batcher) {}

  void AddEventsLater(std::vector<core::Event> events, int64_t now_ms,
                      EventBatcher::Done done) override {
    batcher_->Submit(std::move(events), now_ms, std::move(done));
  }

  absl::StatusOr<EventsStored> AddEvents(
      std::vector<core::Event> events, int64_t now_ms,
      storage::Store::OnIdConflict on_conflict =
          storage::Store::OnIdConflict::kStoreNothing) override {
    return ingest_->AddEvents(std::move(events), now_ms, 0, on_conflict);
  }
  absl::Status UpsertItems(std::vector<core::Item> items,
                           int64_t now_ms) override {
    return ingest_->UpsertItems(std::move(items), now_ms);
  }
  absl::StatusOr<int> DeleteItems(
      const std::vector<std::string>& item_ids) override {
    return ingest_->DeleteItems(item_ids);
  }
  absl::Status UpsertUsers(std::vector<core::UserAttributes> users,
                           int64_t now_ms) override {
    return ingest_->UpsertUsers(std::move(users), now_ms);
  }
  absl::StatusOr<UserErasure> EraseUser(const std::string& user_id) override {
    return ingest_->EraseUser(user_id);
  }
  absl::StatusOr<UserMerge> MergeUsers(const std::string& from,
                                       const std::string& to) override {
    return ingest_->MergeUsers(from, to);
  }
  absl::StatusOr<core::ModelMetadata> ActivateModel(const std::string& version,
                                                    bool rollback) override {
    return models_->Activate(version, rollback);
  }

 private:
  Ingest* const ingest_;
  ModelManager* const models_;
  EventBatcher* const batcher_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_WRITES_H_
