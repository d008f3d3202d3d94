// The record types the store reads and writes: results of its write calls,
// the per-user summary and stored model metadata it keeps, and the value of
// an idempotency key. Plain values with no behaviour; their on-disk
// encoding is in storage/codec.h.
#ifndef AISLE_STORAGE_RECORDS_H_
#define AISLE_STORAGE_RECORDS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace aisle::storage {

struct AppendResult {
  // Per input event: true if newly stored, false if its event_id was
  // already stored (a duplicate, not stored again), if it is a conflict,
  // or if a conflict made the batch store nothing.
  std::vector<bool> stored;
  int accepted = 0;
  int duplicates = 0;
  // Indexes of events whose event_id belongs to another user's event
  // (stored, or earlier in the batch), ascending. Never stored.
  std::vector<size_t> conflicts;
};

// What Store::MergeUsers did.
struct MergeResult {
  // The source's events, now the target's (user_id rewritten, event ids,
  // timestamps and everything else unchanged), in key (time) order.
  std::vector<core::Event> moved;
  int64_t idempotency_keys_moved = 0;
  bool profile_merged = false;  // the source had a user record
};

struct EraseResult {
  int64_t events_deleted = 0;
  int64_t idempotency_keys_deleted = 0;
  bool profile_deleted = false;
  // Cluster mode: the log entries that held the user's id, by the log refs
  // this store had (now deleted with the user), ascending.
  std::vector<uint64_t> log_refs;
};

// A log ref (cluster mode, Store::UserLogRefs): an entry of the replicated
// log that holds a user's data.
struct LogRef {
  enum class Kind { kEvents, kAttributes, kMerge };
  uint64_t sequence = 0;
  Kind kind = Kind::kEvents;
  // The ids under which the entry holds the user's data besides the
  // user's own: those of users merged into it (MergeUsers).
  std::vector<std::string> aliases;
};

struct StoreStats {
  int64_t items = 0;   // estimate
  int64_t events = 0;  // estimate
  int64_t users = 0;   // estimate
  int64_t live_data_bytes = 0;
  int64_t pending_compaction_bytes = 0;
  int64_t memtable_bytes = 0;
};

// Per-user summary kept in the users column family, updated in the same
// write batch as the user's events.
struct UserRecord {
  int64_t first_seen_ms = 0;  // earliest event timestamp
  int64_t last_seen_ms = 0;   // latest event timestamp
  std::array<int64_t, core::kNumEventTypes> counts{};  // by EventType value
};

// What an engine snapshot covers (storage/store.h, "Engine snapshots"):
// every event up to event_sequence (the store's arrival numbering) and,
// in cluster mode, every log entry up to log_sequence; `erasures` is the
// store's count of user erasures at that moment, so that a snapshot taken
// before an erasure is never stored after it.
struct SnapshotPosition {
  uint64_t event_sequence = 0;
  uint64_t log_sequence = 0;
  uint64_t erasures = 0;
};

struct StoredSnapshot {
  SnapshotPosition position;  // erasures: 0 (meaningful only when taken)
  int64_t written_at_ms = 0;  // the store's clock
  std::vector<std::string> pieces;
};

struct StoredModel {
  core::ModelMetadata metadata;
  int64_t blob_bytes = 0;
};

// Value of an idempotency key (event_ids column family): whom the event
// belongs to (for erasure and to refuse the id for another user), when it
// happened, and when this server first stored it (for retention).
inline constexpr int64_t kStoredAtUnknown = -1;
struct IdempotencyRecord {
  std::string user_id;
  int64_t timestamp_ms = 0;
  // Unix ms (the store's clock); kStoredAtUnknown in records written
  // before it was kept.
  int64_t stored_at_ms = kStoredAtUnknown;
};

// One counter of the A/B experiment statistics (server/experiment_stats.h):
// events of `type` attributed to recommendations of `scenario` issued to
// `variant`. A delta when added, a total when read.
struct ExperimentCount {
  core::Scenario scenario = core::Scenario::kForYou;
  std::string variant;
  core::EventType type = core::EventType::kUnspecified;
  int64_t count = 0;
};

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_RECORDS_H_
