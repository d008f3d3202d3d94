// Store: Aisle's durable state in RocksDB: items, events, idempotency keys,
// user records and model versions, one column family per kind of record.
// This is the only code in Aisle that knows RocksDB.
//
// Column families (key layout in store.cc):
//   items       item_id -> Item
//   events      user_id \0 ts(8B big-endian) seq(8B) -> Event
//   event_ids   event_id -> user_id \0 ts   (idempotency keys)
//   users       user_id -> UserRecord (first/last seen, counts)
//   models      version -> model blob;  "meta:" version -> metadata
//   meta        "active_model", "schema_version", ...
//
// Durability: a method that returns OK has written its batch to the WAL.
// With Durability::kProcess the WAL is written but not fsynced (survives a
// process crash, kill -9); with Durability::kMachine it is fsynced, and
// concurrent writers share one fsync (RocksDB group commit), so it survives
// power loss.
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

namespace aisle::storage {

enum class Durability { kProcess, kMachine };

struct StoreOptions {
  std::string data_dir;  // created if missing
  Durability durability = Durability::kProcess;
  // Idempotency keys older than this (by event timestamp) may be dropped,
  // after which a re-sent event_id is stored again. Default: 30 days.
  int64_t idempotency_retention_ms = 30LL * 24 * 3600 * 1000;
  // Model versions kept; older ones are deleted when a new one is stored
  // (the active version is never deleted). Default: 5.
  int models_to_keep = 5;
  size_t block_cache_bytes = 256 << 20;
  bool read_only = false;  // for `aisle models list` next to a server
};

struct AppendResult {
  // Per input event: true if newly stored, false if its event_id was
  // already stored (a duplicate, not stored again).
  std::vector<bool> stored;
  int accepted = 0;
  int duplicates = 0;
};

struct EraseResult {
  int64_t events_deleted = 0;
  int64_t idempotency_keys_deleted = 0;
  bool profile_deleted = false;
};

struct StoreStats {
  int64_t items = 0;            // estimate
  int64_t events = 0;           // estimate
  int64_t users = 0;            // estimate
  int64_t live_data_bytes = 0;
  int64_t pending_compaction_bytes = 0;
  int64_t memtable_bytes = 0;
};

struct StoredModel {
  core::ModelMetadata metadata;
  int64_t blob_bytes = 0;
};

class Store {
 public:
  // Opens (creating if needed) the store in options.data_dir. Errors:
  // InvalidArgument for a bad path, DataLoss("...: run `aisle repair` or
  // restore from backup") for corruption, FailedPrecondition if another
  // process holds the lock, Unavailable/Internal for I/O errors such as a
  // full disk; the message says what to do.
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const StoreOptions& options);
  ~Store();  // flushes memtables, closes
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Events -------------------------------------------------------------
  // Atomically stores the events not stored before (by event_id), in one
  // write batch. REQUIRES: events validated, event_id non-empty. Two
  // concurrent calls with the same event_id store it once.
  absl::StatusOr<AppendResult> AppendEvents(std::span<const core::Event> events);
  // Calls `fn` for every stored event, in (user, time) order, in batches of
  // up to `batch_size`. Stops and returns the first non-OK status of `fn`.
  absl::Status ScanEvents(
      const std::function<absl::Status(std::span<const core::Event>)>& fn,
      size_t batch_size = 4096) const;
  // A user's events, oldest first, at most `limit` (0 = all), newest kept.
  absl::StatusOr<std::vector<core::Event>> UserEvents(std::string_view user_id,
                                                      size_t limit = 0) const;
  // Drops idempotency keys older than the retention window; returns count.
  absl::StatusOr<int64_t> PruneIdempotencyKeys(int64_t now_ms);

  // --- Items --------------------------------------------------------------
  absl::Status PutItems(std::span<const core::Item> items);
  // Returns how many existed.
  absl::StatusOr<int> DeleteItems(std::span<const std::string> item_ids);
  // NotFound if absent.
  absl::StatusOr<core::Item> GetItem(std::string_view item_id) const;
  absl::Status ScanItems(
      const std::function<absl::Status(std::span<const core::Item>)>& fn,
      size_t batch_size = 4096) const;

  // --- Users --------------------------------------------------------------
  // Removes every record of the user in every column family.
  absl::StatusOr<EraseResult> EraseUser(std::string_view user_id);
  // Test/audit helper: number of keys in any column family that belong to
  // the user (by key prefix or, for event_ids, by value).
  absl::StatusOr<int64_t> CountUserRecords(std::string_view user_id) const;

  // --- Models -------------------------------------------------------------
  // Stores a model version (blob from FactorModel::Serialize) durably
  // (always fsynced) and prunes old versions beyond models_to_keep.
  absl::Status PutModel(const core::ModelMetadata& metadata,
                        std::string_view blob);
  // NotFound if absent.
  absl::StatusOr<std::string> GetModelBlob(std::string_view version) const;
  // Newest first.
  absl::StatusOr<std::vector<StoredModel>> ListModels() const;
  // "" if none.
  absl::StatusOr<std::string> GetActiveModel() const;
  absl::Status SetActiveModel(std::string_view version);

  // --- Operations ---------------------------------------------------------
  // Consistent point-in-time copy into `dir` (must not exist) while serving.
  absl::Status Checkpoint(const std::string& dir) const;
  // Flushes memtables and syncs the WAL.
  absl::Status Flush();
  StoreStats Stats() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Restores a checkpoint made by Checkpoint into `data_dir` (must be empty
// or absent). The server must not be running on data_dir.
absl::Status RestoreCheckpoint(const std::string& checkpoint_dir,
                               const std::string& data_dir);

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_STORE_H_
