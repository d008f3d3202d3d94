#include "server/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cluster/blob_store.h"
#include "cluster/event_log.h"
#include "core/clock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "prometheus/exposer.h"
#include "server/cluster_models.h"
#include "server/cluster_writes.h"
#include "server/console_seam.h"
#include "server/cpu_policy.h"
#include "server/experiment_stats.h"
#include "server/experiments.h"
#include "server/ingest.h"
#include "server/item_activity.h"
#include "server/log_applier.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/recommendation_id.h"
#include "server/server_impl.h"
#include "server/service.h"
#include "server/snapshots.h"
#include "server/startup.h"
#include "server/writes.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

constexpr char kServiceName[] = "aisle.v1.Recommender";
// Health of writes alone: NOT_SERVING while a cluster node cannot reach the
// log, or reaches a NATS server that cannot answer for it (no quorum); it
// still serves reads. Single-node: follows the server.
constexpr char kWriteServiceName[] = "aisle.v1.Recommender.writes";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

void AisleServer::Impl::SetHealth(bool serving) {
  std::lock_guard<std::mutex> lock(health_mu);
  health_serving = serving;
  ApplyHealthLocked();
}

void AisleServer::Impl::SetLogConnected(bool connected) {
  std::lock_guard<std::mutex> lock(health_mu);
  health_log_connected = connected;
  ApplyHealthLocked();
}

void AisleServer::Impl::SetLogAnswering(bool answering) {
  std::lock_guard<std::mutex> lock(health_mu);
  health_log_answering = answering;
  ApplyHealthLocked();
}

void AisleServer::Impl::ApplyHealthLocked() {
  if (grpc_server == nullptr) return;
  grpc::HealthCheckServiceInterface* health =
      grpc_server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(health_serving);
  health->SetServingStatus(kServiceName, health_serving);
  health->SetServingStatus(kWriteServiceName, health_serving &&
                                                  health_log_connected &&
                                                  health_log_answering);
}

void AisleServer::Impl::RefreshGauges() {
  metrics->UpdateModelAge(NowMs());
  core::EngineStats stats = engine->Stats();
  metrics->SetCatalog(stats.items, stats.users);
  metrics->SetAnnCache(stats.ann_cache_hits, stats.ann_cache_misses,
                       stats.ann_cache_entries);
  metrics->SetStorageStats(store->Stats());
  for (int c = 0; c < kNumMethodClasses; ++c) {
    const AdmissionLimiter& limiter =
        admission->limiter(static_cast<MethodClass>(c));
    metrics->SetAdmission(static_cast<MethodClass>(c), limiter.limit(),
                          limiter.in_flight());
  }
}

absl::Status AisleServer::Impl::SnapshotIfChanged(bool force) {
  if (!state_loaded) {
    return absl::FailedPreconditionError("the state is not loaded yet");
  }
  std::lock_guard<std::mutex> lock(snapshot_mu);
  absl::StatusOr<storage::SnapshotPosition> now = store->SnapshotPositionNow();
  if (!now.ok()) return now.status();
  if (!force && last_snapshot.has_value() &&
      last_snapshot->event_sequence == now->event_sequence &&
      last_snapshot->erasures == now->erasures) {
    return absl::OkStatus();
  }
  absl::StatusOr<SnapshotWritten> written =
      WriteEngineSnapshot(*store, *engine, *ingest);
  if (!written.ok()) {
    spdlog::warn("engine snapshot not written: {}",
                 written.status().ToString());
    return written.status();
  }
  last_snapshot = written->position;
  spdlog::info(
      "engine snapshot written: {:.1f} MB, writes paused {:.3f} s, stored "
      "in {:.2f} s",
      written->bytes / 1e6, written->paused_seconds, written->store_seconds);
  return absl::OkStatus();
}

storage::Store::Pace AisleServer::Impl::PaceHousekeeping() {
  // After each batch of keys, waits kRest times as long as the batch took:
  // at most 1 / (1 + kRest) of a core, in pieces of well under a
  // millisecond that a request waits behind at worst. Stops at shutdown.
  static constexpr int kRest = 4;
  return [this, last = std::chrono::steady_clock::now()]() mutable {
    const auto worked = std::chrono::steady_clock::now() - last;
    std::unique_lock<std::mutex> lock(mu);
    const bool stop =
        cv.wait_for(lock, kRest * worked, [this] { return stopping; });
    last = std::chrono::steady_clock::now();
    return !stop;
  };
}

void AisleServer::Impl::EnforceRetention() {
  absl::StatusOr<int64_t> deleted = store->DeleteEventsBefore(
      NowMs() - config.event_retention_ms, PaceHousekeeping());
  if (!deleted.ok()) {
    spdlog::error("event retention: {}", deleted.status().ToString());
  } else if (*deleted > 0) {
    spdlog::info("event retention: deleted {} events older than {} days",
                 *deleted, config.event_retention_ms / 86'400'000.0);
  }
}

void AisleServer::Impl::HousekeepingLoop() {
  using Clock = std::chrono::steady_clock;
  // A scan of a million stored event ids takes about a third of a second
  // of a core here; at the normal priority in one piece it took the core
  // from the requests for as long (open-loop p99 of that second 3-6 ms).
  // Under SCHED_IDLE, on a core saturated by requests the thread got
  // almost no time while it was inside RocksDB's write path, and Feedback
  // calls waited 1-5 s for it: this work writes, so it holds what requests
  // wait for, and gets nice 10 (DemoteThisThread's kNormal) whatever the
  // policy. It paces itself instead (Pace below).
  if (absl::Status s = DemoteThisThread(CpuPolicy::kNormal); !s.ok()) {
    spdlog::warn("housekeeping runs at the normal priority: {}", s.ToString());
  }
  // Old idempotency keys are dropped once an hour; the first pass waits a
  // minute so that it does not compete with start-up.
  constexpr auto kPruneInterval = std::chrono::hours(1);
  auto next_prune = Clock::now() + std::chrono::minutes(1);
  const bool retention = config.event_retention_ms > 0;
  const auto retention_interval =
      std::chrono::milliseconds(config.event_retention_interval_ms);
  auto next_retention = Clock::now() + retention_interval;
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    auto wake = next_prune;
    if (retention) wake = std::min(wake, next_retention);
    if (cv.wait_until(lock, wake, [this] { return stopping; })) return;
    lock.unlock();
    const auto now = Clock::now();
    if (now >= next_prune) {
      absl::StatusOr<int64_t> pruned =
          store->PruneIdempotencyKeys(NowMs(), PaceHousekeeping());
      if (!pruned.ok()) {
        spdlog::error("pruning idempotency keys: {}",
                      pruned.status().ToString());
      } else if (*pruned > 0) {
        spdlog::info("pruned {} expired idempotency keys", *pruned);
      }
      next_prune = Clock::now() + kPruneInterval;
    }
    if (retention && now >= next_retention) {
      EnforceRetention();
      next_retention = Clock::now() + retention_interval;
    }
    lock.lock();
  }
}

void AisleServer::Impl::BackgroundLoop() {
  using Clock = std::chrono::steady_clock;
  const bool poll_models = config.model_poll_interval_ms > 0;
  const auto poll_interval = std::chrono::milliseconds(
      std::max<int64_t>(config.model_poll_interval_ms, 1));
  auto next_poll = Clock::now() + poll_interval;
  const bool snapshots = config.snapshot_interval_ms > 0;
  const auto snapshot_interval = std::chrono::milliseconds(
      std::max<int64_t>(config.snapshot_interval_ms, 1));
  auto next_snapshot = Clock::now() + snapshot_interval;
  // Cluster snapshots: whether one is due is checked 4 times an interval
  // (at most every 30 s): a DeleteUser is out of the bucket by then.
  const bool publish =
      cluster_snapshots != nullptr && config.cluster_snapshot_interval_ms > 0;
  const auto publish_interval = absl::Milliseconds(
      std::max<int64_t>(config.cluster_snapshot_interval_ms, 1));
  const auto publish_check = std::chrono::milliseconds(
      std::clamp<int64_t>(config.cluster_snapshot_interval_ms / 4, 10, 30'000));
  auto next_publish = Clock::now() + publish_check;
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    // With no job on a timer it still wakes once a day (a time_point::max
    // deadline is not one every condition variable takes).
    auto wake = Clock::now() + std::chrono::hours(24);
    if (poll_models) wake = std::min(wake, next_poll);
    if (snapshots) wake = std::min(wake, next_snapshot);
    if (publish) wake = std::min(wake, next_publish);
    if (cv.wait_until(lock, wake, [this] { return stopping; })) return;
    lock.unlock();
    const auto now = Clock::now();
    if (poll_models && now >= next_poll) {
      if (absl::Status status = models->PollInboxOnce(); !status.ok()) {
        spdlog::error("model poll: {}", status.ToString());
      }
      next_poll = Clock::now() + poll_interval;
    }
    if (snapshots && now >= next_snapshot) {
      SnapshotIfChanged(/*force=*/false).IgnoreError();  // logged
      next_snapshot = Clock::now() + snapshot_interval;
    }
    if (publish && now >= next_publish) {
      absl::StatusOr<std::optional<SnapshotPublished>> published =
          cluster_snapshots->PublishIfDue(publish_interval);
      if (!published.ok()) {
        spdlog::warn("cluster snapshot not published: {}",
                     published.status().ToString());
      }
      next_publish = Clock::now() + publish_check;
    }
    lock.lock();
  }
}

absl::Status AisleServer::Impl::LoadState() {
  RestoreCounts restored;
  if (absl::Status s = RestoreEngine(*store, *engine, &restored); !s.ok()) {
    return s;
  }
  const ReplayCounts& replayed = restored.replayed;
  if (restored.from_snapshot && replayed.events == 0) {
    // The engine is the stored snapshot: nothing to write until something
    // changes (positions are per open, so record this open's).
    std::lock_guard<std::mutex> lock(snapshot_mu);
    absl::StatusOr<storage::SnapshotPosition> now =
        store->SnapshotPositionNow();
    if (now.ok()) last_snapshot = *now;
  }
  if (config.demo && !restored.from_snapshot && replayed.items == 0 &&
      replayed.events == 0) {
    return GenerateDemo(*store, *engine, *models, config.engine.model,
                        config.train_threads, config.segments);
  }
  if (absl::StatusOr<int> stripped = models->StripStoredUserVectors();
      !stripped.ok()) {
    return stripped.status();
  }
  // Installing the model re-folds every replayed user against it.
  absl::Status status = models->LoadAtStartup();
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("loading the model: ", status.message()));
}

AisleServer::AisleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AisleServer::~AisleServer() {
  Shutdown();
  // Members go in dependency order: the service (its loader thread) before
  // the units it calls, those before the engine and the store they use.
  // The log first: its connection callback uses grpc_server (gRPC is
  // drained by Shutdown, so nothing calls the write path any more).
  impl_->writes.reset();
  impl_->applier.reset();  // stops applying before the units it calls go
  impl_->cluster_models.reset();
  impl_->cluster_snapshots.reset();
  impl_->snapshot_blobs.reset();
  impl_->blobs.reset();
  impl_->log.reset();
  {
    std::lock_guard<std::mutex> lock(impl_->health_mu);
    impl_->grpc_server.reset();
  }
  impl_->service.reset();
  impl_->models.reset();
  impl_->ingest.reset();
  impl_->engine.reset();
  impl_->store.reset();
}

absl::StatusOr<std::unique_ptr<AisleServer>> AisleServer::Start(
    const ServerConfig& config) {
  const auto start = core::SteadyClock::now();
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.config = config;

  if (!config.cluster.empty()) {
    if (absl::Status joined = s.JoinCluster(); !joined.ok()) return joined;
  }
  storage::StoreOptions store_options;
  store_options.data_dir = config.data_dir;
  store_options.durability = config.durability;
  store_options.idempotency_retention_ms = config.idempotency_retention_ms;
  store_options.models_to_keep = config.models_to_keep;
  store_options.block_cache_bytes =
      static_cast<size_t>(config.block_cache_bytes);
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open(store_options);
  if (!store.ok()) return store.status();
  s.store = *std::move(store);
  if (!config.cluster.empty()) {
    if (absl::Status r = s.RejoinIfBehindLog(store_options); !r.ok()) return r;
  }
  // The engine's and the model manager's: where built ANN indexes are kept.
  core::ModelOptions model_options = config.engine.model;
  {
    // Neither start-up nor a model swap waits for every user's vector to be
    // re-solved: FOR_YOU solves a stale one on the fly meanwhile.
    core::EngineOptions engine_options = config.engine;
    engine_options.refold_in_background = true;
    // Under batch (and adaptive, while its threads are under batch) no
    // request preempts the background work: it runs under SCHED_IDLE
    // instead, which every request preempts (core/engine.h). Measured
    // with adaptive and a normal background: p99 x2.76 in the first 10 s
    // after a start.
    engine_options.background_idle = config.cpu_policy != CpuPolicy::kNormal;
    // Built ANN indexes are kept for the next start and swap (when the
    // directory cannot be made, indexes are just built every time).
    const std::string ann_cache = AnnCacheDir(config.data_dir);
    std::error_code ec;
    std::filesystem::create_directories(ann_cache, ec);
    if (ec) {
      spdlog::warn(
          "no ANN index cache ({}: {}); indexes are rebuilt at "
          "every start",
          ann_cache, ec.message());
    } else {
      PruneAnnCache(*s.store, ann_cache);
      model_options.ann_cache_dir = ann_cache;
    }
    engine_options.model = model_options;
    engine_options.on_background_done = [](const std::string& message) {
      spdlog::info("{}", message);
    };
    s.engine = std::make_unique<core::Engine>(engine_options);
  }
  s.metrics = std::make_unique<Metrics>(AISLE_VERSION);
  s.access_log =
      std::make_unique<AccessLog>(config.access_log_sample, config.log_salt);
  {
    absl::StatusOr<std::unique_ptr<RecommendationIds>> ids =
        RecommendationIds::Open(config.attribution_key_file, config.data_dir,
                                config.attribution_window_ms);
    if (!ids.ok()) return ids.status();
    s.ids = *std::move(ids);
  }
  {
    absl::StatusOr<Experiments> experiments =
        Experiments::Load(config.experiments_file);
    if (!experiments.ok()) return experiments.status();
    s.experiments = std::make_unique<Experiments>(*std::move(experiments));
    absl::StatusOr<std::unique_ptr<ExperimentStats>> stats =
        ExperimentStats::Open(s.store.get());
    if (!stats.ok()) return stats.status();
    s.experiment_stats = *std::move(stats);
    s.metrics->AddVariants(*s.experiments);
  }
  s.item_activity =
      std::make_unique<ItemActivity>(absl::ToUnixMillis(absl::Now()));
  s.ingest = std::make_unique<Ingest>(
      s.engine.get(), s.store.get(), s.metrics.get(), s.access_log.get(),
      s.ids.get(), s.experiments.get(), s.experiment_stats.get(),
      s.item_activity.get());
  s.models = std::make_unique<ModelManager>(s.engine.get(), s.store.get(),
                                            s.metrics.get(), model_options,
                                            ModelInboxDir(config.data_dir));
  if (config.cluster.empty()) {
    EventBatcherOptions batching;
    batching.batch_policy = config.cpu_policy != CpuPolicy::kNormal;
    batching.on_batch = [metrics = s.metrics.get()](int64_t, size_t calls) {
      metrics->ObserveFeedbackBatch(calls);
    };
    s.event_batcher = std::make_unique<EventBatcher>(s.ingest.get(), batching);
    s.writes = std::make_unique<LocalWrites>(s.ingest.get(), s.models.get(),
                                             s.event_batcher.get());
  } else if (absl::Status c = s.StartCluster(); !c.ok()) {
    return c;
  }
  {
    AdmissionOptions read, write, admin;
    read.mode = write.mode = admin.mode = config.admission;
    // In cluster mode a write's latency is the shared log's round trip,
    // not this node's load: an adaptive limit would shed writes whenever
    // NATS is busy and send them, retried, to nodes that share the same
    // log. The write limit is fixed there (docs/cluster.md).
    if (!config.cluster.empty() && write.mode == AdmissionMode::kAdaptive) {
      write.mode = AdmissionMode::kFixed;
    }
    read.max_in_flight = config.max_in_flight_read;
    write.max_in_flight = config.max_in_flight_write;
    admin.max_in_flight = config.max_in_flight_admin;
    s.admission = std::make_unique<Admission>(read, write, admin);
  }
  RecommenderService::Units units;
  units.engine = s.engine.get();
  units.store = s.store.get();
  units.writes = s.writes.get();
  units.applier = s.applier.get();
  units.cluster_read_wait = absl::Milliseconds(config.cluster_read_wait_ms);
  units.models = s.models.get();
  units.metrics = s.metrics.get();
  units.access_log = s.access_log.get();
  units.admission = s.admission.get();
  units.ids = s.ids.get();
  units.experiments = s.experiments.get();
  units.experiment_stats = s.experiment_stats.get();
  units.item_activity = s.item_activity.get();
  units.default_exploration = config.default_exploration;
  units.clock = config.deadline_clock;
  units.recommend_work_hook = config.recommend_work_hook;
  units.recommend_queue.workers = config.workers;
  units.recommend_queue.max_queued = config.max_queued_read;
  units.recommend_queue.max_queue_delay =
      absl::Milliseconds(config.max_queue_delay_ms);
  units.recommend_queue.relax_readers =
      config.cpu_policy == CpuPolicy::kAdaptive;
  units.recommend_queue.clock = config.deadline_clock;
  s.service = std::make_unique<RecommenderService>(units);

  // From here on the destructor of `server` tears down whatever started.
  std::unique_ptr<AisleServer> server(new AisleServer(std::move(impl)));

  if (absl::Status status = s.StartPorts(); !status.ok()) return status;
  if (absl::Status status = s.LoadState(); !status.ok()) return status;
  s.state_loaded = true;
  if (s.applier != nullptr) {
    if (absl::Status status = s.applier->Start(); !status.ok()) return status;
    if (absl::Status status = s.CatchUpWithLog(); !status.ok()) return status;
  }
  s.RefreshGauges();
  s.service->SetServing(true);
  s.SetHealth(true);

  core::EngineStats stats = s.engine->Stats();
  spdlog::info("ready in {:.2f} s: {} items, {} users, {} events, model {}",
               core::SecondsSince(start), stats.items, stats.users,
               stats.events,
               stats.model_version.empty() ? "(none)" : stats.model_version);

  s.background = std::thread([&s] { s.BackgroundLoop(); });
  s.housekeeping = std::thread([&s] { s.HousekeepingLoop(); });
  return server;
}

int AisleServer::port() const { return impl_->port; }
int AisleServer::metrics_port() const { return impl_->metrics_port; }
int AisleServer::console_port() const {
  return impl_->console == nullptr ? -1 : impl_->console->port();
}
core::Engine& AisleServer::engine() { return *impl_->engine; }
storage::Store& AisleServer::store() { return *impl_->store; }
Admission& AisleServer::admission() { return *impl_->admission; }
const ServerConfig& AisleServer::config() const { return impl_->config; }
bool AisleServer::serving() const { return impl_->service->serving(); }

absl::Status AisleServer::PollModelsOnce() {
  return impl_->models->PollInboxOnce();
}

absl::StatusOr<uint64_t> AisleServer::CatchUpWithLog(absl::Time deadline) {
  if (impl_->applier == nullptr) {
    return absl::FailedPreconditionError("not in cluster mode (--cluster)");
  }
  if (absl::Status s = impl_->applier->CatchUp(deadline); !s.ok()) return s;
  return impl_->applier->applied();
}

absl::Status AisleServer::SnapshotEngine() {
  // Serialised with the background thread by the store (PutSnapshot).
  return impl_->SnapshotIfChanged(/*force=*/true);
}

absl::StatusOr<std::string> AisleServer::PublishClusterSnapshot() {
  if (impl_->cluster_snapshots == nullptr) {
    return absl::FailedPreconditionError("not in cluster mode (--cluster)");
  }
  absl::StatusOr<SnapshotPublished> published =
      impl_->cluster_snapshots->Publish();
  if (!published.ok()) return published.status();
  return published->name;
}

void AisleServer::Shutdown() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) return;
    s.stopping = true;
  }
  s.cv.notify_all();
  const auto start = core::SteadyClock::now();
  if (s.console != nullptr) s.console->Stop();  // its calls go to gRPC
  if (s.service != nullptr) s.service->SetServing(false);
  s.SetHealth(false);
  if (s.grpc_server != nullptr) {
    // New calls are refused; calls in flight get the grace period.
    s.grpc_server->Shutdown(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(s.config.shutdown_grace_ms));
    s.grpc_server->Wait();
    spdlog::debug("shutdown: gRPC drained after {:.3f} s",
                  core::SecondsSince(start));
  }
  if (s.background.joinable()) s.background.join();
  if (s.housekeeping.joinable()) s.housekeeping.join();
  if (s.applier != nullptr) s.applier->Stop();
  // The next start then replays nothing (writes have stopped).
  if (s.config.snapshot_interval_ms > 0 && s.state_loaded) {
    s.SnapshotIfChanged(/*force=*/false).IgnoreError();  // logged
  }
  s.exposer.reset();
  spdlog::debug("shutdown: metrics stopped after {:.3f} s",
                core::SecondsSince(start));
  if (s.store != nullptr) {
    if (absl::Status status = s.store->Flush(); !status.ok()) {
      spdlog::error("flushing the store at shutdown: {}", status.ToString());
    }
  }
  if (s.grpc_server != nullptr) {
    spdlog::info("shut down in {:.2f} s", core::SecondsSince(start));
  }
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.shut_down = true;
  }
  s.cv.notify_all();
}

void AisleServer::Wait() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return impl_->shut_down; });
}

}  // namespace aisle::server
