// ToStatus: rocksdb::Status -> absl::Status with a message that says what
// to do.
#include "storage/rocksdb_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/string_view.h"
#include "storage/data_dir.h"

namespace aisle::storage {

absl::Status ToStatus(const rocksdb::Status& s, std::string_view what,
                      std::string_view dir) {
  if (s.ok()) return absl::OkStatus();
  const std::string detail = s.ToString();
  if (s.IsIOError() && detail.find("LOCK") != std::string::npos) {
    return absl::FailedPreconditionError(
        InUseMessage(dir, "another aisle process"));
  }
  const absl::string_view op = core::ToAbsl(what);
  const absl::string_view in = core::ToAbsl(dir);
  if (s.IsNoSpace()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "disk full writing ", in, " (", op, ": ", detail,
        "): free space, then retry or restart; no acknowledged data was "
        "lost"));
  }
  // "<what> in <dir>: <RocksDB's words>", then what to do, if anything.
  const std::string where = absl::StrCat(op, " in ", in, ": ", detail);
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(
        where,
        ": restore from a backup (aisle restore) or move the directory "
        "aside"));
  }
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() ||
      s.IsShutdownInProgress() || s.IsIncomplete()) {
    return absl::UnavailableError(
        absl::StrCat(where,
                     ": check the disk and file permissions, then "
                     "retry"));
  }
  if (s.IsNotFound()) return absl::NotFoundError(where);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(where);
  if (s.IsNotSupported()) return absl::FailedPreconditionError(where);
  if (s.IsAborted()) return absl::AbortedError(where);
  return absl::InternalError(where);
}

}  // namespace aisle::storage
