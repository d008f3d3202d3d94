// Ingest: the durable write path. Every write goes to the store first and
// to the engine second, so that anything the engine serves is durable; the
// caller replies after both, so a client's next Recommend reflects its own
// writes. Ingest does not look at deadlines: the caller decides before
// calling (service.h), and a write once started runs to completion, so an
// acknowledged write is durable and a durable one is never reported failed
// by the server; a late client's retry is a duplicate by its event id.
//
//   Ingest ingest(&engine, &store, &metrics, &access_log);
//   ASSIGN_OR_RETURN(EventsStored r, ingest.AddEvents(events, now_ms));
//   RETURN_IF_ERROR(ingest.UpsertItems(items, now_ms));
//   RETURN_IF_ERROR(ingest.UpsertUsers(users, now_ms));
//   ASSIGN_OR_RETURN(UserErasure e, ingest.EraseUser("u1"));
//
// Inputs are validated by the caller (validation.h); Ingest fills defaults
// and does no request checks. Errors are the store's (the engine is not
// touched when storing failed).
//
// Cluster mode: the log applier (log_applier.h) calls the same methods
// with the entry's `log_sequence`, which the store records in the same
// write batch as the data (storage/store.h); 0 means single-node mode.
//
// Thread safety: all methods may be called concurrently. Event writes and
// user erasure are ordered by one lock (see erase_mu_).
#ifndef AISLE_SERVER_INGEST_H_
#define AISLE_SERVER_INGEST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/engine.h"
#include "core/types.h"
#include "server/experiment_stats.h"
#include "server/experiments.h"
#include "server/item_activity.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/recommendation_id.h"
#include "storage/store.h"

namespace aisle::server {

// The idempotency key for an event sent without one: "h1-" + 32 hex digits
// of a hash of (user_id, item_id, type, timestamp_ms). Deterministic across
// processes and versions, so a re-sent event without an id is still a
// duplicate. Also used by `aisle import` to show the ids it will send.
std::string DerivedEventId(const core::Event& event);

// The de-duplication id of a batch of events in cluster mode's log: "b1-"
// + 32 hex digits of a hash of the events' ids, in order. Deterministic
// across nodes, so a batch retried through another node is recognised.
// REQUIRES: every event has its event_id (FillEventDefaults).
std::string EventBatchId(const std::vector<core::Event>& events);

// Fills what a client may leave unset: timestamp_ms 0 -> now_ms, then an
// empty event_id -> DerivedEventId (after the timestamp, so two identical
// events sent without ids at different times are both kept).
void FillEventDefaults(std::vector<core::Event>& events, int64_t now_ms);

struct EventsStored {
  int accepted = 0;    // newly stored (and applied to the engine)
  int duplicates = 0;  // event_id already stored: neither stored nor applied
  // Cluster mode: the write's position in the replicated log; 0 otherwise.
  uint64_t log_position = 0;
  // Indexes of events whose event_id is another user's (storage/store.h):
  // never stored; ascending.
  std::vector<size_t> conflicts;
};

struct UserErasure {
  int64_t events_deleted = 0;
  int64_t idempotency_keys_deleted = 0;
  bool profile_deleted = false;  // in the store or in the engine
  bool vector_deleted = false;   // the engine had a factor vector
};

// What a MergeUsers did (storage::MergeResult without the events).
struct UserMerge {
  int64_t events_moved = 0;
  int64_t idempotency_keys_moved = 0;
  bool profile_merged = false;
};

class Ingest {
 public:
  // Borrowed pointers; all must outlive the Ingest.
  // experiments and stats may be null (no experiment counters); activity
  // may be null (no per-item counts of stored events).
  Ingest(core::Engine* engine, storage::Store* store, Metrics* metrics,
         AccessLog* access_log, const RecommendationIds* ids,
         const Experiments* experiments = nullptr,
         ExperimentStats* stats = nullptr, ItemActivity* activity = nullptr);
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  // Feedback and ImportEvents. Fills defaults (timestamp_ms 0 -> now_ms,
  // then an empty event_id -> DerivedEventId), appends durably, applies
  // the newly stored events to the engine and records event metrics
  // (stored, duplicates, attribution of recommendation ids the server
  // issued). With an event-id conflict, `on_conflict` says whether the
  // other events are stored. REQUIRES: every event passed ValidateEvent.
  absl::StatusOr<EventsStored> AddEvents(
      std::vector<core::Event> events, int64_t now_ms,
      uint64_t log_sequence = 0,
      storage::Store::OnIdConflict on_conflict =
          storage::Store::OnIdConflict::kStoreNothing);

  // Cluster mode: consecutive events entries of the log applied together
  // (log_applier.h), with the same results as AddEvents called for each
  // in order, but one store write (recording `log_sequence`, the last
  // entry's) and one engine update. All or nothing: an error stores none.
  struct EventsInput {
    std::vector<core::Event> events;
    int64_t now_ms = 0;
    storage::Store::OnIdConflict on_conflict =
        storage::Store::OnIdConflict::kStoreNothing;
    // The log entry the events came from (storage::Store::EventGroup::
    // log_ref); AddEvents uses its log_sequence.
    uint64_t log_ref = 0;
  };
  absl::StatusOr<std::vector<EventsStored>> AddEventGroups(
      std::vector<EventsInput> inputs, uint64_t log_sequence);

  // Stamps updated_at_ms = now_ms, stores, then upserts into the engine.
  // REQUIRES: every item passed ValidateItem.
  absl::Status UpsertItems(std::vector<core::Item> items, int64_t now_ms,
                           uint64_t log_sequence = 0);

  // Users' own attributes: stamps updated_at_ms = now_ms, stores, then
  // gives them to the engine. REQUIRES: ValidateUsers passed.
  absl::Status UpsertUsers(std::vector<core::UserAttributes> users,
                           int64_t now_ms, uint64_t log_sequence = 0);

  // Deletes from the store, then from the engine. Returns how many ids
  // were stored (the others were not found).
  absl::StatusOr<int> DeleteItems(const std::vector<std::string>& item_ids,
                                  uint64_t log_sequence = 0);

  // Erases everything kept about the user: stored events, idempotency keys
  // and profile, then the engine's history and vector. Logs the erasure
  // with the user id hashed.
  absl::StatusOr<UserErasure> EraseUser(const std::string& user_id,
                                        uint64_t log_sequence = 0);

  // Moves `from`'s stored events and profile to `to` and erases `from`
  // (storage::Store::MergeUsers), then the same in the engine
  // (core::Engine::MergeUsers). Event writes wait meanwhile, as for
  // EraseUser. REQUIRES: both ids valid (ValidateMergeUsers), from != to.
  absl::StatusOr<UserMerge> MergeUsers(const std::string& from,
                                       const std::string& to,
                                       uint64_t log_sequence = 0);

  // Calls `fn` while no event write or erasure is in flight, so that the
  // store and the engine hold the same events (engine snapshots,
  // server/snapshots.h). Event writes and erasures wait meanwhile; reads
  // do not.
  void WithWritesPaused(absl::FunctionRef<void()> fn) {
    absl::WriterMutexLock lock(&erase_mu_);
    fn();
  }

 private:
  // Event metrics for one newly stored event (attribution of the
  // recommendation id the server issued, checked at `now_ms`); an event
  // that counts for an experiment's variant is added to `attributed`.
  void CountStoredEvent(const core::Event& e, int64_t now_ms,
                        std::vector<storage::ExperimentCount>* attributed);

  core::Engine* const engine_;
  storage::Store* const store_;
  Metrics* const metrics_;
  AccessLog* const access_log_;
  const RecommendationIds* const ids_;
  const Experiments* const experiments_;
  ExperimentStats* const experiment_stats_;
  ItemActivity* const item_activity_;  // null: not counted

  // Orders event writes against user erasure: AddEvents holds it shared
  // from the append to the engine update, EraseUser exclusively across the
  // store and the engine. So no event stored before an erasure reappears
  // in the engine after it (an append cannot land in the store before the
  // erasure and in the engine after it).
  absl::Mutex erase_mu_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_INGEST_H_
