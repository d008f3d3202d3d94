// Checks on a data directory before and while RocksDB opens it: that it is
// empty, absent or an aisle store (never somebody else's directory, never a
// damaged store RocksDB would silently recreate), and that no other writer
// holds it, in this process or another. The schema-version and
// open-generation markers are checked and written by
// Store::Impl::CheckAndWriteMarkers, in data_dir.cc. Private to storage/
// (not part of the API).
#ifndef AISLE_STORAGE_DATA_DIR_H_
#define AISLE_STORAGE_DATA_DIR_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aisle::storage {

// Version of the on-disk layout this build writes; a data dir with a newer
// one is refused.
inline constexpr int64_t kSchemaVersion = 1;

// "data dir <dir> is in use by <holder> (LOCK held); stop it or use another
// --data-dir".
std::string InUseMessage(std::string_view dir, std::string_view holder);

// OK if `dir` is absent (unless read_only: NotFound), empty (unless
// read_only: FailedPrecondition) or holds a CURRENT file. InvalidArgument
// if it is not a directory; DataLoss if it holds RocksDB files but no
// CURRENT (a damaged store); FailedPrecondition if it holds other files;
// Unavailable if it cannot be read.
absl::Status CheckDataDir(const std::string& dir, bool read_only);

// This process's claim on a data dir it opens for writing, held for as
// long as the store is open. RocksDB would report a second open itself,
// but only after rotating the holder's info LOG; and the cross-process
// check must never run against a dir this process holds, because closing
// any descriptor of the LOCK file drops the process's own fcntl lock on it.
// Thread-safe.
class WritableDirClaim {
 public:
  // FailedPrecondition ("... in use by this process ..." or "... by another
  // aisle process (pid N) ...") if this process already claimed `dir` or
  // another process holds its LOCK; touches no file in `dir`.
  static absl::StatusOr<std::unique_ptr<WritableDirClaim>> Acquire(
      const std::string& dir);
  ~WritableDirClaim();  // releases the claim
  WritableDirClaim(const WritableDirClaim&) = delete;
  WritableDirClaim& operator=(const WritableDirClaim&) = delete;

 private:
  explicit WritableDirClaim(std::string canonical_dir);
  std::string canonical_dir_;
};

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_DATA_DIR_H_
