// ClusterWrites: the write path of cluster mode (`aisle serve --cluster`,
// docs/cluster.md). Every write becomes one entry of the replicated log
// (log_entry.h), and the RPC is answered only after the log acknowledged
// it AND this node applied it (log_applier.h): the answer is this node's
// result of applying it, so the node's next read reflects the write.
//
// Never acknowledges an unlogged write: when the log cannot be reached or
// does not acknowledge in time the answer is UNAVAILABLE, and the client
// retries (through any node). Retrying is safe: an events batch carries a
// de-duplication id derived from its event ids (EventBatchId), which the
// log recognises within its window, and behind that Aisle's own
// idempotency keys; the other writes are idempotent. When the entry is
// logged but this node has not applied it within apply_timeout the answer
// is UNAVAILABLE too ("logged at position N"): the write is durable and a
// retry is a duplicate.
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_SERVER_CLUSTER_WRITES_H_
#define AISLE_SERVER_CLUSTER_WRITES_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cluster/event_log.h"
#include "server/cluster_models.h"
#include "server/log_applier.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/writes.h"
#include "storage/store.h"

namespace aisle::server {

class ClusterWrites final : public Writes {
 public:
  // Borrowed pointers; all must outlive it. `models` resolves a rollback
  // and `cluster_models` publishes a version before its activation is
  // logged.
  ClusterWrites(cluster::EventLog* log, LogApplier* applier,
                const ModelManager* models, ClusterModels* cluster_models,
                Metrics* metrics,
                absl::Duration apply_timeout = absl::Seconds(10));

  // EventsStored::log_position is the entry's position (for
  // RecommendRequest.min_log_position).
  absl::StatusOr<EventsStored> AddEvents(
      std::vector<core::Event> events, int64_t now_ms,
      storage::Store::OnIdConflict on_conflict) override;
  absl::Status UpsertItems(std::vector<core::Item> items,
                           int64_t now_ms) override;
  absl::StatusOr<int> DeleteItems(
      const std::vector<std::string>& item_ids) override;
  absl::Status UpsertUsers(std::vector<core::UserAttributes> users,
                           int64_t now_ms) override;
  absl::StatusOr<UserErasure> EraseUser(const std::string& user_id) override;
  absl::StatusOr<UserMerge> MergeUsers(const std::string& from,
                                       const std::string& to) override;
  // Resolves a rollback to a version on this node, publishes it to the
  // cluster's model bucket unless it is there already (NotFound when
  // neither this node nor the bucket holds it; nothing is logged then),
  // then logs "activate V": every node fetches it if needed and switches
  // at that position.
  absl::StatusOr<core::ModelMetadata> ActivateModel(const std::string& version,
                                                    bool rollback) override;

 private:
  // Appends, then waits for this node to apply the entry. For an entry the
  // log already held (a retry), the result is that of a duplicate:
  // `duplicate` is set and ApplyResult is default.
  struct Logged {
    uint64_t sequence = 0;
    bool duplicate = false;
    ApplyResult result;
  };
  absl::StatusOr<Logged> AppendAndApply(const std::string& id,
                                        const std::string& payload);

  cluster::EventLog* const log_;
  LogApplier* const applier_;
  const ModelManager* const models_;
  ClusterModels* const cluster_models_;
  Metrics* const metrics_;
  const absl::Duration apply_timeout_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_CLUSTER_WRITES_H_
