// AisleServer::Impl's cluster mode (`--cluster`): connecting to the
// replicated log and the buckets, joining from a snapshot, catching up
// with the log, and re-joining when this node fell behind what the log
// keeps. server.cc calls StartCluster instead of making LocalWrites.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cluster/blob_store.h"
#include "cluster/event_log.h"
#include "core/clock.h"
#include "server/cluster_models.h"
#include "server/cluster_writes.h"
#include "server/log_applier.h"
#include "server/server_impl.h"
#include "server/snapshots.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

// The log's options from the flags (without callbacks).
absl::StatusOr<cluster::LogOptions> ClusterLogOptions(
    const ServerConfig& config, std::string connection_name) {
  absl::StatusOr<std::vector<std::string>> servers =
      cluster::ParseServerList(config.cluster);
  if (!servers.ok()) return servers.status();
  cluster::LogOptions options;
  options.servers = *std::move(servers);
  options.stream = config.cluster_stream;
  if (config.cluster_max_age_ms >= 0) {
    options.max_age = absl::Milliseconds(config.cluster_max_age_ms);
  }
  options.connection_name = std::move(connection_name);
  return options;
}

}  // namespace

absl::Status AisleServer::Impl::StartCluster() {
  if (config.demo) {
    return absl::InvalidArgumentError(
        "--demo is single-node only: in cluster mode load data through the "
        "API (aisle import --server ...), so that it goes through the log");
  }
  absl::StatusOr<cluster::LogOptions> log_options =
      ClusterLogOptions(config, absl::StrCat("aisle ", config.host));
  if (!log_options.ok()) return log_options.status();
  cluster::LogOptions& options = *log_options;
  options.on_connection_change = [this](bool connected) {
    metrics->SetLogConnected(connected);
    SetLogConnected(connected);
    if (connected) {
      spdlog::info("cluster: connected to the log");
    } else {
      spdlog::warn(
          "cluster: lost the connection to the log; writes answer "
          "UNAVAILABLE and reads are marked stale until it is back");
    }
  };
  absl::StatusOr<std::unique_ptr<cluster::EventLog>> connected =
      cluster::ConnectJetStream(options);
  if (!connected.ok()) return connected.status();
  log = *std::move(connected);
  metrics->SetLogConnected(log->connected());
  SetLogConnected(log->connected());
  // Model versions travel through the cluster's model bucket
  // (cluster_models.h); like the log, it is reached lazily.
  cluster::BlobStoreOptions blob_options;
  blob_options.servers = options.servers;
  blob_options.bucket = ModelBucketName(config.cluster_stream);
  blob_options.connection_name = absl::StrCat("aisle models ", config.host);
  absl::StatusOr<std::unique_ptr<cluster::BlobStore>> bucket =
      cluster::ConnectJetStreamBlobs(blob_options);
  if (!bucket.ok()) return bucket.status();
  blobs = *std::move(bucket);
  cluster_models = std::make_unique<ClusterModels>(blobs.get(), store.get(),
                                                   models.get(), metrics.get());
  LogApplierOptions applier_options;
  applier_options.ensure_model = [this](const std::string& version) {
    return cluster_models->EnsureStored(version);
  };
  cluster_snapshots = std::make_unique<ClusterSnapshots>(
      snapshot_blobs.get(), store.get(), config.data_dir,
      [this] { return SnapshotIfChanged(/*force=*/false); });
  applier_options.on_user_erased = [this](uint64_t sequence) {
    cluster_snapshots->NoteErasure(sequence);
  };
  applier_options.on_log_answering = [this](bool answering) {
    SetLogAnswering(answering);
  };
  applier =
      std::make_unique<LogApplier>(log.get(), ingest.get(), models.get(),
                                   store.get(), metrics.get(), applier_options);
  writes =
      std::make_unique<ClusterWrites>(log.get(), applier.get(), models.get(),
                                      cluster_models.get(), metrics.get());
  // A model dropped into this node's inbox is activated through the log,
  // so that every node switches, not this one alone.
  models->SetInboxActivation([this](const std::string& version) {
    return writes->ActivateModel(version, /*rollback=*/false).status();
  });
  return absl::OkStatus();
}

absl::Status AisleServer::Impl::JoinCluster() {
  absl::StatusOr<std::vector<std::string>> servers =
      cluster::ParseServerList(config.cluster);
  if (!servers.ok()) return servers.status();
  cluster::BlobStoreOptions options;
  options.servers = *std::move(servers);
  options.bucket = SnapshotBucketName(config.cluster_stream);
  options.description = "Aisle node snapshots, chunked (docs/cluster.md)";
  options.connection_name = absl::StrCat("aisle snapshots ", config.host);
  absl::StatusOr<std::unique_ptr<cluster::BlobStore>> bucket =
      cluster::ConnectJetStreamBlobs(options);
  if (!bucket.ok()) return bucket.status();
  snapshot_blobs = *std::move(bucket);
  // NATS may be starting with this node (a fresh cluster, a rolling
  // restart): its JetStream quorum can take seconds to form. A node that
  // must fetch a snapshot waits for it, up to --cluster-join-wait.
  const auto give_up = core::SteadyClock::now() +
                       std::chrono::milliseconds(config.cluster_join_wait_ms);
  auto pause = std::chrono::milliseconds(250);
  absl::StatusOr<std::optional<SnapshotJoined>> joined =
      JoinFromSnapshot(*snapshot_blobs, config.data_dir);
  while (absl::IsUnavailable(joined.status()) &&
         core::SteadyClock::now() + pause < give_up) {
    spdlog::warn(
        "cluster: {}; waiting for NATS: retrying in {} ms (up to "
        "--cluster-join-wait, {} ms)",
        std::string(joined.status().message()), pause.count(),
        config.cluster_join_wait_ms);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(5000));
    joined = JoinFromSnapshot(*snapshot_blobs, config.data_dir);
  }
  if (!joined.ok()) return joined.status();
  if (joined->has_value()) {
    const SnapshotJoined& j = **joined;
    spdlog::info(
        "cluster: joined from snapshot {} ({:.1f} MB, log position {}) in "
        "{:.2f} s; the log's tail follows",
        j.name, j.bytes / 1e6, j.position, j.seconds);
  }
  return absl::OkStatus();
}

absl::Status AisleServer::Impl::RejoinIfBehindLog(
    const storage::StoreOptions& store_options) {
  absl::StatusOr<uint64_t> applied = store->AppliedLogSequence();
  if (!applied.ok()) return applied.status();
  absl::StatusOr<cluster::LogOptions> options =
      ClusterLogOptions(config, absl::StrCat("aisle start ", config.host));
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<cluster::EventLog>> log =
      cluster::ConnectJetStream(*options);
  if (!log.ok()) return absl::OkStatus();  // the applier will find out
  absl::StatusOr<std::unique_ptr<cluster::LogReader>> reader =
      (*log)->OpenReader(*applied + 1);
  if (!absl::IsOutOfRange(reader.status())) return absl::OkStatus();
  spdlog::warn(
      "cluster: this node applied the log up to entry {}, but {}: replacing "
      "its store with the newest snapshot",
      *applied, std::string(reader.status().message()));
  store.reset();
  JoinOptions join;
  join.replace_store = true;
  join.newer_than = *applied;
  absl::StatusOr<std::optional<SnapshotJoined>> joined =
      JoinFromSnapshot(*snapshot_blobs, config.data_dir, join);
  if (!joined.ok()) return joined.status();
  if (!joined->has_value()) {
    return absl::OutOfRangeError(absl::StrCat(
        "this node applied the log up to entry ", *applied, ", but ",
        reader.status().message(),
        ", and the cluster has no snapshot later than that to re-join from: "
        "let a node that is up to date publish one "
        "(--cluster-snapshot-interval), then restart this one"));
  }
  const SnapshotJoined& j = **joined;
  spdlog::info(
      "cluster: re-joined from snapshot {} ({:.1f} MB, log position {}) in "
      "{:.2f} s; the log's tail follows",
      j.name, j.bytes / 1e6, j.position, j.seconds);
  absl::StatusOr<std::unique_ptr<storage::Store>> reopened =
      storage::Store::Open(store_options);
  if (!reopened.ok()) return reopened.status();
  store = *std::move(reopened);
  return absl::OkStatus();
}

absl::Status AisleServer::Impl::CatchUpWithLog() {
  const auto start = core::SteadyClock::now();
  // Bounded: a node far behind serves (its answers are those of an older
  // position) rather than staying down; it keeps applying meanwhile.
  absl::Status status = applier->CatchUp(absl::Now() + absl::Minutes(5));
  if (status.ok()) {
    spdlog::info("cluster: caught up with the log at position {} in {:.2f} s",
                 applier->applied(), core::SecondsSince(start));
  } else if (absl::IsOutOfRange(status)) {
    return status;  // its answers would miss what the log lost: refuse
  } else {
    spdlog::warn("cluster: serving before catching up with the log: {}",
                 status.ToString());
  }
  return absl::OkStatus();
}

}  // namespace aisle::server
