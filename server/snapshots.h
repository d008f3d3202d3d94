// Engine snapshots in the server: writing one (periodically and at
// shutdown, server.cc) and starting from one, so that start-up time does
// not grow with the stored history.
//
// Consistency: a snapshot is the engine's state at a point where the store
// and the engine hold the same events. WriteEngineSnapshot takes it with
// the writes paused (Ingest::WithWritesPaused: no append or erasure in
// flight), reads the store's position and serialises the engine under its
// shared lock there; Recommend goes on meanwhile, Feedback waits (about
// 0.1 s per million events held), and the store write happens after the
// writes resume. An erasure in between makes the store refuse the
// snapshot (it may hold the user); the next one is written without.
//
// Start-up (RestoreEngine): the stored snapshot, then the catalog, then the
// events stored after the snapshot's position, in arrival order. A
// missing, damaged or foreign snapshot (checksum, format version, other
// engine options) is logged as a warning and every event is replayed
// instead (ReplayStore).
//
// Thread safety: WriteEngineSnapshot may run concurrently with serving;
// RestoreEngine runs before serving, on an engine nothing else uses.
#ifndef AISLE_SERVER_SNAPSHOTS_H_
#define AISLE_SERVER_SNAPSHOTS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/engine.h"
#include "server/ingest.h"
#include "server/startup.h"
#include "storage/store.h"

namespace aisle::server {

struct SnapshotWritten {
  storage::SnapshotPosition position;
  int64_t bytes = 0;
  double paused_seconds = 0;  // writes waited this long
  double store_seconds = 0;   // writing it to the store
};

// Snapshots `engine` into `store`. Errors: the store's; Aborted if a user
// was erased while it was being written (nothing stored; try again).
absl::StatusOr<SnapshotWritten> WriteEngineSnapshot(storage::Store& store,
                                                    const core::Engine& engine,
                                                    Ingest& ingest);

struct RestoreCounts {
  ReplayCounts replayed;  // items loaded, events replayed
  bool from_snapshot = false;
  int64_t snapshot_events = 0;  // events the snapshot held
};

// Fills a fresh `engine` from the store: from the snapshot when one is
// usable, else by replaying every event (see the file comment). Errors:
// the store's, as ReplayStore's.
absl::Status RestoreEngine(const storage::Store& store, core::Engine& engine,
                           RestoreCounts* counts);

}  // namespace aisle::server

#endif  // AISLE_SERVER_SNAPSHOTS_H_
