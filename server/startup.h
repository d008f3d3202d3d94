// Start-up steps of AisleServer that rebuild the in-memory state from the
// store: replaying items and events into the engine, and the --demo data
// set for an empty store.
//
// Thread safety: run before the service is serving; not concurrently with
// writes to the same engine.
#ifndef AISLE_SERVER_STARTUP_H_
#define AISLE_SERVER_STARTUP_H_

#include <cstdint>

#include "absl/status/status.h"
#include "core/engine.h"
#include "core/model.h"
#include "server/model_manager.h"
#include "storage/store.h"

namespace aisle::server {

struct ReplayCounts {
  int64_t items = 0;
  int64_t events = 0;
  int64_t users = 0;  // users with attributes
};

// Upserts every stored item into `engine`, counting them in counts->items,
// then every stored user's attributes (counts->users): both are stored
// state the engine snapshot does not hold. Errors: the store's, prefixed
// with "loading items" or "loading user attributes".
absl::Status LoadItems(const storage::Store& store, core::Engine& engine,
                       ReplayCounts* counts);

// Upserts every stored item, then replays every stored event, into
// `engine` (events are not re-stored). Logs progress every 5 s. Errors:
// the store's, prefixed with "loading items" or "loading events".
absl::Status ReplayStore(const storage::Store& store, core::Engine& engine,
                         ReplayCounts* counts);

// --demo with an empty store: generates the demo catalog and events, stores
// and replays them, trains an initial model (`train_threads` ALS threads,
// 0 = all cores) with `segments` user segments (0 = none), stores it as
// the active version and serves it through
// `models`. Errors: storage or training failures, with what was being done.
absl::Status GenerateDemo(storage::Store& store, core::Engine& engine,
                          ModelManager& models,
                          const core::ModelOptions& model_options,
                          int train_threads, int segments);

}  // namespace aisle::server

#endif  // AISLE_SERVER_STARTUP_H_
