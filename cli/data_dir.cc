// Opening data directories from the `aisle` data commands.
#include "cli/data_dir.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "cli/output.h"
#include "cli/text.h"

namespace aisle::cli {

bool IsDataDirInUse(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) &&
         absl::StrContains(status.message(), "in use");
}

StoreOrError OpenExisting(const std::string& data_dir, bool read_only) {
  if (!std::filesystem::is_directory(data_dir)) {
    return absl::NotFoundError(Cat("no data dir ", data_dir));
  }
  storage::StoreOptions options;
  options.data_dir = data_dir;
  options.read_only = read_only;
  options.block_cache_bytes = 8 << 20;
  return storage::Store::Open(options);
}

StoreOrError OpenBesideServer(
    absl::FunctionRef<StoreOrError(bool read_only)> open,
    bool* server_running) {
  StoreOrError store = open(/*read_only=*/false);
  *server_running = !store.ok() && IsDataDirInUse(store.status());
  if (*server_running) store = open(/*read_only=*/true);
  return store;
}

void PrintOpenError(const absl::Status& status,
                    absl::string_view hint_when_in_use) {
  PrintError(status.message(),
             IsDataDirInUse(status) ? hint_when_in_use : absl::string_view());
}

}  // namespace aisle::cli
