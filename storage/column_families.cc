// Database and column family options, the users merge operator, and the
// list of column families to open.
#include "storage/column_families.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/slice.h"
#include "rocksdb/table.h"
#include "storage/codec.h"
#include "storage/rocksdb_status.h"

namespace aisle::storage {
namespace {

// Folds the UserRecord deltas that AppendEvents merges into the users
// column family (CombineUserRecords), so appends never read the record.
class UserRecordMergeOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/,
             const rocksdb::Slice* existing_value, const rocksdb::Slice& value,
             std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    absl::StatusOr<UserRecord> delta =
        DecodeUserRecord(std::string_view(value.data(), value.size()));
    if (!delta.ok()) return false;
    if (existing_value == nullptr) {
      *new_value = EncodeUserRecord(*delta);
      return true;
    }
    absl::StatusOr<UserRecord> existing = DecodeUserRecord(
        std::string_view(existing_value->data(), existing_value->size()));
    if (!existing.ok()) return false;
    *new_value = EncodeUserRecord(CombineUserRecords(*existing, *delta));
    return true;
  }
  // Stored in the OPTIONS file: renaming it would break existing dirs.
  const char* Name() const override { return "AisleUserRecordMerge"; }
};

rocksdb::CompressionType PickCompression(
    const std::vector<rocksdb::CompressionType>& supported,
    std::initializer_list<rocksdb::CompressionType> preferred) {
  for (rocksdb::CompressionType c : preferred) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) {
      return c;
    }
  }
  return rocksdb::kNoCompression;
}

rocksdb::ColumnFamilyOptions MakeCfOptions(
    const std::shared_ptr<rocksdb::Cache>& cache, bool bloom,
    size_t write_buffer_bytes) {
  const std::vector<rocksdb::CompressionType> supported =
      rocksdb::GetSupportedCompressions();
  rocksdb::ColumnFamilyOptions cf;
  cf.compaction_style = rocksdb::kCompactionStyleLevel;
  cf.level_compaction_dynamic_level_bytes = true;
  cf.write_buffer_size = write_buffer_bytes;
  cf.compression = PickCompression(
      supported, {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression});
  cf.bottommost_compression = PickCompression(
      supported,
      {rocksdb::kZSTD, rocksdb::kLZ4Compression, rocksdb::kSnappyCompression});
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.block_size = 16 << 10;
  if (bloom) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.optimize_filters_for_memory = true;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

// Aisle's column families with their options, in ColumnFamilyIndex order.
std::vector<rocksdb::ColumnFamilyDescriptor> AisleColumnFamilies(
    const std::shared_ptr<rocksdb::Cache>& cache) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs(kNumColumnFamilies);
  for (size_t i = 0; i < kNumColumnFamilies; ++i) {
    cfs[i].name = kColumnFamilyNames[i];
  }
  cfs[kDefaultCf].options = MakeCfOptions(cache, false, 4 << 20);
  cfs[kItemsCf].options = MakeCfOptions(cache, true, 32 << 20);
  cfs[kEventsCf].options = MakeCfOptions(cache, false, 64 << 20);
  cfs[kEventIdsCf].options = MakeCfOptions(cache, true, 64 << 20);
  // Nearly every lookup here is a miss (a new event id); a memtable bloom
  // filter answers those without walking the skip list.
  cfs[kEventIdsCf].options.memtable_prefix_bloom_size_ratio = 0.05;
  cfs[kEventIdsCf].options.memtable_whole_key_filtering = true;
  cfs[kUsersCf].options = MakeCfOptions(cache, true, 32 << 20);
  cfs[kUsersCf].options.merge_operator =
      std::make_shared<UserRecordMergeOperator>();
  // Model blobs are large: a small write buffer flushes them out of memory
  // soon, and an early compaction trigger reclaims pruned versions.
  cfs[kModelsCf].options = MakeCfOptions(cache, false, 8 << 20);
  cfs[kModelsCf].options.level0_file_num_compaction_trigger = 2;
  cfs[kMetaCf].options = MakeCfOptions(cache, false, 4 << 20);
  // Snapshot pieces are large and replaced whole: flushed out of memory
  // soon, compacted early so a replaced snapshot's files go.
  cfs[kSnapshotCf].options = MakeCfOptions(cache, false, 16 << 20);
  cfs[kSnapshotCf].options.level0_file_num_compaction_trigger = 2;
  // Read whole at every start: LZ4 (or Snappy) at every level, not the
  // slower-to-decompress ZSTD of the bottom level (ZSTD took ~10% of a
  // restart of the 10M-event store).
  cfs[kSnapshotCf].options.bottommost_compression =
      cfs[kSnapshotCf].options.compression;
  cfs[kLogRefsCf].options = MakeCfOptions(cache, true, 8 << 20);
  return cfs;
}

}  // namespace

rocksdb::DBOptions MakeDbOptions(bool read_only) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !read_only;
  db_options.create_missing_column_families = !read_only;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_total_wal_size = 512 << 20;
  // Caps memtable memory across all column families.
  db_options.db_write_buffer_size = 256 << 20;
  db_options.keep_log_file_num = 5;
  db_options.max_log_file_size = 16 << 20;
  // Erasure (Store::PurgeDeleted) must leave no user id in any file.
  // RocksDB's informational LOG prints keys, which start with the user id
  // (e.g. manual compaction ranges); warnings and errors are still logged.
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // The MANIFEST is a log of file-set changes, and every SST file it ever
  // listed is there with its smallest and largest key, until a new
  // MANIFEST is started with only the live files. This size makes every
  // change start a new one (a few KB per flush or compaction; the old one
  // is deleted), so a purge can end with a MANIFEST that lists only
  // files written after the deletions.
  db_options.max_manifest_file_size = 1;
  return db_options;
}

absl::StatusOr<std::vector<rocksdb::ColumnFamilyDescriptor>>
ColumnFamiliesToOpen(const rocksdb::DBOptions& db_options,
                     const std::string& dir, bool read_only,
                     const std::shared_ptr<rocksdb::Cache>& cache) {
  std::vector<std::string> existing;
  if (std::filesystem::exists(std::filesystem::path(dir) / "CURRENT")) {
    rocksdb::Status s =
        rocksdb::DB::ListColumnFamilies(db_options, dir, &existing);
    if (!s.ok()) return ToStatus(s, "reading column families", dir);
  }
  auto holds = [&](const std::string& name) {
    return std::find(existing.begin(), existing.end(), name) != existing.end();
  };
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors =
      AisleColumnFamilies(cache);
  // A store written before engine snapshots (or before log refs) lacks
  // that column family; read-only it opens without it (Store::GetSnapshot
  // then finds none, LogRefs none).
  if (read_only) {
    std::erase_if(descriptors, [&](const rocksdb::ColumnFamilyDescriptor& d) {
      return (d.name == kColumnFamilyNames[kSnapshotCf] ||
              d.name == kColumnFamilyNames[kLogRefsCf]) &&
             !holds(d.name);
    });
  }
  for (const rocksdb::ColumnFamilyDescriptor& d : descriptors) {
    if (read_only && !holds(d.name)) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " has no column family '", d.name,
                       "'; it was not written by aisle"));
    }
  }
  for (const std::string& name : existing) {
    const bool known =
        std::any_of(kColumnFamilyNames.begin(), kColumnFamilyNames.end(),
                    [&](const char* aisle_name) { return name == aisle_name; });
    if (!known) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  return descriptors;
}

}  // namespace aisle::storage
