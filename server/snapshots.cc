#include "server/snapshots.h"

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "spdlog/spdlog.h"

namespace aisle::server {

absl::StatusOr<SnapshotWritten> WriteEngineSnapshot(storage::Store& store,
                                                    const core::Engine& engine,
                                                    Ingest& ingest) {
  SnapshotWritten written;
  std::vector<std::string> pieces;
  absl::StatusOr<storage::SnapshotPosition> position;
  const auto start = core::SteadyClock::now();
  ingest.WithWritesPaused([&] {
    position = store.SnapshotPositionNow();
    if (position.ok()) pieces = engine.SaveSnapshot();
  });
  written.paused_seconds = core::SecondsSince(start);
  if (!position.ok()) return position.status();
  written.position = *position;
  for (const std::string& p : pieces) {
    written.bytes += static_cast<int64_t>(p.size());
  }
  const auto store_start = core::SteadyClock::now();
  if (absl::Status s = store.PutSnapshot(*position, pieces); !s.ok()) return s;
  written.store_seconds = core::SecondsSince(store_start);
  return written;
}

absl::Status RestoreEngine(const storage::Store& store, core::Engine& engine,
                           RestoreCounts* counts) {
  const auto start = core::SteadyClock::now();
  absl::StatusOr<std::optional<storage::StoredSnapshot>> stored =
      store.GetSnapshot();
  absl::Status unusable;
  if (!stored.ok()) {
    unusable = stored.status();
  } else if (!stored->has_value()) {
    spdlog::info("no engine snapshot stored: replaying every stored event");
  } else {
    const storage::SnapshotPosition position = (*stored)->position;
    unusable = engine.LoadSnapshot((*stored)->pieces);
    stored->reset();  // the pieces' memory
    if (unusable.ok()) {
      counts->from_snapshot = true;
      counts->snapshot_events = engine.Stats().events;
      const double load_seconds = core::SecondsSince(start);
      if (absl::Status s = LoadItems(store, engine, &counts->replayed);
          !s.ok()) {
        return s;
      }
      absl::Status s = store.ScanEventsAfter(
          position.event_sequence, [&](std::span<const core::Event> batch) {
            engine.ReplayEvents(batch);
            counts->replayed.events += static_cast<int64_t>(batch.size());
            return absl::OkStatus();
          });
      if (!s.ok()) return s;
      spdlog::info(
          "engine snapshot loaded ({} events, {:.2f} s; store position {}, "
          "log position {}); then {} items and {} newer events ({:.2f} s "
          "in all)",
          counts->snapshot_events, load_seconds, position.event_sequence,
          position.log_sequence, counts->replayed.items,
          counts->replayed.events, core::SecondsSince(start));
      return absl::OkStatus();
    }
  }
  if (!unusable.ok()) {
    spdlog::warn("engine snapshot not used ({}): replaying every stored event",
                 unusable.ToString());
  }
  return ReplayStore(store, engine, &counts->replayed);
}

}  // namespace aisle::server
