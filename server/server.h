// AisleServer: the running `aisle serve` process minus signal handling:
// storage, engine, gRPC service (with health and reflection), Prometheus
// exposer and the model hot-reload poller.
//
// Start-up (Start): open the store (holding its lock), replay items and
// events into the engine, load the active model (a corrupt one is logged
// and the previous active version, or none, is served instead: a bad model
// never prevents start-up), fold in users, and with --demo on an empty
// store generate the demo data and train an initial model. The gRPC port is
// bound before loading so clients get UNAVAILABLE (and health NOT_SERVING)
// instead of connection refused; when loading is done health turns SERVING
// for "" and "aisle.v1.Recommender".
//
// Model hot reload: a background thread runs PollModelsOnce every
// model_poll_interval_ms (unless that is -1), which installs the models
// `aisle train` dropped into the model inbox (model_manager.h). Models are
// otherwise activated via the ActivateModel RPC. The same thread drops
// expired idempotency keys once an hour and, every snapshot_interval_ms,
// snapshots the engine when events or erasures happened since the last
// snapshot (server/snapshots.h; start-up loads it and replays only newer
// events).
//
// Shutdown (Shutdown, also run by the destructor): health NOT_SERVING,
// gRPC shutdown with deadline now + shutdown_grace_ms so in-flight RPCs
// finish, background threads stopped, an engine snapshot written (unless
// snapshot_interval_ms is -1 or nothing changed), store flushed. The store
// stays open (and its directory locked) until the AisleServer is destroyed.
//
// Example (tests):
//   ServerConfig config;
//   config.port = 0; config.metrics_port = 0; config.data_dir = tmp;
//   config.model_poll_interval_ms = -1;
//   ASSIGN_OR_RETURN(auto server, AisleServer::Start(config));
//   ... connect to 127.0.0.1:server->port() ...
//   server->Shutdown();
//
// Thread safety: all methods may be called from any thread; Shutdown is
// idempotent.
#ifndef AISLE_SERVER_SERVER_H_
#define AISLE_SERVER_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/engine.h"
#include "server/admission.h"
#include "server/config.h"
#include "storage/store.h"

namespace aisle::server {

// `aisle serve`: argv[0] is "serve". Parses flags (AISLE_* env, --config),
// sets up logging, starts the server, waits for SIGTERM/SIGINT, shuts down
// gracefully. Returns the process exit code: 0 after a clean shutdown or
// --help, 2 for bad arguments, 1 when the server cannot start (e.g. the
// data dir is locked by another process).
int ServeMain(int argc, char** argv);

class AisleServer {
 public:
  // Starts serving and returns once loading is complete and health is
  // SERVING. Errors: from Store::Open (e.g. FailedPrecondition when the data
  // dir is in use), Unavailable when the ports cannot be bound, and storage
  // errors met while loading.
  static absl::StatusOr<std::unique_ptr<AisleServer>> Start(
      const ServerConfig& config);
  ~AisleServer();  // Shutdown()
  AisleServer(const AisleServer&) = delete;
  AisleServer& operator=(const AisleServer&) = delete;

  // The bound gRPC port (the actual one when config.port was 0).
  int port() const;
  // The bound metrics port; -1 when metrics are disabled.
  int metrics_port() const;
  // The bound web console port; -1 when the console is off.
  int console_port() const;

  // Graceful: stop accepting, let in-flight RPCs finish within the grace
  // period, stop background threads, flush the store. Idempotent.
  void Shutdown();
  // Blocks until Shutdown() has completed (from another thread).
  void Wait();

  // False while starting and from the start of Shutdown on.
  bool serving() const;

  // One round of the model inbox poller (ModelManager::PollInboxOnce).
  absl::Status PollModelsOnce();
  // Writes an engine snapshot now (server/snapshots.h), as the background
  // thread does every snapshot_interval_ms when something changed.
  absl::Status SnapshotEngine();
  // Cluster mode: publishes a node snapshot now (server/cluster_snapshots.h)
  // and returns its blob name. FailedPrecondition in single-node mode.
  absl::StatusOr<std::string> PublishClusterSnapshot();

  // Cluster mode: waits until this node applied everything the log held
  // when called (LogApplier::CatchUp) and returns the position applied.
  // FailedPrecondition in single-node mode; Unavailable without NATS;
  // DeadlineExceeded at `deadline`.
  absl::StatusOr<uint64_t> CatchUpWithLog(absl::Time deadline);

  core::Engine& engine();
  storage::Store& store();
  // The admission limiters (tests hold permits to fill a class).
  Admission& admission();
  const ServerConfig& config() const;

 private:
  struct Impl;
  explicit AisleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_SERVER_H_
