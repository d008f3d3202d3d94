// Store: Aisle's durable state in RocksDB: items, events, idempotency keys,
// user records and model versions, one column family per kind of record.
// This is the only code in Aisle that knows RocksDB.
//
// Column families (key layout in storage/codec.h):
//   items       item_id -> Item
//   events      user_id \0 ts(8B big-endian) seq(8B big-endian) -> Event
//   event_ids   event_id -> (user_id, ts, stored at)   (idempotency
//               keys; folded in later like the users' records, see
//               AppendEvents)
//   users       user_id -> UserRecord (first/last seen, counts; the
//               events' deltas are folded in later, see GetUser);
//               "\0a" user_id -> the user's attributes (UpsertUsers)
//   models      version -> model blob;  "meta:" version -> metadata
//   meta        "active_model", "previous_active_model", "schema_version",
//               "open_generation", "applied_log_sequence",
//               "xcount:" scenario ":" type ":" variant -> count (decimal)
//   snapshot    the engine snapshot and the event log after it
//               (storage/codec.h)
//   log_refs    user_id \0 log_sequence -> ""  (cluster mode: the log
//               entries that hold the user's id; storage/log_refs.cc)
//   default     unused (RocksDB requires it)
//
// Ids: request rules (lengths, characters, non-empty ids) are the caller's
// (server/validation.h). The store checks only what its key layout and
// records need: a user id must not contain '\0', so that "user_id\0" is a
// key prefix no other user shares; an event needs an event_id (its
// idempotency key) and a known event type (its slot in UserRecord::counts);
// a model version must be non-empty ("" means "no model") and must not
// start with "meta:" (the metadata keys). Event timestamps may be any int64.
//
// Durability: a method that returns OK has written its batch to the WAL.
// With Durability::kProcess the WAL is written but not fsynced (survives a
// process crash, kill -9); with Durability::kMachine it is fsynced, and
// concurrent writers share one fsync (RocksDB group commit), so it survives
// power loss. Erasure, model and active-model writes are always fsynced.
// After a crash the WAL is replayed up to the last intact record (a torn
// tail is dropped, never a reason to refuse to open).
//
// Idempotency: an event_id is remembered, across restarts, for
// idempotency_retention_ms from when this store first stored it (not from
// the event's own timestamp, so re-importing old history within the window
// stores nothing twice); a re-sent event_id within that window is a
// duplicate. PruneIdempotencyKeys forgets older ones. Keys written by
// builds that did not record the storage time are never pruned. An
// event_id belongs to one user: an event reusing a stored id (or one used
// earlier in the same batch) for another user is a conflict, never stored
// and never counted as a duplicate.
//
// Errors: every RocksDB error becomes an absl::Status whose message says
// what to do: another process holds the data dir -> FailedPrecondition
// ("... in use ..."); corruption -> DataLoss; disk full ->
// ResourceExhausted; other I/O errors -> Unavailable. Nothing is deleted on
// error. After a background error (e.g. disk full) writes keep failing with
// that status; each later write first asks RocksDB to resume.
//
// Log position (cluster mode, docs/cluster.md): the store can record which
// entry of the replicated log its contents reflect. AppendEvents,
// PutItems, DeleteItems and EraseUser take an optional `log_sequence`; when
// it is non-zero the same write batch records it as the applied position,
// so the data and the position survive a crash together or not at all,
// and each entry is applied exactly once across restarts.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef AISLE_STORAGE_STORE_H_
#define AISLE_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/types.h"
#include "storage/records.h"  // AppendResult, UserRecord, StoredModel, ...

namespace aisle::storage {

enum class Durability { kProcess, kMachine };

struct StoreOptions {
  std::string data_dir;  // created if missing
  Durability durability = Durability::kProcess;
  // Idempotency keys stored longer ago than this may be dropped (by
  // PruneIdempotencyKeys), after which a re-sent event_id is stored again.
  // Default: 30 days.
  int64_t idempotency_retention_ms = 30LL * 24 * 3600 * 1000;
  // The clock that stamps when a key is stored (Unix ms). Null: the wall
  // clock. Tests set it to move time.
  std::function<int64_t()> now_ms;
  // Model versions kept; older ones are deleted when a new one is stored
  // (the active, the previous active and the new version never are).
  // Must be >= 1. Default: 5.
  int models_to_keep = 5;
  // Block cache shared by all column families. Default: 256 MiB.
  size_t block_cache_bytes = 256 << 20;
  // Opens without the lock (RocksDB OpenForReadOnly), e.g. for `aisle
  // train` or `aisle models list` next to a running server. Default: false.
  bool read_only = false;
};

class Store {
 public:
  // Opens (creating if needed) the store in options.data_dir. Errors:
  // InvalidArgument for a bad path, DataLoss("...: restore from a backup
  // (aisle restore) or move the directory aside") for corruption or a
  // directory holding RocksDB files without a CURRENT file,
  // FailedPrecondition ("... is in use by ...") if another process or
  // another Store in this process has it open for writing, if the directory
  // is non-empty but not an aisle data dir, or if it was written by a newer
  // schema version; ResourceExhausted for a full disk; Unavailable for
  // other I/O errors. The message says what to do. With read_only the
  // directory must exist; read-only opening works while a writer holds the
  // lock and sees what the writer had flushed or written to its WAL at that
  // moment; every write method then returns FailedPrecondition.
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const StoreOptions& options);
  ~Store();  // flushes memtables, closes
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Events -------------------------------------------------------------
  // What AppendEvents does with the other events of a batch that has an
  // event-id conflict (see Idempotency above).
  enum class OnIdConflict {
    kStoreNothing,  // the batch stores nothing (all or nothing requests)
    kSkipConflicts  // the other events are stored (bulk loads)
  };
  // Atomically stores the events not stored before (by event_id), in one
  // write batch: all or nothing. Their users' record deltas and their
  // idempotency keys are kept in memory from then on and folded into
  // their column families later (see GetUser): derived from the events,
  // they are durable with them (an open rebuilds them). Conflicts are
  // listed in AppendResult::conflicts, never stored; `on_conflict` says
  // whether the rest is. REQUIRES: events validated; InvalidArgument
  // (nothing stored) for an empty event_id, a user_id containing '\0', or
  // an unknown event type. Two concurrent calls with the same event_id
  // store it once; calls with disjoint event_ids never wait for each other
  // (so kMachine writers share fsyncs). A non-zero log_sequence is
  // recorded in the same batch (see the file comment), also when every
  // event is a duplicate or a conflict refused the batch, with the log
  // refs of the entry (EventGroup::log_ref).
  absl::StatusOr<AppendResult> AppendEvents(
      std::span<const core::Event> events, uint64_t log_sequence = 0,
      OnIdConflict on_conflict = OnIdConflict::kStoreNothing);
  // Several AppendEvents calls in one write batch (cluster mode applies
  // consecutive log entries together): group g is treated exactly as
  // AppendEvents(groups[g].events, 0, groups[g].on_conflict) called after
  // groups 0..g-1 (an id stored by an earlier group is a duplicate or a
  // conflict), and one non-zero log_sequence is recorded with them all.
  // All or nothing across the groups. InvalidArgument (nothing stored) as
  // for AppendEvents, naming the group.
  struct EventGroup {
    std::span<const core::Event> events;
    OnIdConflict on_conflict = OnIdConflict::kStoreNothing;
    // Cluster mode: the log entry these events came from. Non-zero: the
    // same batch records a log ref (user, log_ref) for every user of the
    // group, stored events or not (the entry holds their ids).
    uint64_t log_ref = 0;
  };
  absl::StatusOr<std::vector<AppendResult>> AppendEventGroups(
      std::span<const EventGroup> groups, uint64_t log_sequence);
  // Calls `fn` for every stored event, in (user, time) order, in batches of
  // up to `batch_size`. Stops and returns the first non-OK status of `fn`.
  absl::Status ScanEvents(
      const std::function<absl::Status(std::span<const core::Event>)>& fn,
      size_t batch_size = 4096) const;
  // A user's events, oldest first, at most `limit` (0 = all), newest kept.
  absl::StatusOr<std::vector<core::Event>> UserEvents(std::string_view user_id,
                                                      size_t limit = 0) const;
  // The background deletions below scan a whole column family and write
  // small delete batches (kBackgroundDeleteBatch, store_impl.h). `pace`,
  // when set, is called after every such batch's worth of keys read (and
  // after each write): it may sleep to bound the work's share of a core,
  // and returning false stops the run early (what was deleted so far
  // stays deleted and is counted).
  using Pace = std::function<bool()>;
  // Drops idempotency keys stored before now_ms - retention; returns how
  // many.
  absl::StatusOr<int64_t> PruneIdempotencyKeys(int64_t now_ms,
                                               const Pace& pace = nullptr);
  // Event retention: deletes every stored event with timestamp_ms <
  // cutoff_ms, in batches; returns how many. Their bytes leave the SST
  // files with RocksDB's next compactions of those files (no forced
  // rewrite of the whole column family every run; PurgeDeleted forces
  // it). Idempotency keys and user records (counts) follow their own
  // rules. Events whose user-record deltas are not folded yet (GetUser)
  // are left for the next run.
  absl::StatusOr<int64_t> DeleteEventsBefore(int64_t cutoff_ms,
                                             const Pace& pace = nullptr);

  // --- Items --------------------------------------------------------------
  // log_sequence: as for AppendEvents.
  absl::Status PutItems(std::span<const core::Item> items,
                        uint64_t log_sequence = 0);
  // Returns how many existed. log_sequence: as for AppendEvents.
  absl::StatusOr<int> DeleteItems(std::span<const std::string> item_ids,
                                  uint64_t log_sequence = 0);
  // NotFound if absent.
  absl::StatusOr<core::Item> GetItem(std::string_view item_id) const;
  absl::Status ScanItems(
      const std::function<absl::Status(std::span<const core::Item>)>& fn,
      size_t batch_size = 4096) const;

  // --- Users --------------------------------------------------------------
  // Each takes a user id; InvalidArgument if it contains '\0'.
  // NotFound if the user has no events. The record counts every event
  // appended so far: the stored record plus the deltas of the events not
  // folded into it yet. Appends keep those in memory and fold them in
  // later, in one sorted write (when 131,072 users have deltas, before a
  // snapshot or retention, at Flush and at close; user_deltas.cc); an open
  // rebuilds them from the event log.
  absl::StatusOr<UserRecord> GetUser(std::string_view user_id) const;
  // Removes every record of the user (events, idempotency keys, record,
  // attributes, log refs: EraseResult::log_refs lists them) in every
  // column family, in one fsynced
  // batch. Appends wait while it runs: every event whose append returned
  // before the call is erased; events appended afterwards are kept. Then
  // purges (PurgeDeleted): when it returns OK, no file of the data dir
  // holds the user's records (a checkpoint taken afterwards neither).
  // log_sequence: as for AppendEvents.
  absl::StatusOr<EraseResult> EraseUser(std::string_view user_id,
                                        uint64_t log_sequence = 0);
  // Moves every event of `from` to `to`, in one fsynced batch: each event
  // keeps its event id, timestamp and sequence (its key moves to `to`'s
  // prefix, the event log follows it), its idempotency key now names
  // `to` (a retry under either id is a duplicate or, for `from`, an id
  // conflict: never stored twice), `from`'s user record is added to
  // `to`'s. Then `from` is erased as EraseUser does (no record of it
  // left, purged; the stored engine snapshot dropped). Idempotent: with
  // nothing stored for `from` it changes nothing and moves nothing.
  // Appends wait while it runs (as for EraseUser). REQUIRES from != to.
  // Errors: InvalidArgument for a '\0' in an id, FailedPrecondition when
  // read-only, storage errors; nothing is changed then.
  // log_sequence: as for AppendEvents.
  absl::StatusOr<MergeResult> MergeUsers(std::string_view from,
                                         std::string_view to,
                                         uint64_t log_sequence = 0);
  // A user's own attributes (UpsertUsers): each user's record replaces
  // the stored one; one with no attributes deletes it. One write batch,
  // synced like events (Durability). InvalidArgument (nothing written) if
  // a user id contains '\0'. log_sequence: as for AppendEvents; non-zero
  // also records an attributes log ref for each user (Log refs, below).
  absl::Status PutUsers(std::span<const core::UserAttributes> users,
                        uint64_t log_sequence = 0);
  // NotFound if the user has no stored attributes.
  absl::StatusOr<core::UserAttributes> GetUserAttributes(
      std::string_view user_id) const;
  // Every stored user's attributes (for start-up), in batches of up to
  // batch_size; stops at the first non-OK status of `fn` and returns it;
  // DataLoss naming the user for a record that does not decode.
  absl::Status ScanUserAttributes(
      const std::function<absl::Status(std::span<const core::UserAttributes>)>&
          fn,
      size_t batch_size = 4096) const;
  // The first stored user (one with a user record, folded or not,
  // attributes or, in cluster mode, only log refs) for whom
  // `match(user_id)` is true; nullopt when there is none. Reads every
  // user's key in the worst case (the unfolded records in memory, records
  // and attributes on one snapshot, then one seek per user with log
  // refs): for the rare lookup that has no id to go by (cluster mode's
  // DeleteUser entry names the user by digest). Errors: storage errors.
  absl::StatusOr<std::optional<std::string>> FindUser(
      const std::function<bool(std::string_view user_id)>& match) const;
  // Test/audit helper: number of keys in any column family that belong to
  // the user (by key prefix or, for event_ids, by value); an unfolded
  // user record (GetUser) counts as the key it becomes.
  absl::StatusOr<int64_t> CountUserRecords(std::string_view user_id) const;

  // --- Models -------------------------------------------------------------
  // Stores a model version (blob from FactorModel::Serialize) durably
  // (always fsynced) and prunes old versions beyond models_to_keep, oldest
  // first by trained_at; the version just stored, the active and the
  // previous active version are never pruned.
  // InvalidArgument for an empty version or one starting with "meta:";
  // storing an existing version replaces it.
  absl::Status PutModel(const core::ModelMetadata& metadata,
                        std::string_view blob);
  // NotFound if absent.
  absl::StatusOr<std::string> GetModelBlob(std::string_view version) const;
  // Newest first.
  absl::StatusOr<std::vector<StoredModel>> ListModels() const;
  // "" if none.
  absl::StatusOr<std::string> GetActiveModel() const;
  // Makes `version` active (fsynced) and remembers the one it replaces as
  // the previous active version, for rollback. NotFound if not stored.
  absl::Status SetActiveModel(std::string_view version);
  // The active version before the last change, "" if none.
  absl::StatusOr<std::string> GetPreviousActiveModel() const;

  // --- Replicated log position (cluster mode) -----------------------------
  // The last log entry recorded as applied; 0 when none.
  absl::StatusOr<uint64_t> AppliedLogSequence() const;
  // Records `log_sequence` as applied, for an entry that writes nothing
  // else (e.g. one this node skips). Fsynced like model changes.
  absl::Status SetAppliedLogSequence(uint64_t log_sequence);

  // --- Log refs (cluster mode, storage/log_refs.cc) -----------------------
  // Which log entries hold a user's id (EventGroup::log_ref records them
  // for events, PutUsers' log_sequence for attributes), so that erasing
  // the user can erase those entries from the log too (docs/cluster.md,
  // "Erasure in the stream"). MergeUsers moves the source's refs to the
  // target (recording the source's id as an alias: the entries hold it),
  // and records a merge ref for the target at its own log_sequence;
  // EraseUser deletes them.
  //
  // The user's refs, ascending. InvalidArgument for a '\0' in the id.
  absl::StatusOr<std::vector<uint64_t>> LogRefs(std::string_view user_id) const;
  // Whether the user has a ref at `log_sequence` (this store applied that
  // entry and the user was not erased since).
  absl::StatusOr<bool> HasLogRef(std::string_view user_id,
                                 uint64_t log_sequence) const;
  // An entry `to` that replaces entry `from` (the same events without an
  // erased user's) on a store that applied `from`: each of `users` with a
  // ref at `from` gets it at `to` instead, and `log_sequence` is recorded,
  // in one batch. Returns how many refs moved.
  absl::StatusOr<int> MoveLogRefs(std::span<const std::string> users,
                                  uint64_t from, uint64_t to,
                                  uint64_t log_sequence);
  // The user's refs with their kinds and aliases, ascending.
  // InvalidArgument for a '\0' in the id.
  absl::StatusOr<std::vector<LogRef>> UserLogRefs(
      std::string_view user_id) const;
  // Whether an attributes entry (PutUsers with a log_sequence) after
  // `log_sequence` set the user's attributes here: a replacement of an
  // older attributes entry must then not set them again.
  absl::StatusOr<bool> HasAttributesRefAfter(std::string_view user_id,
                                             uint64_t log_sequence) const;

  // --- Engine snapshots (storage/snapshots.cc) ----------------------------
  // The store keeps one snapshot of the engine's derived state (opaque
  // pieces, core/engine.h) with the position it covers, and an
  // arrival-ordered log of the events appended since, so that a restart
  // loads the snapshot and replays only ScanEventsAfter(position).
  //
  // The position a snapshot taken now would cover. REQUIRES: the caller
  // has no AppendEvents or EraseUser in flight (it pauses its writers), so
  // that every event up to it has been applied where the snapshot is
  // taken, and none after it.
  absl::StatusOr<SnapshotPosition> SnapshotPositionNow() const;
  // Replaces the stored snapshot with `pieces` covering `position`
  // (atomically: a reader sees the old one or the new one), fsynced, and
  // drops the event log up to position.event_sequence. Aborted (nothing
  // changes) if a user was erased since `position` was taken: the pieces
  // may hold that user; take a new snapshot.
  absl::Status PutSnapshot(const SnapshotPosition& position,
                           std::span<const std::string> pieces);
  // The stored snapshot; nullopt if none. DataLoss if its pieces are
  // missing (the caller replays every event instead).
  absl::StatusOr<std::optional<StoredSnapshot>> GetSnapshot() const;
  // Deletes the stored snapshot (the event log stays). Fsynced.
  absl::Status DropSnapshot();
  // Calls `fn` with the stored events appended after `event_sequence`, in
  // arrival order, in batches of up to batch_size; events deleted since
  // (retention, erasure) are skipped. Stops at the first non-OK status.
  absl::Status ScanEventsAfter(
      uint64_t event_sequence,
      const std::function<absl::Status(std::span<const core::Event>)>& fn,
      size_t batch_size = 4096) const;
  // Erasure (EraseUser) deletes the stored snapshot together with the
  // user's records and purges its bytes: an older snapshot never brings an
  // erased user back, and PutSnapshot refuses one taken before the
  // erasure.

  // --- Experiment counters (server/experiment_stats.h) -------------------
  // Adds each delta to its counter (created at 0), in one write batch,
  // fsynced like events (Durability). Concurrent calls are serialised, so
  // no increment is lost. InvalidArgument (nothing written) for an empty
  // variant or one containing '\0'.
  absl::Status AddExperimentCounts(std::span<const ExperimentCount> deltas);
  // Every counter, ordered by scenario, type, variant.
  absl::StatusOr<std::vector<ExperimentCount>> ExperimentCounts() const;

  // --- Operations ---------------------------------------------------------
  // Consistent point-in-time copy into `dir` (must not exist) while serving;
  // files are hard-linked when on the same file system.
  absl::Status Checkpoint(const std::string& dir) const;
  // Reads every block of every table file and checks its checksum (RocksDB
  // checks a block only when it is read, so damage deep in a file would
  // otherwise show up at some later read). DataLoss naming the file on a
  // mismatch. Reads the whole store: for restores, not for serving.
  absl::Status VerifyChecksums() const;
  // Folds the user records (GetUser), flushes memtables and syncs the WAL.
  absl::Status Flush();
  // A delete in RocksDB only hides a record: its bytes stay in the
  // write-ahead log until the memtable is flushed, and in SST files until
  // a compaction drops them. This flushes every column family (so RocksDB
  // deletes the WAL files that held deleted records) and compacts the
  // events, users, idempotency-key, model and snapshot column families to their
  // last level (so deleted values and their tombstones leave the SST files). It
  // rewrites those column families; EraseUser compacts only the user's
  // key ranges.
  absl::Status PurgeDeleted();
  StoreStats Stats() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Restores a checkpoint made by Checkpoint into `data_dir` (must be empty
// or absent): copies the files (hard-linking the immutable ones) into a
// staging directory beside data_dir, verifies it opens and that every
// block's checksum matches (DataLoss otherwise, and nothing is left
// behind), then renames it into place. The server must not be running on
// data_dir. The checkpoint is left as it was.
absl::Status RestoreCheckpoint(const std::string& checkpoint_dir,
                               const std::string& data_dir);

// Makes the checkpoint `checkpoint_dir` (made by Checkpoint; consumed) the
// store of `data_dir`, in place: for a data dir that is a mount point and
// cannot be renamed (a cluster node joining from a snapshot). The
// checkpoint must be a directory inside data_dir, and data_dir must hold
// nothing else but `keep` (file names left alone). Its files are moved up
// with CURRENT last, so an interruption never leaves a store that opens;
// then the store is opened and every block's checksum verified. DataLoss
// when it does not open or a checksum does not match, and the moved files
// are removed again; FailedPrecondition when data_dir holds other files.
absl::Status AdoptCheckpoint(const std::string& checkpoint_dir,
                             const std::string& data_dir,
                             const std::vector<std::string>& keep);

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_STORE_H_
