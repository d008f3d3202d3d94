// Backups: Store::Checkpoint (a consistent copy while serving) and
// RestoreCheckpoint (copy into a staging dir, verify it opens, rename into
// place).
#include "rocksdb/utilities/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

namespace fs = std::filesystem;

absl::Status FsyncPath(const std::string& path, bool directory) {
  const int fd =
      ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open ", path));
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("fsync ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status Store::Checkpoint(const std::string& dir) const {
  const Impl& impl = *impl_;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("checkpoint dir ", dir,
                     " already exists; choose a new "
                     "path"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(impl.db, &raw);
  if (!s.ok()) return impl.Error(s, "starting a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  s = checkpoint->CreateCheckpoint(dir);
  if (!s.ok()) {
    return impl.Error(s, absl::StrCat("writing checkpoint ", dir));
  }
  return absl::OkStatus();
}

absl::Status Store::VerifyChecksums() const {
  rocksdb::Status s = impl_->db->VerifyChecksum();
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) {
    return absl::DataLossError(
        absl::StrCat("checksum mismatch: ", s.ToString()));
  }
  return impl_->Error(s, "verifying checksums");
}

absl::Status RestoreCheckpoint(const std::string& checkpoint_dir,
                               const std::string& data_dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(checkpoint_dir) / "CURRENT", ec)) {
    return absl::NotFoundError(
        absl::StrCat(checkpoint_dir, " is not a checkpoint (no CURRENT file)"));
  }
  if (fs::exists(data_dir, ec)) {
    if (!fs::is_directory(data_dir, ec) || !fs::is_empty(data_dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", data_dir,
          " is not empty; restore into an empty or absent directory"));
    }
  }
  fs::path target = fs::path(data_dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  const fs::path staging = fs::path(target.string() + ".restoring");
  if (fs::exists(staging, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        staging.string(),
        " exists (left by an interrupted restore?); remove it and retry"));
  }
  if (!fs::create_directories(staging, ec) || ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", staging.string(), ": ", ec.message()));
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
            absl::StrCat("copying ", entry.path().string(), " to ",
                         dest.string(), ": ", copy_ec.message())));
      }
    }
    if (absl::Status s = FsyncPath(dest.string(), false); !s.ok()) {
      return abandon(s);
    }
  }
  if (ec) {
    return abandon(absl::UnavailableError(absl::StrCat(
        "listing checkpoint ", checkpoint_dir, ": ", ec.message())));
  }
  {
    StoreOptions verify;
    verify.data_dir = staging.string();
    verify.read_only = true;
    verify.block_cache_bytes = 8 << 20;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(verify);
    if (!store.ok()) {
      return abandon(absl::DataLossError(
          absl::StrCat("checkpoint ", checkpoint_dir,
                       " does not open: ", store.status().message())));
    }
    // Opening reads only the files' footers and indexes: a damaged block
    // would be restored and fail the server later, at some read.
    if (absl::Status s = (*store)->VerifyChecksums(); !s.ok()) {
      return abandon(absl::DataLossError(
          absl::StrCat("checkpoint ", checkpoint_dir, " is damaged (",
                       s.message(), "); restore another backup")));
    }
  }
  if (fs::exists(target, ec)) fs::remove(target, ec);  // empty, checked above
  fs::rename(staging, target, ec);
  if (ec) {
    return abandon(absl::UnavailableError(
        absl::StrCat("moving ", staging.string(), " to ", target.string(), ": ",
                     ec.message())));
  }
  const fs::path parent =
      target.has_parent_path() ? target.parent_path() : fs::path(".");
  return FsyncPath(parent.string(), true);
}

absl::Status AdoptCheckpoint(const std::string& checkpoint_dir,
                             const std::string& data_dir,
                             const std::vector<std::string>& keep) {
  std::error_code ec;
  fs::path source = fs::path(checkpoint_dir).lexically_normal();
  if (!source.has_filename()) source = source.parent_path();
  fs::path target = fs::path(data_dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  if (!fs::exists(source / "CURRENT", ec)) {
    return absl::NotFoundError(
        absl::StrCat(checkpoint_dir, " is not a checkpoint (no CURRENT file)"));
  }
  if (source.parent_path() != target) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", checkpoint_dir, " is not a directory of ", data_dir));
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(target, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path() == source ||
        std::find(keep.begin(), keep.end(), name) != keep.end()) {
      continue;
    }
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", data_dir, " holds ", name,
                     "; a checkpoint is adopted only into an empty one"));
  }
  // Removes what this function put there (and what opening it made, such
  // as RocksDB's info LOG): the dir held only `keep` before.
  auto abandon = [&](absl::Status status) {
    std::error_code ignored;
    for (const fs::directory_entry& entry :
         fs::directory_iterator(target, ignored)) {
      const std::string name = entry.path().filename().string();
      if (std::find(keep.begin(), keep.end(), name) == keep.end()) {
        fs::remove_all(entry.path(), ignored);
      }
    }
    return status;
  };
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(source, ec)) {
    if (entry.is_regular_file()) names.push_back(entry.path().filename());
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listing ", checkpoint_dir, ": ", ec.message()));
  }
  // CURRENT names the MANIFEST: without it nothing opens the store.
  std::stable_partition(names.begin(), names.end(),
                        [](const std::string& n) { return n != "CURRENT"; });
  for (const std::string& name : names) {
    if (absl::Status s = FsyncPath((source / name).string(), false); !s.ok()) {
      return abandon(s);
    }
    if (name == "CURRENT") {
      if (absl::Status s = FsyncPath(target.string(), true); !s.ok()) {
        return abandon(s);
      }
    }
    fs::rename(source / name, target / name, ec);
    if (ec) {
      return abandon(absl::UnavailableError(
          absl::StrCat("moving ", (source / name).string(), " into ", data_dir,
                       ": ", ec.message())));
    }
  }
  if (absl::Status s = FsyncPath(target.string(), true); !s.ok()) {
    return abandon(s);
  }
  fs::remove_all(source, ec);
  StoreOptions verify;
  verify.data_dir = target.string();
  verify.read_only = true;
  verify.block_cache_bytes = 8 << 20;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(verify);
  if (!store.ok()) {
    return abandon(absl::DataLossError(absl::StrCat(
        "the checkpoint does not open: ", store.status().message())));
  }
  if (absl::Status s = (*store)->VerifyChecksums(); !s.ok()) {
    store->reset();
    return abandon(absl::DataLossError(
        absl::StrCat("the checkpoint is damaged: ", s.message())));
  }
  return absl::OkStatus();
}

}  // namespace aisle::storage
