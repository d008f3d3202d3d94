// EventLog: the replicated, ordered log that cluster mode stores every
// write in before any node applies it (docs/cluster.md). The interface
// knows nothing of what an entry means: entries are opaque bytes with a
// de-duplication id; server/ encodes and applies them. The implementation
// behind it is a NATS JetStream stream (ConnectJetStream); this folder is
// the only code in Aisle that knows NATS.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<EventLog> log, ConnectJetStream(opts));
//   ASSIGN_OR_RETURN(Appended a, log->Append("e1-...", payload));
//   ASSIGN_OR_RETURN(std::unique_ptr<LogReader> r, log->OpenReader(1));
//   ASSIGN_OR_RETURN(std::optional<LogEntry> e, r->Next(absl::Seconds(1)));
//
// Guarantees (JetStream's, with file storage and R replicas):
//   - Append returns OK only after the stream's leader stored the entry and
//     a quorum of replicas acknowledged it: an acknowledged entry survives
//     the loss of a minority of the NATS servers.
//   - Every entry has a sequence; sequences increase in append order and
//     are the same for every reader. Entries may be missing from the
//     sequence (erased: Erase), never reordered.
//   - An Append whose id equals that of an entry appended within
//     LogOptions::duplicate_window stores nothing and returns that entry's
//     sequence with duplicate = true. Retrying an Append whose outcome is
//     unknown (UNAVAILABLE, DEADLINE_EXCEEDED) with the same id is safe.
//
// Errors: UNAVAILABLE when NATS cannot be reached or has no quorum (the
// entry may or may not have been stored: retry with the same id);
// INVALID_ARGUMENT for an empty id or an entry over the size limit.
//
// Thread safety: EventLog methods may be called concurrently. A LogReader
// is used by one thread at a time.
#ifndef AISLE_CLUSTER_EVENT_LOG_H_
#define AISLE_CLUSTER_EVENT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aisle::cluster {

struct LogOptions {
  // NATS server URLs ("nats://127.0.0.1:4222"); at least one. The client
  // connects to any of them and fails over to the others.
  std::vector<std::string> servers;
  // The stream, created if missing with subjects {subject}. Default: AISLE.
  std::string stream = "AISLE";
  // Default: "aisle.log".
  std::string subject = "aisle.log";
  // Stream replicas when the stream is created; 0 = min(3, servers.size()).
  int replicas = 0;
  // How long JetStream remembers entry ids for de-duplication. Default:
  // 10 minutes (Aisle's own idempotency keys cover longer windows).
  absl::Duration duplicate_window = absl::Minutes(10);
  // How long Append waits for JetStream's acknowledgement before answering
  // UNAVAILABLE. Default: 5 s.
  absl::Duration append_timeout = absl::Seconds(5);
  // Retention: JetStream deletes entries older than this (zero = never).
  // Applied to the stream when it is created and, when set, to an existing
  // stream; nullopt leaves an existing stream's limits as they are.
  // Nodes then join from a snapshot (docs/cluster.md): the log need not
  // hold all history.
  std::optional<absl::Duration> max_age;
  // Shown in NATS's connection list (e.g. the node name). Default: "aisle".
  std::string connection_name = "aisle";
  // Called (from a NATS thread; must not block) when the connection to
  // NATS is lost (false) or re-established (true). Optional.
  std::function<void(bool connected)> on_connection_change;
};

// What Append returns.
struct Appended {
  uint64_t sequence = 0;   // the entry's position in the log
  bool duplicate = false;  // an entry with this id was already stored
};

// An entry as a reader delivers it.
struct LogEntry {
  uint64_t sequence = 0;
  std::string payload;
  // When the stream stored the entry (the leader's clock), for the
  // replication-lag metric.
  absl::Time stored_at;
};

// Delivers the entries of a log in sequence order, each once.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // The next entry, waiting up to `timeout`; nullopt when none arrived in
  // that time. A zero timeout returns only an entry already received
  // (never waits). Errors: UNAVAILABLE when the subscription broke for
  // good (re-open a reader after the last entry delivered).
  virtual absl::StatusOr<std::optional<LogEntry>> Next(
      absl::Duration timeout) = 0;
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  // Appends `payload` with de-duplication id `id` (see the file comment).
  virtual absl::StatusOr<Appended> Append(std::string_view id,
                                          std::string_view payload) = 0;

  // A reader starting at the first entry with sequence >= `from` (1 = the
  // start of the log). Errors: UNAVAILABLE when NATS cannot be reached;
  // OUT_OF_RANGE when the stream has a retention limit (max age, messages
  // or bytes) and its oldest entry is past `from`: entries from `from` on
  // may have been deleted, so reading on would skip them. (Entries erased
  // at the head are indistinguishable then and count as deleted.)
  virtual absl::StatusOr<std::unique_ptr<LogReader>> OpenReader(
      uint64_t from) = 0;

  // The sequence of the newest entry (0 for an empty log). UNAVAILABLE
  // when NATS cannot be reached.
  virtual absl::StatusOr<uint64_t> LastSequence() = 0;

  // The entry at `sequence`; nullopt when the log holds none there (never
  // appended, or erased). UNAVAILABLE when NATS cannot be reached.
  virtual absl::StatusOr<std::optional<LogEntry>> Get(uint64_t sequence) = 0;

  // Removes the entry at `sequence` and overwrites its bytes in the
  // servers' storage, on every replica (JetStream's erase: used to erase
  // a user's data from the log). Readers skip it from then on. OK when it
  // is gone already, so several nodes may erase the same entry.
  // UNAVAILABLE when NATS cannot be reached (retry).
  virtual absl::Status Erase(uint64_t sequence) = 0;

  // Whether the client is connected to a NATS server right now (it may
  // still lack a quorum; Append then answers UNAVAILABLE).
  virtual bool connected() const = 0;

  // A round trip that needs what an append needs (a JetStream quorum for
  // the log's replicas), without touching the log: a publish, acknowledged
  // within `timeout`, to a small stream of its own ("<stream>_PROBE", as
  // many replicas as the log, at most 8 messages kept). UNAVAILABLE when
  // it is not acknowledged in time (no quorum, not connected).
  virtual absl::Status Probe(absl::Duration timeout) = 0;
};

// Connects to NATS and returns a log on the JetStream stream
// options.stream, creating the stream (file storage, options.replicas) if
// it does not exist. When no server answers yet the log is returned all
// the same, reconnecting in the background (connected() is false and
// calls answer UNAVAILABLE meanwhile), so a node can start and serve reads
// while NATS is down. Errors: INVALID_ARGUMENT for bad options.
absl::StatusOr<std::unique_ptr<EventLog>> ConnectJetStream(
    const LogOptions& options);

// Splits "nats://a:4222,nats://b:4222" into URLs. INVALID_ARGUMENT when a
// part is empty or does not start with nats://.
absl::StatusOr<std::vector<std::string>> ParseServerList(std::string_view list);

}  // namespace aisle::cluster

#endif  // AISLE_CLUSTER_EVENT_LOG_H_
