// AisleServer::Impl: the units of a running server and the steps that
// start, run and stop them. Internal to server/server*.cc: server.cc
// builds the units, loads the state and runs the background loop and
// shutdown; server_ports.cc binds the gRPC port (credentials,
// authentication, limits), the /metrics listener and the web console.
// server.h states the order of start-up and shutdown.
//
// Thread safety: members are set up by AisleServer::Start before the
// background thread starts and torn down by the destructor after Shutdown;
// in between, the fields marked below are guarded by their mutex.
#ifndef AISLE_SERVER_SERVER_IMPL_H_
#define AISLE_SERVER_SERVER_IMPL_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "cluster/blob_store.h"
#include "cluster/event_log.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/exposer.h"
#include "server/auth.h"
#include "server/cluster_models.h"
#include "server/cluster_snapshots.h"
#include "server/console_seam.h"
#include "server/experiment_stats.h"
#include "server/experiments.h"
#include "server/ingest.h"
#include "server/item_activity.h"
#include "server/log_applier.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/recommendation_id.h"
#include "server/server.h"
#include "server/service.h"
#include "server/writes.h"

namespace aisle::server {

struct AisleServer::Impl {
  ServerConfig config;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<core::Engine> engine;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<AccessLog> access_log;
  std::unique_ptr<RecommendationIds> ids;
  std::unique_ptr<Experiments> experiments;
  std::unique_ptr<ExperimentStats> experiment_stats;
  std::unique_ptr<ItemActivity> item_activity;
  std::unique_ptr<Ingest> ingest;
  // Single-node mode: Feedback's writes stored together (null otherwise).
  std::unique_ptr<EventBatcher> event_batcher;
  std::unique_ptr<ModelManager> models;
  // Cluster mode only: the replicated log and this node's applier of it.
  std::unique_ptr<cluster::EventLog> log;
  std::unique_ptr<cluster::BlobStore> blobs;  // the model bucket
  std::unique_ptr<ClusterModels> cluster_models;
  // The snapshot bucket (connected before the store opens: an empty node
  // joins from it) and this node's publisher to it.
  std::unique_ptr<cluster::BlobStore> snapshot_blobs;
  std::unique_ptr<ClusterSnapshots> cluster_snapshots;
  std::unique_ptr<LogApplier> applier;
  std::unique_ptr<Writes> writes;  // LocalWrites or ClusterWrites
  std::unique_ptr<Admission> admission;
  std::unique_ptr<RecommenderService> service;
  // Shared with the port's credentials, which gRPC keeps until the server
  // is destroyed.
  std::shared_ptr<Authenticator> auth;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::unique_ptr<console::ConsoleServer> console;  // null when off
  int port = 0;
  int metrics_port = -1;

  std::thread background;    // BackgroundLoop
  std::thread housekeeping;  // HousekeepingLoop
  std::mutex mu;
  std::condition_variable cv;
  // Set once LoadState succeeded: only then is the engine a snapshot of
  // the store (a failed start must not store a partial one).
  std::atomic<bool> state_loaded{false};
  // Orders snapshot writers (background thread, Shutdown, tests).
  std::mutex snapshot_mu;
  // What the last engine snapshot covered.
  std::optional<storage::SnapshotPosition> last_snapshot;  // snapshot_mu
  bool stopping = false;                                   // guarded by mu
  bool shut_down = false;                                  // guarded by mu

  // Orders health changes (serving, and the log's connection, reported
  // from a NATS thread) and guards grpc_server against that thread.
  std::mutex health_mu;
  bool health_serving = false;       // guarded by health_mu
  bool health_log_connected = true;  // guarded by health_mu
  bool health_log_answering = true;  // guarded by health_mu

  // Sets the health of "", the service and its writes (NOT_SERVING while
  // a cluster node cannot reach the log).
  void SetHealth(bool serving);
  void SetLogConnected(bool connected);
  // Connected, but the log does not answer (LogApplierOptions::
  // on_log_answering): writes NOT_SERVING as well.
  void SetLogAnswering(bool answering);
  void ApplyHealthLocked();  // requires health_mu
  // Refreshes the gauges a scrape reads (model age, catalog, storage,
  // admission).
  void RefreshGauges();
  // Writes an engine snapshot when events or erasures happened since the
  // last one (or always, if `force`); logs the outcome.
  absl::Status SnapshotIfChanged(bool force);
  // Binds the gRPC port (credentials, authentication, limits), starts the
  // /metrics listener and the web console
  // (server_ports.cc). Unavailable when a port cannot be bound; the
  // errors of the TLS and credential files.
  absl::Status StartPorts();
  // Replays the store into the engine, then loads the active model (or,
  // with --demo and an empty store, generates the demo data and model).
  absl::Status LoadState();
  // Model inbox polling (unless disabled), engine snapshots and cluster
  // snapshot publishing.
  void BackgroundLoop();
  // Idempotency-key pruning and event retention (long scans of the store
  // that write small delete batches), on their own thread at nice 10
  // (which it cannot undo, so BackgroundLoop's snapshots, which pause
  // writes, keep the normal priority elsewhere), paced by
  // PaceHousekeeping.
  void HousekeepingLoop();
  // The housekeeping's pace (storage::Store::Pace): rests 4x as long as
  // each batch of keys took, and stops the run once `stopping` is set.
  storage::Store::Pace PaceHousekeeping();
  // Cluster mode: connects to the log and sets up the applier and the
  // cluster write path (not started yet).
  absl::Status StartCluster();
  // Cluster mode, before the store opens: connects the snapshot bucket
  // and, when the data dir is empty, restores the newest snapshot into it.
  absl::Status JoinCluster();
  // Cluster mode, right after the store opened: when the log no longer
  // holds the entries after the store's position (retention deleted them
  // while this node was down), replaces the store with the newest snapshot
  // later than that position and reopens it. OutOfRange when there is no
  // such snapshot; Open's and JoinFromSnapshot's errors. A log that cannot
  // be reached now is left to the applier.
  absl::Status RejoinIfBehindLog(const storage::StoreOptions& store_options);
  // Cluster mode, after LoadState: applies the log from the store's
  // position and waits (bounded) until this node has caught up.
  // OutOfRange when the log no longer holds what this node needs next.
  absl::Status CatchUpWithLog();
  // Deletes the events older than config.event_retention_ms.
  void EnforceRetention();
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_SERVER_IMPL_H_
