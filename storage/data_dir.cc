// Data dir checks: what a directory holds before RocksDB opens it, the
// per-process and cross-process writer checks, and the schema-version and
// open-generation markers in the meta column family.
#include "storage/data_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/string_view.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

namespace fs = std::filesystem;

// Files RocksDB writes into a data directory; a directory holding any of
// them but no CURRENT file is a damaged store, not an empty one.
bool LooksLikeRocksDbFile(const std::string& name) {
  return std::string_view(name).starts_with("MANIFEST-") ||
         std::string_view(name).starts_with("OPTIONS-") ||
         std::string_view(name).ends_with(".sst") ||
         std::string_view(name).ends_with(".log") ||
         std::string_view(name).ends_with(".blob") || name == "IDENTITY";
}

// Data dirs this process has open for writing (or is opening).
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
        dir, absl::StrCat("another aisle process (pid ", query.l_pid, ")")));
  }
  return absl::OkStatus();
}

}  // namespace

std::string InUseMessage(std::string_view dir, std::string_view holder) {
  return absl::StrCat("data dir ", core::ToAbsl(dir), " is in use by ",
                      core::ToAbsl(holder),
                      " (LOCK held); stop it or use another --data-dir");
}

absl::Status CheckDataDir(const std::string& dir, bool read_only) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::UnavailableError(
        absl::StrCat("cannot access data dir ", dir, ": ", ec.message()));
  }
  if (!fs::exists(st)) {
    if (read_only) {
      return absl::NotFoundError(
          absl::StrCat("data dir ", dir, " does not exist; check --data-dir"));
    }
    return absl::OkStatus();
  }
  if (!fs::is_directory(st)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data dir ", dir, " is not a directory"));
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
        absl::StrCat("cannot list data dir ", dir, ": ", ec.message()));
  }
  if (rocksdb_files) {
    return absl::DataLossError(absl::StrCat(
        "data dir ", dir,
        " holds RocksDB files but no CURRENT file: restore from a backup "
        "(aisle restore) or move the directory aside"));
  }
  if (read_only) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " holds no aisle data"));
  }
  if (!empty) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", dir,
        " is not empty and is not an aisle data dir; use an empty or new "
        "directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WritableDirClaim>> WritableDirClaim::Acquire(
    const std::string& dir) {
  std::string canonical = CanonicalDir(dir);
  if (!WritableDirRegistry::Get().Claim(canonical)) {
    return absl::FailedPreconditionError(InUseMessage(dir, "this process"));
  }
  // Released by the destructor, also when the check below fails.
  std::unique_ptr<WritableDirClaim> claim(
      new WritableDirClaim(std::move(canonical)));
  if (absl::Status s = CheckNotLockedElsewhere(dir); !s.ok()) return s;
  return claim;
}

WritableDirClaim::WritableDirClaim(std::string canonical_dir)
    : canonical_dir_(std::move(canonical_dir)) {}

WritableDirClaim::~WritableDirClaim() {
  WritableDirRegistry::Get().Release(canonical_dir_);
}

absl::StatusOr<int64_t> Store::Impl::GetMetaInt(std::string_view key) const {
  absl::StatusOr<std::optional<std::string>> v = GetMeta(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return 0;
  int64_t n = 0;
  if (!absl::SimpleAtoi(**v, &n)) {
    return absl::DataLossError(absl::StrCat(
        "meta key ", core::ToAbsl(key), " in ", options.data_dir, " holds '",
        **v,
        "': restore from a backup (aisle restore) or move the directory "
        "aside"));
  }
  return n;
}

absl::Status Store::Impl::CheckAndWriteMarkers() {
  const std::string& dir = options.data_dir;
  absl::StatusOr<int64_t> schema = GetMetaInt(kSchemaVersionKey);
  if (!schema.ok()) return schema.status();
  if (*schema > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", dir, " has schema version ", *schema,
        ", newer than this aisle understands (", kSchemaVersion,
        "); run a newer aisle or restore a backup made by this version"));
  }
  if (options.read_only) return absl::OkStatus();

  absl::StatusOr<int64_t> generation = GetMetaInt(kOpenGenerationKey);
  if (!generation.ok()) return generation.status();
  const uint64_t next_generation = static_cast<uint64_t>(*generation) + 1;
  if (*generation < 0 || next_generation > kMaxOpenGeneration) {
    return absl::DataLossError(absl::StrCat(
        "meta key open_generation in ", dir, " is out of range: restore ",
        "from a backup (aisle restore) or move the directory aside"));
  }
  rocksdb::WriteBatch batch;
  batch.Put(meta, kSchemaVersionKey, absl::StrCat(kSchemaVersion));
  batch.Put(meta, kOpenGenerationKey, absl::StrCat(next_generation));
  if (absl::Status w = Write(&batch, /*sync=*/true, "initialising"); !w.ok()) {
    return w;
  }
  next_sequence = next_generation << kSequenceCounterBits;
  sequence_limit = (next_generation + 1) << kSequenceCounterBits;
  return absl::OkStatus();
}

}  // namespace aisle::storage
