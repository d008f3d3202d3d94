#include "storage/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "storage/codec.h"

namespace aisle::storage {
namespace {

namespace fs = std::filesystem;

// Debian's abseil keeps absl::string_view distinct from std::string_view,
// so StrCat does not take the latter directly.
template <typename T>
const T& CatArg(const T& v) {
  return v;
}
inline absl::string_view CatArg(std::string_view v) {
  return absl::string_view(v.data(), v.size());
}
template <typename... T>
std::string Cat(const T&... v) {
  return absl::StrCat(CatArg(v)...);
}

constexpr char kItemsCf[] = "items";
constexpr char kEventsCf[] = "events";
constexpr char kEventIdsCf[] = "event_ids";
constexpr char kUsersCf[] = "users";
constexpr char kModelsCf[] = "models";
constexpr char kMetaCf[] = "meta";

constexpr char kSchemaVersionKey[] = "schema_version";
constexpr char kOpenGenerationKey[] = "open_generation";
constexpr char kActiveModelKey[] = "active_model";
constexpr char kPreviousActiveModelKey[] = "previous_active_model";
constexpr std::string_view kModelMetaPrefix = "meta:";

constexpr int64_t kSchemaVersion = 1;

// Event sequence numbers are (open generation << 40) | counter: unique
// across restarts without scanning the events at open, and increasing, so
// events with equal timestamps keep arrival order.
constexpr int kSequenceCounterBits = 40;
constexpr uint64_t kMaxOpenGeneration =
    (uint64_t{1} << (64 - kSequenceCounterBits)) - 1;

constexpr size_t kScanReadaheadBytes = 2 << 20;
// Deletes per write batch when pruning idempotency keys, so a large prune
// does not build one huge batch in memory.
constexpr size_t kPruneBatchSize = 10000;

// Turns a RocksDB error into a Status whose message tells the operator what
// to do. `what` names the operation, `dir` the data directory.
absl::Status ToStatus(const rocksdb::Status& s, std::string_view what,
                      std::string_view dir) {
  if (s.ok()) return absl::OkStatus();
  const std::string detail = s.ToString();
  if (s.IsIOError() && detail.find("LOCK") != std::string::npos) {
    return absl::FailedPreconditionError(
        Cat("data dir ", dir,
            " is in use by another aisle process (LOCK held); stop it or use "
            "another --data-dir"));
  }
  if (s.IsNoSpace()) {
    return absl::ResourceExhaustedError(
        Cat("disk full writing ", dir, " (", what, ": ", detail,
            "): free space, then retry or restart; no acknowledged data was "
            "lost"));
  }
  if (s.IsCorruption()) {
    return absl::DataLossError(
        Cat(what, " in ", dir, ": ", detail,
            ": restore from a backup (aisle restore) or move the directory "
            "aside"));
  }
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() ||
      s.IsShutdownInProgress() || s.IsIncomplete()) {
    return absl::UnavailableError(
        Cat(what, " in ", dir, ": ", detail,
            ": check the disk and file permissions, then retry"));
  }
  if (s.IsNotFound()) {
    return absl::NotFoundError(Cat(what, " in ", dir, ": ", detail));
  }
  if (s.IsInvalidArgument()) {
    return absl::InvalidArgumentError(Cat(what, " in ", dir, ": ", detail));
  }
  if (s.IsNotSupported()) {
    return absl::FailedPreconditionError(Cat(what, " in ", dir, ": ", detail));
  }
  if (s.IsAborted()) {
    return absl::AbortedError(Cat(what, " in ", dir, ": ", detail));
  }
  return absl::InternalError(Cat(what, " in ", dir, ": ", detail));
}

std::string_view ToView(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}
rocksdb::Slice ToSlice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

absl::Status ValidateUserId(std::string_view user_id) {
  if (user_id.empty()) return absl::InvalidArgumentError("empty user_id");
  if (user_id.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("user_id contains a NUL byte");
  }
  return absl::OkStatus();
}

absl::Status ValidateModelVersion(std::string_view version) {
  if (version.empty()) {
    return absl::InvalidArgumentError("empty model version");
  }
  if (std::string_view(version).starts_with(kModelMetaPrefix)) {
    return absl::InvalidArgumentError(
        Cat("model version '", version, "' must not start with \"meta:\""));
  }
  return absl::OkStatus();
}

class UserRecordMergeOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/,
             const rocksdb::Slice* existing_value, const rocksdb::Slice& value,
             std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    absl::StatusOr<UserRecord> delta = DecodeUserRecord(ToView(value));
    if (!delta.ok()) return false;
    if (existing_value == nullptr) {
      *new_value = EncodeUserRecord(*delta);
      return true;
    }
    absl::StatusOr<UserRecord> existing =
        DecodeUserRecord(ToView(*existing_value));
    if (!existing.ok()) return false;
    *new_value = EncodeUserRecord(CombineUserRecords(*existing, *delta));
    return true;
  }
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

// Files RocksDB writes into a data directory; a directory holding any of
// them but no CURRENT file is a damaged store, not an empty one.
bool LooksLikeRocksDbFile(const std::string& name) {
  return std::string_view(name).starts_with("MANIFEST-") ||
         std::string_view(name).starts_with("OPTIONS-") ||
         std::string_view(name).ends_with(".sst") ||
         std::string_view(name).ends_with(".log") ||
         std::string_view(name).ends_with(".blob") || name == "IDENTITY";
}

// Refuses directories that RocksDB would silently turn into a new, empty
// store (a damaged store missing CURRENT, or somebody else's directory).
absl::Status CheckDataDir(const std::string& dir, bool read_only) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::UnavailableError(
        Cat("cannot access data dir ", dir, ": ", ec.message()));
  }
  if (!fs::exists(st)) {
    if (read_only) {
      return absl::NotFoundError(
          Cat("data dir ", dir, " does not exist; check --data-dir"));
    }
    return absl::OkStatus();
  }
  if (!fs::is_directory(st)) {
    return absl::InvalidArgumentError(
        Cat("data dir ", dir, " is not a directory"));
  }
  if (fs::exists(fs::path(dir) / "CURRENT", ec)) return absl::OkStatus();
  bool empty = true;
  bool rocksdb_files = false;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    empty = false;
    if (LooksLikeRocksDbFile(entry.path().filename().string())) {
      rocksdb_files = true;
    }
  }
  if (ec) {
    return absl::UnavailableError(
        Cat("cannot list data dir ", dir, ": ", ec.message()));
  }
  if (rocksdb_files) {
    return absl::DataLossError(
        Cat("data dir ", dir,
            " holds RocksDB files but no CURRENT file: restore from a backup "
            "(aisle restore) or move the directory aside"));
  }
  if (read_only) {
    return absl::FailedPreconditionError(
        Cat("data dir ", dir, " holds no aisle data"));
  }
  if (!empty) {
    return absl::FailedPreconditionError(
        Cat("data dir ", dir,
            " is not empty and is not an aisle data dir; use an empty or new "
            "directory"));
  }
  return absl::OkStatus();
}

// Event ids being written right now. A writer claims all of its batch's ids
// at once (waiting while any is claimed by another writer), checks them
// against the event_ids column family, writes, and releases. This is lock
// striping with one stripe per 64-bit id hash: only writers sharing an id
// (or, rarely, a hash) wait for each other, so unrelated kMachine writers
// reach RocksDB together and share an fsync; claiming everything under one
// short mutex needs no lock ordering. A batch of 100 ids over a fixed
// stripe array of practical size would collide with most concurrent
// batches and serialise them.
class EventIdClaims {
 public:
  void Acquire(const std::vector<uint64_t>& hashes) {
    auto free = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      for (uint64_t h : hashes) {
        if (claimed_.contains(h)) return false;
      }
      return true;
    };
    absl::MutexLock lock(&mu_, absl::Condition(&free));
    claimed_.insert(hashes.begin(), hashes.end());
  }
  void Release(const std::vector<uint64_t>& hashes) {
    absl::MutexLock lock(&mu_);
    for (uint64_t h : hashes) claimed_.erase(h);
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<uint64_t> claimed_ ABSL_GUARDED_BY(mu_);
};

class ClaimGuard {
 public:
  ClaimGuard(EventIdClaims* claims, std::vector<uint64_t> hashes)
      : claims_(claims), hashes_(std::move(hashes)) {
    claims_->Acquire(hashes_);
  }
  ~ClaimGuard() { claims_->Release(hashes_); }
  ClaimGuard(const ClaimGuard&) = delete;
  ClaimGuard& operator=(const ClaimGuard&) = delete;

 private:
  EventIdClaims* claims_;
  std::vector<uint64_t> hashes_;
};

absl::Status FsyncPath(const std::string& path, bool directory) {
  const int fd =
      ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) {
    return absl::UnavailableError(Cat("cannot open ", path));
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::UnavailableError(Cat("fsync ", path));
  return absl::OkStatus();
}

std::string InUseMessage(std::string_view dir, std::string_view holder) {
  return Cat("data dir ", dir, " is in use by ", holder,
             " (LOCK held); stop it or use another --data-dir");
}

// Data dirs this process has open for writing (or is opening). RocksDB
// would report a second open itself, but only after rotating the holder's
// info LOG; and the cross-process check below must never run against a dir
// this process holds, because closing any descriptor of the LOCK file
// drops the process's own fcntl lock on it.
class WritableDirRegistry {
 public:
  static WritableDirRegistry& Get() {
    static WritableDirRegistry* registry = new WritableDirRegistry;
    return *registry;
  }
  bool Claim(const std::string& dir) {
    absl::MutexLock lock(&mu_);
    return dirs_.insert(dir).second;
  }
  void Release(const std::string& dir) {
    absl::MutexLock lock(&mu_);
    dirs_.erase(dir);
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> dirs_ ABSL_GUARDED_BY(mu_);
};

std::string CanonicalDir(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  return ec ? dir : p.string();
}

// Refuses, before RocksDB touches anything, a dir whose LOCK another
// process holds. REQUIRES: this process does not hold that lock.
absl::Status CheckNotLockedElsewhere(const std::string& dir) {
  const std::string lock_file = (fs::path(dir) / "LOCK").string();
  const int fd = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::OkStatus();  // new dir; RocksDB reports the rest
  struct flock query = {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  const int rc = ::fcntl(fd, F_GETLK, &query);
  ::close(fd);
  if (rc == 0 && query.l_type != F_UNLCK) {
    return absl::FailedPreconditionError(InUseMessage(
        dir, Cat("another aisle process (pid ", query.l_pid, ")")));
  }
  return absl::OkStatus();
}

}  // namespace

struct Store::Impl {
  StoreOptions options;
  std::shared_ptr<rocksdb::Cache> cache;
  rocksdb::DB* db = nullptr;  // owned; closed in the destructor
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // owned; every CF
  rocksdb::ColumnFamilyHandle* items = nullptr;
  rocksdb::ColumnFamilyHandle* events = nullptr;
  rocksdb::ColumnFamilyHandle* event_ids = nullptr;
  rocksdb::ColumnFamilyHandle* users = nullptr;
  rocksdb::ColumnFamilyHandle* models = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;

  std::atomic<uint64_t> next_sequence{0};
  uint64_t sequence_limit = 0;  // first sequence of the next generation

  EventIdClaims claims;
  // Appends hold it shared, EraseUser exclusively: an erase sees every
  // event whose append has returned, and no append lands in the middle.
  absl::Mutex erase_mu;
  // Serialises model writes, pruning and active-model changes, so a
  // version cannot be pruned while it is being made active.
  std::mutex models_mu;
  // Set when a write failed; the next write first asks RocksDB to resume
  // from a background error (e.g. a full disk that has been cleared).
  std::atomic<bool> write_failed{false};
  // This store's entry in WritableDirRegistry; empty when read-only.
  std::string registered_dir;

  ~Impl() {
    Close();
    if (!registered_dir.empty()) {
      WritableDirRegistry::Get().Release(registered_dir);
    }
  }

  void Close() {
    if (db == nullptr) return;
    if (!options.read_only) {
      // Best effort: a failure here leaves the data in the WAL, which the
      // next open replays.
      rocksdb::FlushOptions flush;
      flush.wait = true;
      db->Flush(flush, handles).PermitUncheckedError();
      db->SyncWAL().PermitUncheckedError();
    }
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    db->Close().PermitUncheckedError();
    delete db;
    db = nullptr;
  }

  absl::Status Error(const rocksdb::Status& s, std::string_view what) const {
    return ToStatus(s, what, options.data_dir);
  }

  absl::Status CheckWritable() const {
    if (options.read_only) {
      return absl::FailedPreconditionError(
          Cat("data dir ", options.data_dir, " is open read-only"));
    }
    return absl::OkStatus();
  }

  absl::Status Write(rocksdb::WriteBatch* batch, bool sync,
                     std::string_view what) {
    if (write_failed.load(std::memory_order_relaxed)) {
      rocksdb::Status resumed = db->Resume();
      if (!resumed.ok()) return Error(resumed, what);
      write_failed.store(false, std::memory_order_relaxed);
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::Status s = db->Write(wo, batch);
    if (!s.ok()) {
      write_failed.store(true, std::memory_order_relaxed);
      return Error(s, what);
    }
    return absl::OkStatus();
  }

  bool SyncEvents() const { return options.durability == Durability::kMachine; }

  absl::StatusOr<uint64_t> AllocateSequences(uint64_t n) {
    const uint64_t first = next_sequence.fetch_add(n);
    if (first + n > sequence_limit) {
      return absl::ResourceExhaustedError(
          "event sequence numbers of this process are used up (2^40 "
          "events); restart aisle to start a new generation");
    }
    return first;
  }

  // Reads a meta value; nullopt if absent.
  absl::StatusOr<std::optional<std::string>> GetMeta(
      std::string_view key) const {
    std::string value;
    rocksdb::Status s =
        db->Get(rocksdb::ReadOptions(), meta, ToSlice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return Error(s, Cat("reading ", key));
    return value;
  }

  absl::StatusOr<int64_t> GetMetaInt(std::string_view key) const {
    absl::StatusOr<std::optional<std::string>> v = GetMeta(key);
    if (!v.ok()) return v.status();
    if (!v->has_value()) return 0;
    int64_t n = 0;
    if (!absl::SimpleAtoi(**v, &n)) {
      return absl::DataLossError(
          Cat("meta key ", key, " in ", options.data_dir, " holds '", **v,
              "': restore from a backup (aisle restore) or move the directory "
              "aside"));
    }
    return n;
  }

  rocksdb::ReadOptions ScanOptions(const rocksdb::Snapshot* snapshot) const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    ro.fill_cache = false;
    ro.readahead_size = kScanReadaheadBytes;
    return ro;
  }

  // Versions of stored models with their metadata, newest first.
  absl::StatusOr<std::vector<StoredModel>> ListModels() const {
    rocksdb::ReadOptions ro;
    const std::string upper = PrefixSuccessor(kModelMetaPrefix);
    rocksdb::Slice upper_slice(upper);
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, models));
    std::vector<StoredModel> out;
    for (it->Seek(ToSlice(kModelMetaPrefix)); it->Valid(); it->Next()) {
      absl::StatusOr<StoredModel> m = DecodeStoredModel(ToView(it->value()));
      if (!m.ok()) {
        return absl::DataLossError(
            Cat("model metadata ", ToView(it->key()), " in ", options.data_dir,
                ": ", m.status().message(),
                ": restore from a backup (aisle restore)"));
      }
      out.push_back(*std::move(m));
    }
    if (!it->status().ok()) return Error(it->status(), "listing models");
    std::sort(out.begin(), out.end(),
              [](const StoredModel& a, const StoredModel& b) {
                if (a.metadata.trained_at_ms != b.metadata.trained_at_ms) {
                  return a.metadata.trained_at_ms > b.metadata.trained_at_ms;
                }
                return a.metadata.version > b.metadata.version;
              });
    return out;
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const StoreOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("empty data dir path");
  }
  if (options.models_to_keep < 1) {
    return absl::InvalidArgumentError("models_to_keep must be at least 1");
  }
  if (absl::Status s = CheckDataDir(options.data_dir, options.read_only);
      !s.ok()) {
    return s;
  }
  const std::string& dir = options.data_dir;

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.read_only) {
    const std::string canonical = CanonicalDir(dir);
    if (!WritableDirRegistry::Get().Claim(canonical)) {
      return absl::FailedPreconditionError(InUseMessage(dir, "this process"));
    }
    impl->registered_dir = canonical;  // released by ~Impl
    if (absl::Status s = CheckNotLockedElsewhere(dir); !s.ok()) return s;
  }
  impl->cache = rocksdb::NewLRUCache(options.block_cache_bytes);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !options.read_only;
  db_options.create_missing_column_families = !options.read_only;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_total_wal_size = 512 << 20;
  // Caps memtable memory across all column families.
  db_options.db_write_buffer_size = 256 << 20;
  db_options.keep_log_file_num = 5;
  db_options.max_log_file_size = 16 << 20;

  const std::shared_ptr<rocksdb::MergeOperator> user_merge =
      std::make_shared<UserRecordMergeOperator>();
  std::vector<rocksdb::ColumnFamilyDescriptor> wanted;
  wanted.emplace_back(rocksdb::kDefaultColumnFamilyName,
                      MakeCfOptions(impl->cache, false, 4 << 20));
  wanted.emplace_back(kItemsCf, MakeCfOptions(impl->cache, true, 32 << 20));
  wanted.emplace_back(kEventsCf, MakeCfOptions(impl->cache, false, 64 << 20));
  wanted.emplace_back(kEventIdsCf, MakeCfOptions(impl->cache, true, 64 << 20));
  // Nearly every lookup here is a miss (a new event id); a memtable bloom
  // filter answers those without walking the skip list.
  wanted.back().options.memtable_prefix_bloom_size_ratio = 0.05;
  wanted.back().options.memtable_whole_key_filtering = true;
  wanted.emplace_back(kUsersCf, MakeCfOptions(impl->cache, true, 32 << 20));
  wanted.back().options.merge_operator = user_merge;
  // Model blobs are large: a small write buffer flushes them out of memory
  // soon, and an early compaction trigger reclaims pruned versions.
  wanted.emplace_back(kModelsCf, MakeCfOptions(impl->cache, false, 8 << 20));
  wanted.back().options.level0_file_num_compaction_trigger = 2;
  wanted.emplace_back(kMetaCf, MakeCfOptions(impl->cache, false, 4 << 20));

  std::vector<std::string> existing;
  if (fs::exists(fs::path(dir) / "CURRENT")) {
    rocksdb::Status s =
        rocksdb::DB::ListColumnFamilies(db_options, dir, &existing);
    if (!s.ok()) return ToStatus(s, "reading column families", dir);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const rocksdb::ColumnFamilyDescriptor& d : wanted) {
    const bool present =
        std::find(existing.begin(), existing.end(), d.name) != existing.end();
    if (options.read_only && !present) {
      return absl::FailedPreconditionError(
          Cat("data dir ", dir, " has no column family '", d.name,
              "'; it was not written by aisle"));
    }
    descriptors.push_back(d);
  }
  // A newer release may have added column families; open them too (RocksDB
  // refuses to open a store without all of them) so that the schema
  // version check below can explain the problem.
  for (const std::string& name : existing) {
    const bool known =
        std::any_of(wanted.begin(), wanted.end(),
                    [&](const auto& d) { return d.name == name; });
    if (!known) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }

  rocksdb::Status s;
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors,
                                     &impl->handles, &impl->db);
  } else {
    s = rocksdb::DB::Open(db_options, dir, descriptors, &impl->handles,
                          &impl->db);
  }
  if (!s.ok()) return ToStatus(s, "opening the store", dir);
  impl->items = impl->handles[1];
  impl->events = impl->handles[2];
  impl->event_ids = impl->handles[3];
  impl->users = impl->handles[4];
  impl->models = impl->handles[5];
  impl->meta = impl->handles[6];

  absl::StatusOr<int64_t> schema = impl->GetMetaInt(kSchemaVersionKey);
  if (!schema.ok()) return schema.status();
  if (*schema > kSchemaVersion) {
    return absl::FailedPreconditionError(
        Cat("data dir ", dir, " has schema version ", *schema,
            ", newer than this aisle understands (", kSchemaVersion,
            "); run a newer aisle or restore a backup made by this version"));
  }
  if (options.read_only)
    return std::unique_ptr<Store>(new Store(std::move(impl)));

  absl::StatusOr<int64_t> generation = impl->GetMetaInt(kOpenGenerationKey);
  if (!generation.ok()) return generation.status();
  const uint64_t next_generation = static_cast<uint64_t>(*generation) + 1;
  if (*generation < 0 || next_generation > kMaxOpenGeneration) {
    return absl::DataLossError(
        Cat("meta key open_generation in ", dir, " is out of range: restore ",
            "from a backup (aisle restore) or move the directory aside"));
  }
  rocksdb::WriteBatch batch;
  batch.Put(impl->meta, kSchemaVersionKey, Cat(kSchemaVersion));
  batch.Put(impl->meta, kOpenGenerationKey, Cat(next_generation));
  if (absl::Status w = impl->Write(&batch, /*sync=*/true, "initialising");
      !w.ok()) {
    return w;
  }
  impl->next_sequence = next_generation << kSequenceCounterBits;
  impl->sequence_limit = (next_generation + 1) << kSequenceCounterBits;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

// --- Events -----------------------------------------------------------------

absl::StatusOr<AppendResult> Store::AppendEvents(
    std::span<const core::Event> events) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].event_id.empty()) {
      return absl::InvalidArgumentError(Cat("event ", i, ": empty event_id"));
    }
    if (absl::Status s = ValidateUserId(events[i].user_id); !s.ok()) {
      return absl::InvalidArgumentError(Cat("event ", i, ": ", s.message()));
    }
    if (static_cast<int>(events[i].type) >= core::kNumEventTypes) {
      return absl::InvalidArgumentError(Cat("event ", i,
                                            ": unknown event type ",
                                            static_cast<int>(events[i].type)));
    }
  }
  AppendResult result;
  result.stored.assign(events.size(), false);
  if (events.empty()) return result;

  // The first occurrence of each id in the batch is a candidate; later
  // ones are duplicates whatever the store holds.
  absl::flat_hash_set<std::string_view> seen;
  seen.reserve(events.size());
  std::vector<size_t> candidates;
  std::vector<uint64_t> hashes;
  for (size_t i = 0; i < events.size(); ++i) {
    if (seen.insert(events[i].event_id).second) {
      candidates.push_back(i);
      hashes.push_back(absl::Hash<std::string_view>{}(events[i].event_id));
    }
  }
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());

  ClaimGuard claim(&impl.claims, std::move(hashes));
  absl::ReaderMutexLock erase_lock(&impl.erase_mu);

  std::vector<rocksdb::Slice> keys;
  keys.reserve(candidates.size());
  for (size_t i : candidates) keys.push_back(ToSlice(events[i].event_id));
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  impl.db->MultiGet(rocksdb::ReadOptions(), impl.event_ids, keys.size(),
                    keys.data(), values.data(), statuses.data());
  std::vector<size_t> fresh;
  for (size_t k = 0; k < candidates.size(); ++k) {
    if (statuses[k].IsNotFound()) {
      fresh.push_back(candidates[k]);
    } else if (!statuses[k].ok()) {
      return impl.Error(statuses[k], "checking event ids");
    }
  }
  if (!fresh.empty()) {
    absl::StatusOr<uint64_t> sequence = impl.AllocateSequences(fresh.size());
    if (!sequence.ok()) return sequence.status();
    rocksdb::WriteBatch batch;
    absl::flat_hash_map<std::string_view, UserRecord> deltas;
    uint64_t seq = *sequence;
    for (size_t i : fresh) {
      const core::Event& e = events[i];
      batch.Put(impl.events, EventKey(e.user_id, e.timestamp_ms, seq++),
                EncodeEvent(e));
      batch.Put(impl.event_ids, e.event_id,
                EncodeIdempotencyRecord({e.user_id, e.timestamp_ms}));
      UserRecord one;
      one.first_seen_ms = one.last_seen_ms = e.timestamp_ms;
      one.counts[static_cast<size_t>(e.type)] = 1;
      auto [it, inserted] = deltas.try_emplace(e.user_id, one);
      if (!inserted) it->second = CombineUserRecords(it->second, one);
    }
    for (const auto& [user, delta] : deltas) {
      batch.Merge(impl.users, ToSlice(user), EncodeUserRecord(delta));
    }
    if (absl::Status s =
            impl.Write(&batch, impl.SyncEvents(), "appending events");
        !s.ok()) {
      return s;
    }
  }
  for (size_t i : fresh) result.stored[i] = true;
  result.accepted = static_cast<int>(fresh.size());
  result.duplicates = static_cast<int>(events.size() - fresh.size());
  return result;
}

absl::Status Store::ScanEvents(
    const std::function<absl::Status(std::span<const core::Event>)>& fn,
    size_t batch_size) const {
  const Impl& impl = *impl_;
  batch_size = std::max<size_t>(batch_size, 1);
  rocksdb::ManagedSnapshot snapshot(impl.db);
  std::unique_ptr<rocksdb::Iterator> it(
      impl.db->NewIterator(impl.ScanOptions(snapshot.snapshot()), impl.events));
  std::vector<core::Event> batch;
  batch.reserve(batch_size);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<core::Event> e = DecodeEvent(ToView(it->value()));
    if (!e.ok()) {
      return absl::DataLossError(
          Cat("event record in ", impl.options.data_dir, ": ",
              e.status().message(), ": restore from a backup (aisle restore)"));
    }
    batch.push_back(*std::move(e));
    if (batch.size() == batch_size) {
      if (absl::Status s = fn(batch); !s.ok()) return s;
      batch.clear();
    }
  }
  if (!it->status().ok()) return impl.Error(it->status(), "scanning events");
  if (!batch.empty()) return fn(batch);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<core::Event>> Store::UserEvents(
    std::string_view user_id, size_t limit) const {
  const Impl& impl = *impl_;
  if (absl::Status s = ValidateUserId(user_id); !s.ok()) return s;
  const std::string lower = UserKeyPrefix(user_id);
  const std::string upper = PrefixSuccessor(lower);
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(impl.db->NewIterator(ro, impl.events));
  std::vector<core::Event> out;
  auto take = [&]() -> absl::Status {
    absl::StatusOr<core::Event> e = DecodeEvent(ToView(it->value()));
    if (!e.ok()) {
      return absl::DataLossError(
          Cat("event record of user ", user_id, ": ", e.status().message(),
              ": restore from a backup (aisle restore)"));
    }
    out.push_back(*std::move(e));
    return absl::OkStatus();
  };
  if (limit == 0) {
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (absl::Status s = take(); !s.ok()) return s;
    }
  } else {
    for (it->SeekToLast(); it->Valid() && out.size() < limit; it->Prev()) {
      if (absl::Status s = take(); !s.ok()) return s;
    }
    std::reverse(out.begin(), out.end());
  }
  if (!it->status().ok()) {
    return impl.Error(it->status(), "reading a user's events");
  }
  return out;
}

absl::StatusOr<int64_t> Store::PruneIdempotencyKeys(int64_t now_ms) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  const int64_t cutoff = now_ms - impl.options.idempotency_retention_ms;
  rocksdb::ManagedSnapshot snapshot(impl.db);
  std::unique_ptr<rocksdb::Iterator> it(impl.db->NewIterator(
      impl.ScanOptions(snapshot.snapshot()), impl.event_ids));
  int64_t pruned = 0;
  rocksdb::WriteBatch batch;
  auto flush = [&]() -> absl::Status {
    if (batch.Count() == 0) return absl::OkStatus();
    absl::Status s =
        impl.Write(&batch, impl.SyncEvents(), "pruning idempotency keys");
    batch.Clear();
    return s;
  };
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<IdempotencyRecord> r =
        DecodeIdempotencyRecord(ToView(it->value()));
    if (!r.ok()) {
      return absl::DataLossError(
          Cat("idempotency key in ", impl.options.data_dir, ": ",
              r.status().message(), ": restore from a backup (aisle restore)"));
    }
    if (r->timestamp_ms >= cutoff) continue;
    batch.Delete(impl.event_ids, it->key());
    ++pruned;
    if (static_cast<size_t>(batch.Count()) >= kPruneBatchSize) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
  }
  if (!it->status().ok()) {
    return impl.Error(it->status(), "scanning idempotency keys");
  }
  if (absl::Status s = flush(); !s.ok()) return s;
  return pruned;
}

// --- Items ------------------------------------------------------------------

absl::Status Store::PutItems(std::span<const core::Item> items) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].item_id.empty()) {
      return absl::InvalidArgumentError(Cat("item ", i, ": empty item_id"));
    }
    batch.Put(impl.items, items[i].item_id, EncodeItem(items[i]));
  }
  if (items.empty()) return absl::OkStatus();
  return impl.Write(&batch, impl.SyncEvents(), "storing items");
}

absl::StatusOr<int> Store::DeleteItems(std::span<const std::string> item_ids) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (item_ids.empty()) return 0;
  std::vector<rocksdb::Slice> keys;
  for (const std::string& id : item_ids) keys.emplace_back(id);
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  impl.db->MultiGet(rocksdb::ReadOptions(), impl.items, keys.size(),
                    keys.data(), values.data(), statuses.data());
  int existed = 0;
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].ok()) {
      ++existed;
    } else if (!statuses[i].IsNotFound()) {
      return impl.Error(statuses[i], "reading items");
    }
    batch.Delete(impl.items, keys[i]);
  }
  if (absl::Status s = impl.Write(&batch, impl.SyncEvents(), "deleting items");
      !s.ok()) {
    return s;
  }
  return existed;
}

absl::StatusOr<core::Item> Store::GetItem(std::string_view item_id) const {
  const Impl& impl = *impl_;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.items,
                                   ToSlice(item_id), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(Cat("item '", item_id, "' not found"));
  }
  if (!s.ok()) return impl.Error(s, "reading an item");
  absl::StatusOr<core::Item> item = DecodeItem(ToView(value));
  if (!item.ok()) {
    return absl::DataLossError(Cat("item '", item_id,
                                   "': ", item.status().message(),
                                   ": restore from a backup (aisle restore)"));
  }
  return item;
}

absl::Status Store::ScanItems(
    const std::function<absl::Status(std::span<const core::Item>)>& fn,
    size_t batch_size) const {
  const Impl& impl = *impl_;
  batch_size = std::max<size_t>(batch_size, 1);
  rocksdb::ManagedSnapshot snapshot(impl.db);
  std::unique_ptr<rocksdb::Iterator> it(
      impl.db->NewIterator(impl.ScanOptions(snapshot.snapshot()), impl.items));
  std::vector<core::Item> batch;
  batch.reserve(std::min<size_t>(batch_size, 4096));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<core::Item> item = DecodeItem(ToView(it->value()));
    if (!item.ok()) {
      return absl::DataLossError(
          Cat("item '", ToView(it->key()), "': ", item.status().message(),
              ": restore from a backup (aisle restore)"));
    }
    batch.push_back(*std::move(item));
    if (batch.size() == batch_size) {
      if (absl::Status s = fn(batch); !s.ok()) return s;
      batch.clear();
    }
  }
  if (!it->status().ok()) return impl.Error(it->status(), "scanning items");
  if (!batch.empty()) return fn(batch);
  return absl::OkStatus();
}

// --- Users ------------------------------------------------------------------

absl::StatusOr<UserRecord> Store::GetUser(std::string_view user_id) const {
  const Impl& impl = *impl_;
  if (absl::Status s = ValidateUserId(user_id); !s.ok()) return s;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.users,
                                   ToSlice(user_id), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(Cat("user '", user_id, "' not found"));
  }
  if (!s.ok()) return impl.Error(s, "reading a user record");
  absl::StatusOr<UserRecord> record = DecodeUserRecord(ToView(value));
  if (!record.ok()) {
    return absl::DataLossError(Cat("user record '", user_id,
                                   "': ", record.status().message(),
                                   ": restore from a backup (aisle restore)"));
  }
  return record;
}

absl::StatusOr<EraseResult> Store::EraseUser(std::string_view user_id) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status s = ValidateUserId(user_id); !s.ok()) return s;
  absl::MutexLock erase_lock(&impl.erase_mu);

  const std::string lower = UserKeyPrefix(user_id);
  const std::string upper = PrefixSuccessor(lower);
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl.db->NewIterator(ro, impl.events));
  EraseResult result;
  rocksdb::WriteBatch batch;
  std::vector<std::string> event_ids;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    batch.Delete(impl.events, it->key());
    ++result.events_deleted;
    // A record that does not decode is still deleted; only its
    // idempotency key cannot be found from it.
    absl::StatusOr<core::Event> e = DecodeEvent(ToView(it->value()));
    if (e.ok()) event_ids.push_back(std::move(e->event_id));
  }
  if (!it->status().ok()) {
    return impl.Error(it->status(), "reading a user's events");
  }

  if (!event_ids.empty()) {
    std::vector<rocksdb::Slice> keys(event_ids.begin(), event_ids.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    impl.db->MultiGet(rocksdb::ReadOptions(), impl.event_ids, keys.size(),
                      keys.data(), values.data(), statuses.data());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;  // pruned already
      if (!statuses[i].ok()) {
        return impl.Error(statuses[i], "reading idempotency keys");
      }
      // After retention expired the same id may have been stored again for
      // someone else; that key is theirs.
      absl::StatusOr<IdempotencyRecord> r =
          DecodeIdempotencyRecord(ToView(values[i]));
      if (r.ok() && r->user_id != user_id) continue;
      batch.Delete(impl.event_ids, keys[i]);
      ++result.idempotency_keys_deleted;
    }
  }

  std::string record;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.users,
                                   ToSlice(user_id), &record);
  if (s.ok()) {
    result.profile_deleted = true;
  } else if (!s.IsNotFound()) {
    return impl.Error(s, "reading a user record");
  }
  batch.Delete(impl.users, ToSlice(user_id));
  if (absl::Status w = impl.Write(&batch, /*sync=*/true, "erasing a user");
      !w.ok()) {
    return w;
  }
  return result;
}

absl::StatusOr<int64_t> Store::CountUserRecords(
    std::string_view user_id) const {
  const Impl& impl = *impl_;
  if (absl::Status s = ValidateUserId(user_id); !s.ok()) return s;
  const std::string prefix = UserKeyPrefix(user_id);
  rocksdb::ManagedSnapshot snapshot(impl.db);
  int64_t count = 0;
  for (rocksdb::ColumnFamilyHandle* cf : impl.handles) {
    std::unique_ptr<rocksdb::Iterator> it(
        impl.db->NewIterator(impl.ScanOptions(snapshot.snapshot()), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = ToView(it->key());
      bool mine = std::string_view(key).starts_with(prefix) ||
                  (cf == impl.users && key == user_id);
      if (!mine && cf == impl.event_ids) {
        absl::StatusOr<IdempotencyRecord> r =
            DecodeIdempotencyRecord(ToView(it->value()));
        mine = r.ok() && r->user_id == user_id;
      }
      if (!mine && cf == impl.events) {
        absl::StatusOr<core::Event> e = DecodeEvent(ToView(it->value()));
        mine = e.ok() && e->user_id == user_id;
      }
      if (mine) ++count;
    }
    if (!it->status().ok()) {
      return impl.Error(it->status(), "auditing a user's records");
    }
  }
  return count;
}

// --- Models -----------------------------------------------------------------

absl::Status Store::PutModel(const core::ModelMetadata& metadata,
                             std::string_view blob) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status s = ValidateModelVersion(metadata.version); !s.ok()) {
    return s;
  }
  std::lock_guard<std::mutex> lock(impl.models_mu);
  {
    rocksdb::WriteBatch batch;
    batch.Put(impl.models, metadata.version, ToSlice(blob));
    batch.Put(impl.models, Cat(kModelMetaPrefix, metadata.version),
              EncodeStoredModel({metadata, static_cast<int64_t>(blob.size())}));
    if (absl::Status s = impl.Write(&batch, /*sync=*/true, "storing a model");
        !s.ok()) {
      return s;
    }
  }

  absl::StatusOr<std::vector<StoredModel>> models = impl.ListModels();
  if (!models.ok()) return models.status();
  absl::StatusOr<std::optional<std::string>> active =
      impl.GetMeta(kActiveModelKey);
  if (!active.ok()) return active.status();
  absl::StatusOr<std::optional<std::string>> previous =
      impl.GetMeta(kPreviousActiveModelKey);
  if (!previous.ok()) return previous.status();
  auto is_protected = [&](const std::string& v) {
    return v == metadata.version || (active->has_value() && **active == v) ||
           (previous->has_value() && **previous == v);
  };
  rocksdb::WriteBatch prune;
  int kept = 0;
  for (const StoredModel& m : *models) {
    const std::string& v = m.metadata.version;
    if (kept < impl.options.models_to_keep) {
      ++kept;
    } else if (!is_protected(v)) {
      prune.Delete(impl.models, v);
      prune.Delete(impl.models, Cat(kModelMetaPrefix, v));
    }
  }
  if (prune.Count() == 0) return absl::OkStatus();
  return impl.Write(&prune, /*sync=*/true, "pruning old models");
}

absl::StatusOr<std::string> Store::GetModelBlob(
    std::string_view version) const {
  const Impl& impl = *impl_;
  if (absl::Status s = ValidateModelVersion(version); !s.ok()) return s;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::string blob;
  rocksdb::Status s = impl.db->Get(ro, impl.models, ToSlice(version), &blob);
  if (s.IsNotFound()) {
    return absl::NotFoundError(Cat("model version '", version, "' not found"));
  }
  if (!s.ok()) return impl.Error(s, "reading a model");
  return blob;
}

absl::StatusOr<std::vector<StoredModel>> Store::ListModels() const {
  return impl_->ListModels();
}

absl::StatusOr<std::string> Store::GetActiveModel() const {
  absl::StatusOr<std::optional<std::string>> v =
      impl_->GetMeta(kActiveModelKey);
  if (!v.ok()) return v.status();
  return v->value_or("");
}

absl::StatusOr<std::string> Store::GetPreviousActiveModel() const {
  absl::StatusOr<std::optional<std::string>> v =
      impl_->GetMeta(kPreviousActiveModelKey);
  if (!v.ok()) return v.status();
  return v->value_or("");
}

absl::Status Store::SetActiveModel(std::string_view version) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status s = ValidateModelVersion(version); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(impl.models_mu);
  std::string ignored;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.models,
                                   Cat(kModelMetaPrefix, version), &ignored);
  if (s.IsNotFound()) {
    return absl::NotFoundError(Cat("model version '", version, "' not found"));
  }
  if (!s.ok()) return impl.Error(s, "reading model metadata");
  absl::StatusOr<std::optional<std::string>> current =
      impl.GetMeta(kActiveModelKey);
  if (!current.ok()) return current.status();
  if (current->has_value() && **current == version) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  batch.Put(impl.meta, kActiveModelKey, ToSlice(version));
  if (current->has_value()) {
    batch.Put(impl.meta, kPreviousActiveModelKey, **current);
  }
  return impl.Write(&batch, /*sync=*/true, "setting the active model");
}

// --- Operations -------------------------------------------------------------

absl::Status Store::Checkpoint(const std::string& dir) const {
  const Impl& impl = *impl_;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return absl::AlreadyExistsError(
        Cat("checkpoint dir ", dir, " already exists; choose a new path"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(impl.db, &raw);
  if (!s.ok()) return impl.Error(s, "starting a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  s = checkpoint->CreateCheckpoint(dir);
  if (!s.ok()) {
    return impl.Error(s, Cat("writing checkpoint ", dir));
  }
  return absl::OkStatus();
}

absl::Status Store::Flush() {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  rocksdb::FlushOptions flush;
  flush.wait = true;
  rocksdb::Status s = impl.db->Flush(flush, impl.handles);
  if (!s.ok()) return impl.Error(s, "flushing memtables");
  s = impl.db->SyncWAL();
  if (!s.ok()) return impl.Error(s, "syncing the WAL");
  return absl::OkStatus();
}

StoreStats Store::Stats() const {
  const Impl& impl = *impl_;
  auto property = [&](rocksdb::ColumnFamilyHandle* cf, const char* name) {
    uint64_t v = 0;
    return impl.db->GetIntProperty(cf, name, &v) ? static_cast<int64_t>(v) : 0;
  };
  StoreStats stats;
  stats.items = property(impl.items, "rocksdb.estimate-num-keys");
  stats.events = property(impl.events, "rocksdb.estimate-num-keys");
  stats.users = property(impl.users, "rocksdb.estimate-num-keys");
  for (rocksdb::ColumnFamilyHandle* cf : impl.handles) {
    stats.live_data_bytes += property(cf, "rocksdb.estimate-live-data-size");
    stats.pending_compaction_bytes +=
        property(cf, "rocksdb.estimate-pending-compaction-bytes");
    stats.memtable_bytes += property(cf, "rocksdb.cur-size-all-mem-tables");
  }
  return stats;
}

absl::Status RestoreCheckpoint(const std::string& checkpoint_dir,
                               const std::string& data_dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(checkpoint_dir) / "CURRENT", ec)) {
    return absl::NotFoundError(
        Cat(checkpoint_dir, " is not a checkpoint (no CURRENT file)"));
  }
  if (fs::exists(data_dir, ec)) {
    if (!fs::is_directory(data_dir, ec) || !fs::is_empty(data_dir, ec)) {
      return absl::FailedPreconditionError(
          Cat("data dir ", data_dir,
              " is not empty; restore into an empty or absent directory"));
    }
  }
  fs::path target = fs::path(data_dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  const fs::path staging = fs::path(target.string() + ".restoring");
  if (fs::exists(staging, ec)) {
    return absl::FailedPreconditionError(
        Cat(staging.string(),
            " exists (left by an interrupted restore?); remove it and retry"));
  }
  if (!fs::create_directories(staging, ec) || ec) {
    return absl::UnavailableError(
        Cat("cannot create ", staging.string(), ": ", ec.message()));
  }
  // Removes only what this function created; the checkpoint is untouched.
  auto abandon = [&](absl::Status status) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    return status;
  };
  for (const fs::directory_entry& entry :
       fs::directory_iterator(checkpoint_dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const fs::path dest = staging / name;
    // SST and blob files are never modified once written, so sharing
    // them is safe; WAL and MANIFEST may be appended to, so they are
    // copied.
    bool linked = false;
    if (std::string_view(name).ends_with(".sst") ||
        std::string_view(name).ends_with(".blob")) {
      std::error_code link_ec;
      fs::create_hard_link(entry.path(), dest, link_ec);
      linked = !link_ec;
    }
    if (!linked) {
      std::error_code copy_ec;
      fs::copy_file(entry.path(), dest, copy_ec);
      if (copy_ec) {
        return abandon(absl::UnavailableError(
            Cat("copying ", entry.path().string(), " to ", dest.string(), ": ",
                copy_ec.message())));
      }
    }
    if (absl::Status s = FsyncPath(dest.string(), false); !s.ok()) {
      return abandon(s);
    }
  }
  if (ec) {
    return abandon(absl::UnavailableError(
        Cat("listing checkpoint ", checkpoint_dir, ": ", ec.message())));
  }
  {
    StoreOptions verify;
    verify.data_dir = staging.string();
    verify.read_only = true;
    verify.block_cache_bytes = 8 << 20;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(verify);
    if (!store.ok()) {
      return abandon(absl::DataLossError(
          Cat("checkpoint ", checkpoint_dir,
              " does not open: ", store.status().message())));
    }
  }
  if (fs::exists(target, ec)) fs::remove(target, ec);  // empty, checked above
  fs::rename(staging, target, ec);
  if (ec) {
    return abandon(
        absl::UnavailableError(Cat("moving ", staging.string(), " to ",
                                   target.string(), ": ", ec.message())));
  }
  const fs::path parent =
      target.has_parent_path() ? target.parent_path() : fs::path(".");
  return FsyncPath(parent.string(), true);
}

}  // namespace aisle::storage
