// LogApplier: cluster mode's consumer of the replicated log. One thread
// reads the log in order from the entry after the store's applied position
// and applies each entry through the same units as single-node writes
// (Ingest for events, items and erasure, ModelManager for activation),
// passing the entry's sequence so that the store records it in the same
// write batch as the data (storage/store.h). Every node runs one and
// applies the same entries in the same order, so all hold the same state.
// Consecutive events entries that have already arrived are applied in one
// store write batch recording the last one's sequence (Ingest::
// AddEventGroups): the same state and results as one at a time, and
// still exactly once (the batch and its position commit together).
//
// A delete_user entry also erases the user's events from the log itself
// (log_erasure.h) before the user is erased here; an events entry that
// replaces an erased one is applied as LogErasure::ApplyReplacement says.
//
// Entries that fail for a reason every node shares (an invalid or unknown
// entry, a model version this node lacks) are recorded as applied with
// that error as their result; failures of this node (disk full, I/O) are
// retried, without skipping, until they succeed or the applier stops.
//
// Writers (cluster_writes.h) wait here for their entry to be applied and
// take its result; Recommend waits for a client's min_log_position. The
// results of the most recent entries are kept for the writers (bounded).
//
//   LogApplier applier(&log, &ingest, &models, &store, &metrics, {});
//   RETURN_IF_ERROR(applier.Start());
//   ASSIGN_OR_RETURN(ApplyResult r, applier.WaitResult(seq, deadline));
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_SERVER_LOG_APPLIER_H_
#define AISLE_SERVER_LOG_APPLIER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aisle/cluster/v1/log_entry.pb.h"
#include "cluster/event_log.h"
#include "core/model.h"
#include "server/ingest.h"
#include "server/log_erasure.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "storage/store.h"

namespace aisle::server {

// What applying one entry did on this node.
struct ApplyResult {
  absl::Status status;         // the entry's own error, if it had one
  EventsStored events;         // events entries
  int items_deleted = 0;       // delete_items entries
  UserErasure erasure;         // delete_user entries
  LogErasureStats log_erased;  // delete_user entries: the log's part
  UserMerge merge;             // merge_users entries
  core::ModelMetadata model;   // activate_model entries
};

struct LogApplierOptions {
  // Results kept for writers that have not picked theirs up yet.
  // Default: 4096 entries.
  size_t results_kept = 4096;
  // Wait before re-opening a broken reader or retrying a failed apply.
  // Default: 200 ms.
  absl::Duration retry_wait = absl::Milliseconds(200);
  // Consecutive events entries that have already arrived are applied in
  // one store write batch, up to this many entries / events per batch.
  // Defaults: 256 entries, 20000 events.
  size_t max_run_entries = 256;
  size_t max_run_events = 20000;
  // Called before an activate_model entry is applied, to make sure this
  // node stores the version (cluster_models.h fetches it from the
  // cluster). Its error is the entry's: one every node shares is recorded,
  // any other is retried. Optional.
  std::function<absl::Status(const std::string& version)> ensure_model;
  // Called (on the applier's thread; must not block) after a delete_user
  // entry erased the user here, with its sequence. Optional.
  std::function<void(uint64_t sequence)> on_user_erased;
  // Called (on the applier's thread; must not block) when the log starts
  // or stops answering while this node is connected to a NATS server:
  // false when EventLog::Probe is not acknowledged within 2 s (no
  // JetStream quorum), true when it is again. Probed every second.
  // Optional.
  std::function<void(bool answering)> on_log_answering;
};

class LogApplier {
 public:
  // Borrowed pointers; all must outlive the applier.
  LogApplier(cluster::EventLog* log, Ingest* ingest, ModelManager* models,
             storage::Store* store, Metrics* metrics,
             LogApplierOptions options = {});
  ~LogApplier();  // Stop()
  LogApplier(const LogApplier&) = delete;
  LogApplier& operator=(const LogApplier&) = delete;

  // Reads the store's applied position and starts the thread. Errors: the
  // store's.
  absl::Status Start();
  // Stops the thread (within one read timeout). Idempotent.
  void Stop();

  // The last entry applied here (0 before any).
  uint64_t applied() const;
  // Waits until `sequence` is applied or `deadline` passes; true if it is.
  bool WaitApplied(uint64_t sequence, absl::Time deadline) const;
  // Waits until `sequence` is applied and returns what applying it did.
  // DeadlineExceeded when not applied by `deadline`; NotFound when the
  // result is no longer kept (applied long ago, e.g. before a restart).
  absl::StatusOr<ApplyResult> WaitResult(uint64_t sequence,
                                         absl::Time deadline);
  // Whether the log can be reached right now (reads are marked stale
  // while it cannot).
  bool log_connected() const { return log_->connected(); }
  // Start-up catch-up: waits until everything in the log when called is
  // applied. Errors: Unavailable when the log cannot be reached;
  // DeadlineExceeded at `deadline`; OutOfRange (as gap()) when the log no
  // longer holds the entries after this node's position.
  absl::Status CatchUp(absl::Time deadline);
  // OK, or OutOfRange (saying what to do) once the log was found to start
  // past the entry this node needs next (retention deleted it): the
  // applier then applies nothing more.
  absl::Status gap() const {
    absl::MutexLock lock(&mu_);
    return gap_;
  }

 private:
  void Run();
  // Applies one entry, retrying this node's own failures; false if the
  // applier stopped first.
  bool ApplyWithRetry(const cluster::LogEntry& entry);
  ApplyResult Apply(const cluster::LogEntry& entry);
  // A DeleteUser entry for `user_id`: from the log (LogErasure), then
  // from this node's store and engine.
  ApplyResult EraseUser(const std::string& user_id, uint64_t seq);
  // An events entry of a run applied together.
  struct EventsRunEntry {
    cluster::LogEntry raw;
    cluster::v1::LogEntry parsed;
  };
  // Applies consecutive events entries in one store write; when that
  // fails, one at a time (ApplyWithRetry). False if the applier stopped.
  bool ApplyEventsRun(std::vector<EventsRunEntry>& run);
  // Records the results, advances applied_, wakes waiters.
  void Applied(uint64_t sequence, ApplyResult result);
  void Applied(std::vector<std::pair<uint64_t, ApplyResult>> results);
  // Sleeps retry_wait unless stopped meanwhile; false if stopped.
  bool WaitToRetry();

  cluster::EventLog* const log_;
  Ingest* const ingest_;
  ModelManager* const models_;
  storage::Store* const store_;
  Metrics* const metrics_;
  const LogApplierOptions options_;
  LogErasure erasure_;  // used by the applier's thread only

  mutable absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, ApplyResult> results_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status gap_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_LOG_APPLIER_H_
