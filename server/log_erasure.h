// LogErasure: erasing a user from cluster mode's replicated log itself,
// not only from every node's state (docs/cluster.md, "Erasure in the
// stream"). The log applier (log_applier.h) calls it, on every node, for
// the entries that concern it:
//
//   - Before applying a delete_user entry: every entry this node's log
//     refs (storage/store.h, "Log refs") say holds the user's id is read
//     back from the log; one that holds only the user's events is erased
//     (EventLog::Erase overwrites its bytes on every NATS server); one
//     that also holds other users' events is first re-appended without
//     the user's events, marked `replaces` = its sequence, and then
//     erased. Every node does the same from the same state (the refs and
//     entries are the same at that log position), so the replacement has
//     a deterministic de-duplication id and is appended once, whichever
//     node gets there first; later nodes find the entry gone and skip it.
//     No node has to be the one that took the DeleteUser: a node that
//     crashed, or answered the client before finishing, leaves no work
//     undone as long as another node applies the entry.
//   - Applying a replacement (Events.replaces = S): on a node that applied
//     S nothing is stored again (the events are there already; counting
//     them twice once the idempotency keys are pruned must not happen):
//     the users' refs move from S to the replacement. A node that never
//     saw S (it joined after S was erased) applies the events as usual.
//
// What stays in the log: the delete_user entry itself (it carries the id:
// a node that was down must still erase), and entries that hold the id in
// other fields (merge_users, upsert_users); see docs/cluster.md.
//
// Thread safety: called from the applier's one thread; the log and the
// store may be shared.
#ifndef AISLE_SERVER_LOG_ERASURE_H_
#define AISLE_SERVER_LOG_ERASURE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aisle/cluster/v1/log_entry.pb.h"
#include "cluster/event_log.h"
#include "storage/store.h"

namespace aisle::server {

// What EraseUserEntries did to the log.
struct LogErasureStats {
  int entries_erased = 0;     // held only the user's events
  int entries_rewritten = 0;  // re-appended without them, then erased
  int entries_gone = 0;       // erased already (by another node)
};

class LogErasure {
 public:
  // Borrowed pointers; both must outlive this.
  LogErasure(cluster::EventLog* log, storage::Store* store);

  // Erases `user_id`'s events from the log entries this node's refs name
  // (see the file comment). Call before the user is erased from the
  // store (which deletes the refs). Errors: Unavailable when NATS cannot
  // be reached (the applier retries the entry; erasing again is
  // harmless); the store's errors.
  absl::StatusOr<LogErasureStats> EraseUserEntries(const std::string& user_id);

  // For an events entry with `replaces` set, applied at `sequence`: true
  // when this node applied the replaced entry (refs moved, `sequence`
  // recorded as applied: nothing else to do); false when it never did (the
  // caller applies the events). Errors: the store's.
  absl::StatusOr<bool> ApplyReplacement(const cluster::v1::LogEntry& entry,
                                        uint64_t sequence);

 private:
  cluster::EventLog* const log_;
  storage::Store* const store_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_LOG_ERASURE_H_
