// LogErasure: erasing a user from cluster mode's replicated log itself,
// not only from every node's state (docs/cluster.md, "Erasure in the
// stream"). The log applier (log_applier.h) calls it, on every node, for
// the entries that concern it:
//
//   - Before applying a DeleteUser entry: every entry this node's log
//     refs (storage/store.h, "Log refs") say holds the user's id (events
//     and users' attributes entries) is read back from the log; one that
//     holds only the user's data is erased (EventLog::Erase overwrites its
//     bytes on every NATS server); one that also holds other users' is
//     first re-appended without the user's, marked `replaces` = its
//     sequence, and then erased. Every node does the same from the same state
//     (the refs and entries are the same at that log position), so the
//     replacement has a deterministic de-duplication id and is appended once,
//     whichever node gets there first; later nodes find the entry gone and skip
//     it. No node has to be the one that took the DeleteUser: a node that
//     crashed, or answered the client before finishing, leaves no work
//     undone as long as another node applies the entry.
//   - Applying a replacement (Events.replaces or Users.replaces = S): on a
//     node that applied S nothing is stored again (the events are there
//     already; counting them twice once the idempotency keys are pruned
//     must not happen): the users' refs move from S to the replacement. A
//     node that never saw S (it was erased before the node got there)
//     applies the events as usual, and each user's attributes unless an
//     entry after S set them (UsersStillDue): the replacement comes later
//     in the log than S did.
//
// The user's refs include the entries that hold the data of users merged
// into it, under their ids (the refs' aliases), and the MergeUsers entry
// that merged them (erased whole). What stays in the log: a MergeUsers
// entry that merged the user into another one, erased only with that
// other one (see docs/cluster.md). The DeleteUser entry holds the user's
// digest, not the id (log_entry.h).
//
// Thread safety: called from the applier's one thread; the log and the
// store may be shared.
#ifndef AISLE_SERVER_LOG_ERASURE_H_
#define AISLE_SERVER_LOG_ERASURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aisle/cluster/v1/log_entry.pb.h"
#include "cluster/event_log.h"
#include "core/types.h"
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

  // For an events or users entry with `replaces` set, applied at
  // `sequence`: true when this node applied the replaced entry (refs
  // moved, `sequence` recorded as applied: nothing else to do); false when
  // it never did (the caller applies the events, or UsersStillDue's
  // users). Errors: the store's.
  absl::StatusOr<bool> ApplyReplacement(const cluster::v1::LogEntry& entry,
                                        uint64_t sequence);

  // For a users entry with `replaces` = S that this node never applied
  // S of: its users whose attributes no entry after S set here (the
  // others' are newer than S's). Errors: the store's.
  absl::StatusOr<std::vector<core::UserAttributes>> UsersStillDue(
      const cluster::v1::LogEntry& entry) const;

 private:
  cluster::EventLog* const log_;
  storage::Store* const store_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_LOG_ERASURE_H_
