// Store::Impl: the state behind a Store (the open RocksDB, its column
// families, the locks that order writers) and the helpers that the Store
// methods, spread over this folder's .cc files, share. Private to storage/:
// NOT part of the API; include storage/store.h instead.
//
// Where the methods live: store.cc (open, close, writes, flush, stats),
// events.cc, items.cc, users.cc, user_deltas.cc, model_versions.cc,
// checkpoint.cc,
// id_claims.cc (idempotency keys), data_dir.cc (format markers),
// experiment_counts.cc.
#ifndef AISLE_STORAGE_STORE_IMPL_H_
#define AISLE_STORAGE_STORE_IMPL_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/types.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/write_batch.h"
#include "storage/codec.h"
#include "storage/data_dir.h"
#include "storage/id_claims.h"
#include "storage/store.h"

namespace aisle::storage {

inline std::string_view ToView(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}
inline rocksdb::Slice ToSlice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

// Keys read per step of the background deletions (idempotency-key
// pruning, event retention): each step writes its deletions as one batch
// and then calls the caller's Store::Pace. Small steps keep each write
// short (a Feedback write in the same RocksDB write group waits for it)
// and let the pace spread the work out.
inline constexpr size_t kBackgroundDeleteBatch = 256;

// Event sequence numbers are (open generation << 40) | counter: unique
// across restarts without scanning the events at open, and increasing, so
// events with equal timestamps keep arrival order.
inline constexpr int kSequenceCounterBits = 40;
inline constexpr uint64_t kMaxOpenGeneration =
    (uint64_t{1} << (64 - kSequenceCounterBits)) - 1;

// The store's key-layout guard for user ids: "user_id\0" must be a prefix
// no other user's keys share. InvalidArgument if `user_id` contains '\0'.
// Request rules (length, other characters) belong to the caller.
absl::Status CheckUserIdKey(std::string_view user_id);

// Order of ForEachInPrefix.
enum class ScanOrder { kForward, kBackward };

struct Store::Impl {
  StoreOptions options;
  std::shared_ptr<rocksdb::Cache> cache;
  // This process's claim on the data dir while it is open for writing
  // (null when read-only); released after ~Impl has closed the database.
  std::unique_ptr<WritableDirClaim> dir_claim;
  rocksdb::DB* db = nullptr;  // owned; closed in the destructor
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // owned; every CF
  rocksdb::ColumnFamilyHandle* items = nullptr;
  rocksdb::ColumnFamilyHandle* events = nullptr;
  rocksdb::ColumnFamilyHandle* event_ids = nullptr;
  rocksdb::ColumnFamilyHandle* users = nullptr;
  rocksdb::ColumnFamilyHandle* models = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  // Null only when opened read-only on a store from before snapshots.
  rocksdb::ColumnFamilyHandle* snapshot = nullptr;
  // Null only when opened read-only on a store from before log refs.
  rocksdb::ColumnFamilyHandle* log_refs = nullptr;

  std::atomic<uint64_t> next_sequence{0};
  uint64_t sequence_limit = 0;  // first sequence of the next generation

  EventIdClaims claims;
  // Appends hold it shared, EraseUser exclusively: an erase sees every
  // event whose append has returned, and no append lands in the middle.
  absl::Mutex erase_mu;
  // User erasures since open, counted under erase_mu (exclusive): a
  // snapshot taken at another count may hold an erased user.
  std::atomic<uint64_t> erasures{0};
  // Serialises PutSnapshot and DropSnapshot (one snapshot generation at a
  // time).
  std::mutex snapshot_mu;

  // User records and idempotency keys not yet folded into the users and
  // event_ids column families (user_deltas.cc). Lock order: snapshot_mu,
  // fold_mu, erase_mu, deltas_mu. A fold holds fold_mu exclusively from
  // taking the deltas to having written them; whoever reads a user record
  // (the column family plus the deltas) or changes a user's records holds
  // it shared. Appends do not take fold_mu: the keys a fold is writing
  // stay visible to them in folding_ids until written.
  mutable absl::Mutex fold_mu;
  mutable absl::Mutex deltas_mu ABSL_ACQUIRED_AFTER(fold_mu);
  // User id -> the record delta of its events after folded_through.
  absl::flat_hash_map<std::string, UserRecord> user_deltas
      ABSL_GUARDED_BY(deltas_mu);
  // Event id -> idempotency key, of the events stored after
  // folded_through; and those a running fold is writing (null if none).
  using IdMap = absl::flat_hash_map<std::string, IdempotencyRecord>;
  IdMap pending_ids ABSL_GUARDED_BY(deltas_mu);
  std::shared_ptr<const IdMap> folding_ids ABSL_GUARDED_BY(deltas_mu);
  // Events with arrival sequence <= this are in the stored records.
  uint64_t folded_through ABSL_GUARDED_BY(fold_mu) = 0;
  // The background fold (writable opens): runs when user_deltas reaches
  // kFoldUsers users or pending_ids kFoldIds keys, until stop_folder.
  std::thread folder;
  bool stop_folder ABSL_GUARDED_BY(deltas_mu) = false;
  // Serialises model writes, pruning and active-model changes, so a
  // version cannot be pruned while it is being made active.
  std::mutex models_mu;
  // Serialises the read-modify-write of experiment counters.
  std::mutex counts_mu;
  // Set when a write failed; the next write first asks RocksDB to resume
  // from a background error (e.g. a full disk that has been cleared).
  std::atomic<bool> write_failed{false};
  // What that write's error said: a later write that cannot resume yet
  // names it (the failed write may have been a background fold's, which
  // no client saw).
  absl::Mutex write_error_mu;
  std::string write_error ABSL_GUARDED_BY(write_error_mu);

  ~Impl();
  // Flushes (unless read-only) and closes the database; idempotent.
  void Close();

  // --- store.cc -----------------------------------------------------------
  // ToStatus for this store's data dir.
  absl::Status Error(const rocksdb::Status& s, std::string_view what) const;
  // FailedPrecondition if opened read-only.
  absl::Status CheckWritable() const;
  // Writes `batch` (fsynced if `sync`), resuming first after a failed write.
  absl::Status Write(rocksdb::WriteBatch* batch, bool sync,
                     std::string_view what);
  // The store's clock (StoreOptions::now_ms, else the wall clock), Unix ms.
  int64_t NowMs() const;
  // Whether event, item and idempotency-key writes are fsynced.
  bool SyncEvents() const { return options.durability == Durability::kMachine; }
  // Adds "this batch applies log entry `log_sequence`" to `batch`, unless
  // log_sequence is 0 (not cluster mode).
  void RecordLogSequence(rocksdb::WriteBatch* batch,
                         uint64_t log_sequence) const;
  // A meta value; nullopt if absent.
  absl::StatusOr<std::optional<std::string>> GetMeta(
      std::string_view key) const;

  // --- data_dir.cc --------------------------------------------------------
  // Refuses a newer schema version; when writable, also writes this
  // version and the next open generation, and starts event sequences there.
  absl::Status CheckAndWriteMarkers();
  // An integer meta value, 0 if absent; DataLoss if it is not an integer.
  absl::StatusOr<int64_t> GetMetaInt(std::string_view key) const;

  // --- events.cc ----------------------------------------------------------
  // The first of `n` consecutive event sequence numbers.
  absl::StatusOr<uint64_t> AllocateSequences(uint64_t n);
  // The write batch of AppendEventGroups while it is built.
  struct EventBatchBuilder;

  // --- user_deltas.cc -----------------------------------------------------
  // At open: the deltas and keys of the events the last writer did not
  // fold (from the event log; their keys stored at now), then, if
  // writable, a fold and the background folder.
  absl::Status LoadUnfolded(const Store& store);
  // Adds the records and idempotency keys (stored at stored_at_ms) of an
  // append's events once its batch is written. REQUIRES: erase_mu held
  // (shared), so that a fold sees every append that has written.
  void AddUnfolded(std::span<const core::Event* const> events,
                   int64_t stored_at_ms);
  // Merges every delta into the users column family and writes every
  // pending idempotency key, with the position they cover, in one write
  // (all kept on error). Takes fold_mu, erase_mu.
  absl::Status FoldUnfolded();
  // Stops the background folder and folds what is left (Close).
  void StopFolder();
  // `user_id`'s unfolded delta, if any. REQUIRES: fold_mu held (shared
  // will do), so that no fold moves it into the column family meanwhile;
  // so do the three below.
  std::optional<UserRecord> UserDelta(std::string_view user_id) const;
  // A user with a delta for whom match(user_id) is true, if any.
  std::optional<std::string> FindUserDelta(
      const std::function<bool(std::string_view user_id)>& match) const;
  // Drops `user_id`'s delta (erased with its events).
  void EraseUserDelta(std::string_view user_id);
  // Adds `from`'s delta to `to`'s (merged users).
  void MoveUserDelta(std::string_view from, std::string_view to);

  // --- pending_ids.cc -----------------------------------------------------
  // The unfolded idempotency keys (pending_ids, folding_ids). Each takes
  // deltas_mu.
  // The owner of each of `ids` that has an unfolded key (parallel).
  std::vector<std::optional<std::string>> PendingIdOwners(
      std::span<const std::string_view> ids) const;
  // For an erasure or a merge of `user_id`, with its events' `ids`
  // (REQUIRES: fold_mu held, shared will do, so that no fold writes these
  // keys meanwhile): how many have an unfolded key owned by the user; and
  // those keys handed to `to`, or dropped.
  int64_t CountPendingIds(std::string_view user_id,
                          std::span<const std::string> ids) const;
  void MovePendingIds(std::string_view from, std::string_view to,
                      std::span<const std::string> ids);
  void DropPendingIds(std::string_view user_id,
                      std::span<const std::string> ids);
  // Unfolded keys owned by `user_id` (the erasure audit; a full pass).
  int64_t CountPendingIdsOf(std::string_view user_id) const;

  // --- id_claims.cc -------------------------------------------------------
  // For events[i], i in `candidates`: the user whose idempotency key the
  // event_id already is, nullopt if none (parallel to `candidates`).
  struct IdLookup {
    std::vector<std::optional<std::string>> stored_owner;
  };
  absl::StatusOr<IdLookup> LookUpEventIds(
      std::span<const core::Event> events,
      std::span<const size_t> candidates) const;
  // Adds to `batch` the deletion of those of `ids`' idempotency keys that
  // belong to `user_id` (a key re-used by someone else after retention is
  // theirs); returns how many.
  absl::StatusOr<int64_t> DeleteIdempotencyKeys(
      std::string_view user_id, const std::vector<std::string>& ids,
      rocksdb::WriteBatch* batch) const;

  // --- purge.cc -----------------------------------------------------------
  // Keys [begin, end] of a column family; "" = from the first / to the last.
  struct PurgeRange {
    rocksdb::ColumnFamilyHandle* cf;
    std::string begin;
    std::string end;
  };
  // Flushes every column family, then compacts `ranges` down to the last
  // level, so that deleted records leave the WAL and the SST files.
  absl::Status Purge(std::span<const PurgeRange> ranges);
  // The background deletions (idempotency-key pruning, event retention):
  // reads every key of `cf` on one snapshot and deletes those for which
  // expired(key, value) says true, kBackgroundDeleteBatch keys read per
  // step: each step's deletions are one write, then `pace` (if set) is
  // called, and false from it ends the run. Returns how many were deleted
  // (those before an early end included), or the first error of
  // `expired`, the scan (`scan_what`) or a write (`write_what`).
  absl::StatusOr<int64_t> DeleteExpired(
      rocksdb::ColumnFamilyHandle* cf, std::string_view scan_what,
      std::string_view write_what,
      const std::function<absl::StatusOr<bool>(
          std::string_view key, std::string_view value)>& expired,
      const Store::Pace& pace);
  // Purge of what an erased user leaves behind: their events, their user
  // record, the (dropped) snapshot and the idempotency keys `event_ids`.
  absl::Status PurgeUser(std::string_view user_id,
                         const std::vector<std::string>& event_ids);

  // --- log_refs.cc --------------------------------------------------------
  // Adds to `batch` the move of every log ref of `from` to `to` (`to`
  // empty: their deletion) and returns their sequences, ascending.
  absl::StatusOr<std::vector<uint64_t>> MoveUserLogRefs(
      std::string_view from, std::string_view to,
      rocksdb::WriteBatch* batch) const;

  // --- model_versions.cc --------------------------------------------------
  // Stored models with their metadata, newest first (by trained_at, then
  // version).
  absl::StatusOr<std::vector<StoredModel>> ListModels() const;

  // --- snapshots.cc -------------------------------------------------------
  // At a writable open: drops the stored snapshot if a writer that does not
  // keep the event log (an older aisle) opened the store since it was
  // written, then records this open's generation.
  absl::Status CheckSnapshotGeneration();
  // Adds to `batch` the deletion of the stored snapshot (manifest and
  // pieces; the event log stays).
  void DropSnapshotInBatch(rocksdb::WriteBatch* batch) const;
  // The stored snapshot's manifest; nullopt if none.
  absl::StatusOr<std::optional<SnapshotManifest>> ReadSnapshotManifest() const;

  // --- Scans --------------------------------------------------------------
  // Read options for reads of many keys (scans, audits) on `snapshot`
  // (null: the current state): they do not fill the block cache, so a scan
  // does not evict the serving working set, and read ahead.
  static rocksdb::ReadOptions BulkReadOptions(
      const rocksdb::Snapshot* snapshot);

  // Calls fn(key, value) -> absl::Status for each key of `cf` that starts
  // with `prefix` ("" = every key), in `order`, at most `max_keys` of them
  // (0 = all), reading with `read` (plus the prefix bounds). Returns the
  // first non-OK status of `fn`, or Error(iterator status, what).
  template <typename Fn>
  absl::Status ForEachInPrefix(rocksdb::ColumnFamilyHandle* cf,
                               std::string_view prefix,
                               const rocksdb::ReadOptions& read,
                               std::string_view what, Fn&& fn,
                               ScanOrder order = ScanOrder::kForward,
                               size_t max_keys = 0) const;

  // Decodes every value of `cf` on one snapshot with
  // decode(key, value) -> absl::StatusOr<T> and hands them to `fn` in
  // batches of up to batch_size (at least 1). Stops at the first non-OK
  // status of `decode` or `fn` and returns it.
  template <typename T, typename Decode>
  absl::Status ScanInBatches(
      rocksdb::ColumnFamilyHandle* cf, std::string_view what,
      const Decode& decode,
      const std::function<absl::Status(std::span<const T>)>& fn,
      size_t batch_size) const;
};

template <typename Fn>
absl::Status Store::Impl::ForEachInPrefix(rocksdb::ColumnFamilyHandle* cf,
                                          std::string_view prefix,
                                          const rocksdb::ReadOptions& read,
                                          std::string_view what, Fn&& fn,
                                          ScanOrder order,
                                          size_t max_keys) const {
  rocksdb::ReadOptions ro = read;
  const std::string upper = PrefixSuccessor(prefix);
  const rocksdb::Slice lower_slice = ToSlice(prefix);
  const rocksdb::Slice upper_slice(upper);
  if (!prefix.empty()) {
    ro.iterate_lower_bound = &lower_slice;
    if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  const bool forward = order == ScanOrder::kForward;
  size_t visited = 0;
  for (forward ? it->SeekToFirst() : it->SeekToLast();
       it->Valid() && (max_keys == 0 || visited < max_keys);
       forward ? it->Next() : it->Prev()) {
    ++visited;
    if (absl::Status s = fn(ToView(it->key()), ToView(it->value())); !s.ok()) {
      return s;
    }
  }
  if (!it->status().ok()) return Error(it->status(), what);
  return absl::OkStatus();
}

template <typename T, typename Decode>
absl::Status Store::Impl::ScanInBatches(
    rocksdb::ColumnFamilyHandle* cf, std::string_view what,
    const Decode& decode,
    const std::function<absl::Status(std::span<const T>)>& fn,
    size_t batch_size) const {
  batch_size = std::max<size_t>(batch_size, 1);
  rocksdb::ManagedSnapshot snapshot(db);
  std::vector<T> batch;
  batch.reserve(std::min<size_t>(batch_size, 4096));
  absl::Status s = ForEachInPrefix(
      cf, "", BulkReadOptions(snapshot.snapshot()), what,
      [&](std::string_view key, std::string_view value) -> absl::Status {
        absl::StatusOr<T> record = decode(key, value);
        if (!record.ok()) return record.status();
        batch.push_back(*std::move(record));
        if (batch.size() < batch_size) return absl::OkStatus();
        absl::Status delivered = fn(batch);
        batch.clear();
        return delivered;
      });
  if (!s.ok()) return s;
  if (!batch.empty()) return fn(batch);
  return absl::OkStatus();
}

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_STORE_IMPL_H_
