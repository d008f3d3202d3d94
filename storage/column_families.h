// RocksDB set-up of an aisle data dir: the database options and the list of
// column families with their options (compression, bloom filters, write
// buffers, the users merge operator). What each column family holds is
// described in storage/store.h, its keys and values in storage/codec.h.
// Private to storage/ (not part of the API).
#ifndef AISLE_STORAGE_COLUMN_FAMILIES_H_
#define AISLE_STORAGE_COLUMN_FAMILIES_H_

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"  // ColumnFamilyDescriptor
#include "rocksdb/options.h"

namespace aisle::storage {

// Aisle's column families, in the order they are opened: DB::Open's
// handles[i] belongs to the column family with index i.
enum ColumnFamilyIndex : size_t {
  kDefaultCf = 0,  // unused (RocksDB requires it)
  kItemsCf,
  kEventsCf,
  kEventIdsCf,
  kUsersCf,
  kModelsCf,
  kMetaCf,
  kSnapshotCf,  // engine snapshots and the event log after them
  kLogRefsCf,   // cluster mode: which log entries hold a user's id
  kNumColumnFamilies,
};
inline constexpr std::array<const char*, kNumColumnFamilies>
    kColumnFamilyNames = {"default", "items", "events",   "event_ids", "users",
                          "models",  "meta",  "snapshot", "log_refs"};

// Database-wide options: crash recovery up to the last intact WAL record,
// paranoid checks, bounded WAL and memtable memory. Creates a missing store
// and column families unless read_only.
rocksdb::DBOptions MakeDbOptions(bool read_only);

// What to pass to DB::Open for `dir`: Aisle's column families in
// ColumnFamilyIndex order, their blocks cached in `cache`, then any other
// column family the dir holds (a newer release's: RocksDB refuses to open a
// store without all of them, and opening lets the schema version check
// explain the problem). FailedPrecondition if read_only and one of Aisle's
// is missing; the ToStatus error if the dir's list cannot be read.
absl::StatusOr<std::vector<rocksdb::ColumnFamilyDescriptor>>
ColumnFamiliesToOpen(const rocksdb::DBOptions& db_options,
                     const std::string& dir, bool read_only,
                     const std::shared_ptr<rocksdb::Cache>& cache);

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_COLUMN_FAMILIES_H_
