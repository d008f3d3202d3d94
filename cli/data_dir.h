// How the `aisle` data commands open a data directory, and the one rule
// for a directory that a running server holds: read it read-only, or say
// what to do instead.
//
// Thread safety: pure functions (besides opening the store).
#ifndef AISLE_CLI_DATA_DIR_H_
#define AISLE_CLI_DATA_DIR_H_

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/store.h"

namespace aisle::cli {

using StoreOrError = absl::StatusOr<std::unique_ptr<storage::Store>>;

// True for storage::Store::Open's "data dir in use by another process"
// (a running server holds its lock).
bool IsDataDirInUse(const absl::Status& status);

// Opens the store of an existing data directory with a small block cache
// (the admin commands read little). NotFound "no data dir DIR" when
// `data_dir` is not a directory; otherwise storage::Store::Open's errors.
StoreOrError OpenExisting(const std::string& data_dir, bool read_only);

// Calls open(/*read_only=*/false); when a running server holds the
// directory, calls open(true) instead, so the command works beside the
// server. *server_running says which happened.
StoreOrError OpenBesideServer(
    absl::FunctionRef<StoreOrError(bool read_only)> open, bool* server_running);

// Prints a failure to open a data dir; when a server holds it, with
// `hint_when_in_use` (what to do instead of writing to it directly).
void PrintOpenError(const absl::Status& status,
                    absl::string_view hint_when_in_use);

}  // namespace aisle::cli

#endif  // AISLE_CLI_DATA_DIR_H_
