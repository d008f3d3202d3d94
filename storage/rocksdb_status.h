// Conversion of RocksDB errors into absl::Status, in one place, so that
// every error a Store method returns has the same codes and tells the
// operator what to do. Private to storage/ (not part of the API).
#ifndef AISLE_STORAGE_ROCKSDB_STATUS_H_
#define AISLE_STORAGE_ROCKSDB_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace aisle::storage {

// OK for OK. Otherwise: the data dir's LOCK held elsewhere ->
// FailedPrecondition ("... in use by another aisle process ..."); no space
// -> ResourceExhausted; corruption -> DataLoss ("restore from a backup");
// I/O errors, busy, timeouts, shutdown -> Unavailable; NotFound,
// InvalidArgument, Aborted keep their code; NotSupported ->
// FailedPrecondition; anything else -> Internal. `what` names the
// operation ("appending events"), `dir` the data directory.
absl::Status ToStatus(const rocksdb::Status& s, std::string_view what,
                      std::string_view dir);

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_ROCKSDB_STATUS_H_
