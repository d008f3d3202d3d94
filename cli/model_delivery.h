// Handing a new model version to a data directory: stored (and activated)
// when no server holds the directory, or dropped atomically into the
// running server's model inbox (server/model_manager.h), which validates,
// stores and activates it at its next poll. Shared by `aisle train` and
// `aisle models import`.
//
// Thread safety: none needed (one call per command).
#ifndef AISLE_CLI_MODEL_DELIVERY_H_
#define AISLE_CLI_MODEL_DELIVERY_H_

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/types.h"
#include "storage/store.h"

namespace aisle::cli {

// Writes `blob` to dir/name atomically (a temporary file, fsync, rename,
// fsync of the directory), creating `dir` if needed, so a reader never
// sees a partial file. Unavailable with the path and the reason on error.
absl::Status WriteFileAtomically(const std::filesystem::path& dir,
                                 const std::string& name,
                                 std::string_view blob);

// Delivers the serialized model `blob` (of version `metadata`) to
// `data_dir`. With `server_running`, writes it to the inbox (`store` is
// read-only and unused; `activate` cannot be honoured: the server
// activates inbox models, and the returned text says so); otherwise puts it
// in `store` and, with `activate`, makes it active. Returns one line for
// the user saying where the model went and what to do next; the store's
// or the file system's error otherwise.
absl::StatusOr<std::string> DeliverModel(const std::string& data_dir,
                                         bool server_running,
                                         storage::Store& store,
                                         const core::ModelMetadata& metadata,
                                         const std::string& blob,
                                         bool activate);

}  // namespace aisle::cli

#endif  // AISLE_CLI_MODEL_DELIVERY_H_
