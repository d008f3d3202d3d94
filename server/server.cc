#include "server/server.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/als.h"
#include "core/demo_data.h"
#include "core/model.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "prometheus/exposer.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/service.h"
#include "core/training.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace aisle::server {
namespace {

namespace fs = std::filesystem;

constexpr char kServiceName[] = "aisle.v1.Recommender";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(
      status.code(),
      absl::StrCat(absl::string_view(context.data(), context.size()), ": ",
                   status.message()));
}

// "20261125T101500Z-demo": sortable by training time like the versions
// `aisle train` produces.
std::string DemoModelVersion() {
  return absl::StrCat(
      absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()),
      "-demo");
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path.string()));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::UnavailableError(
        absl::StrCat("error reading ", path.string()));
  }
  return std::move(contents).str();
}

}  // namespace

std::string ModelInboxDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "model-inbox").string();
}

struct AisleServer::Impl {
  ServerConfig config;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<core::Engine> engine;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<AccessLog> access_log;
  std::unique_ptr<RecommenderService> service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<prometheus::Exposer> exposer;
  int port = 0;
  int metrics_port = -1;

  std::thread background;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;   // guarded by mu
  bool shut_down = false;  // guarded by mu

  void SetHealth(bool serving) {
    if (grpc_server == nullptr) return;
    grpc::HealthCheckServiceInterface* health =
        grpc_server->GetHealthCheckService();
    if (health == nullptr) return;
    health->SetServingStatus(serving);
    health->SetServingStatus(kServiceName, serving);
  }

  void RefreshGauges() {
    metrics->UpdateModelAge(NowMs());
    core::EngineStats stats = engine->Stats();
    metrics->SetCatalog(stats.items, stats.users);
    metrics->SetStorageStats(store->Stats());
  }

  absl::Status LoadState(int64_t* items, int64_t* events);
  absl::Status GenerateDemo();
  absl::Status PollInbox();
  // Model inbox polling (unless disabled) and idempotency-key pruning.
  void BackgroundLoop();
};

absl::Status AisleServer::Impl::LoadState(int64_t* items, int64_t* events) {
  absl::Status status =
      store->ScanItems([&](std::span<const core::Item> batch) {
        engine->UpsertItems(batch);
        *items += static_cast<int64_t>(batch.size());
        return absl::OkStatus();
      });
  if (!status.ok()) return Annotate(status, "loading items");
  auto last_log = std::chrono::steady_clock::now();
  status = store->ScanEvents([&](std::span<const core::Event> batch) {
    engine->ReplayEvents(batch);
    *events += static_cast<int64_t>(batch.size());
    if (SecondsSince(last_log) >= 5) {
      spdlog::info("replaying events: {} so far", *events);
      last_log = std::chrono::steady_clock::now();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return Annotate(status, "loading events");
  if (config.demo && *items == 0 && *events == 0) return GenerateDemo();
  // Installing the model re-folds every replayed user against it.
  return Annotate(service->LoadActiveModelAtStartup(), "loading the model");
}

absl::Status AisleServer::Impl::GenerateDemo() {
  const auto start = std::chrono::steady_clock::now();
  spdlog::info("--demo with an empty data dir: generating the demo store");
  core::DemoData demo = core::GenerateDemoData(core::DemoOptions{});
  constexpr size_t kBatch = 1000;
  for (size_t i = 0; i < demo.items.size(); i += kBatch) {
    std::span<const core::Item> batch(demo.items.data() + i,
                                      std::min(kBatch, demo.items.size() - i));
    if (absl::Status s = store->PutItems(batch); !s.ok()) {
      return Annotate(s, "storing demo items");
    }
  }
  engine->UpsertItems(demo.items);
  for (size_t i = 0; i < demo.events.size(); i += kBatch) {
    std::span<const core::Event> batch(
        demo.events.data() + i, std::min(kBatch, demo.events.size() - i));
    absl::StatusOr<storage::AppendResult> appended = store->AppendEvents(batch);
    if (!appended.ok())
      return Annotate(appended.status(), "storing demo events");
    engine->ReplayEvents(batch);
  }
  spdlog::info(
      "demo store: {} items, {} events ({:.1f} s); training the "
      "initial model",
      demo.items.size(), demo.events.size(), SecondsSince(start));

  core::TrainingOptions training;
  training.als.threads = config.train_threads;
  training.version = DemoModelVersion();
  training.extra_parameters = {{"source", "demo"}};
  const auto train_start = std::chrono::steady_clock::now();
  absl::StatusOr<core::TrainedModel> trained = core::TrainModelVersion(
      engine->ExportTrainingData(), training, config.engine.model,
      [](std::string_view phase, const core::AlsProgress& progress) {
        spdlog::info("training ({}): iteration {}/{} ({:.2f} s)", phase,
                     progress.iteration, progress.iterations, progress.seconds);
      });
  if (!trained.ok()) {
    return Annotate(trained.status(), "training the demo model");
  }
  std::shared_ptr<const core::FactorModel> model = std::move(trained->model);
  const core::ModelMetadata& metadata = model->metadata();
  if (absl::Status s = store->PutModel(metadata, model->Serialize()); !s.ok()) {
    return Annotate(s, "storing the demo model");
  }
  if (absl::Status s = store->SetActiveModel(metadata.version); !s.ok()) {
    return Annotate(s, "activating the demo model");
  }
  const auto ndcg = metadata.metrics.find("holdout_ndcg@10");
  spdlog::info("demo model {} trained in {:.1f} s (holdout nDCG@10 {:.4f})",
               metadata.version, SecondsSince(train_start),
               ndcg != metadata.metrics.end() ? ndcg->second : 0.0);
  service->ServeModel(std::move(model));
  return absl::OkStatus();
}

absl::Status AisleServer::Impl::PollInbox() {
  const fs::path inbox = ModelInboxDir(config.data_dir);
  std::error_code ec;
  if (!fs::is_directory(inbox, ec)) return absl::OkStatus();
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(inbox, ec)) {
    // Only complete drops: writers rename "<version>.model" into place.
    if (entry.is_regular_file() && entry.path().extension() == ".model") {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listing ", inbox.string(), ": ", ec.message()));
  }
  // Versions sort by training time, so the newest ends up active.
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    absl::StatusOr<std::string> blob = ReadFile(file);
    if (!blob.ok()) return blob.status();
    absl::StatusOr<core::ModelMetadata> installed =
        service->InstallModelBlob(*blob);
    if (absl::IsDataLoss(installed.status()) ||
        absl::IsInvalidArgument(installed.status())) {
      fs::path rejected = file;
      rejected += ".rejected";
      fs::rename(file, rejected, ec);
      spdlog::error("model inbox: {} rejected ({}); moved to {}", file.string(),
                    installed.status().ToString(), rejected.string());
      continue;
    }
    if (!installed.ok()) {
      return Annotate(installed.status(),
                      absl::StrCat("installing ", file.string()));
    }
    fs::remove(file, ec);
    if (ec) {
      spdlog::warn("model inbox: could not delete {}: {}", file.string(),
                   ec.message());
    }
  }
  return absl::OkStatus();
}

void AisleServer::Impl::BackgroundLoop() {
  using Clock = std::chrono::steady_clock;
  const bool poll_models = config.model_poll_interval_ms > 0;
  const auto poll_interval = std::chrono::milliseconds(
      std::max<int64_t>(config.model_poll_interval_ms, 1));
  // Old idempotency keys are dropped once an hour; the first pass waits a
  // minute so that it does not compete with start-up.
  constexpr auto kPruneInterval = std::chrono::hours(1);
  auto next_poll = Clock::now() + poll_interval;
  auto next_prune = Clock::now() + std::chrono::minutes(1);
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    const auto wake =
        poll_models ? std::min(next_poll, next_prune) : next_prune;
    if (cv.wait_until(lock, wake, [this] { return stopping; })) return;
    lock.unlock();
    const auto now = Clock::now();
    if (poll_models && now >= next_poll) {
      if (absl::Status status = PollInbox(); !status.ok()) {
        spdlog::error("model poll: {}", status.ToString());
      }
      next_poll = Clock::now() + poll_interval;
    }
    if (now >= next_prune) {
      absl::StatusOr<int64_t> pruned = store->PruneIdempotencyKeys(NowMs());
      if (!pruned.ok()) {
        spdlog::error("pruning idempotency keys: {}",
                      pruned.status().ToString());
      } else if (*pruned > 0) {
        spdlog::info("pruned {} expired idempotency keys", *pruned);
      }
      next_prune = Clock::now() + kPruneInterval;
    }
    lock.lock();
  }
}

AisleServer::AisleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AisleServer::~AisleServer() {
  Shutdown();
  // Members go in dependency order: the service (its loader thread) before
  // the engine and the store it uses.
  impl_->grpc_server.reset();
  impl_->service.reset();
  impl_->engine.reset();
  impl_->store.reset();
}

absl::StatusOr<std::unique_ptr<AisleServer>> AisleServer::Start(
    const ServerConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.config = config;

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
  {
    // Neither start-up nor a model swap waits for every user's vector to be
    // re-solved: FOR_YOU solves a stale one on the fly meanwhile.
    core::EngineOptions engine_options = config.engine;
    engine_options.refold_in_background = true;
    engine_options.on_background_done = [](const std::string& message) {
      spdlog::info("{}", message);
    };
    s.engine = std::make_unique<core::Engine>(engine_options);
  }
  s.metrics = std::make_unique<Metrics>(AISLE_VERSION);
  s.access_log =
      std::make_unique<AccessLog>(config.access_log_sample, config.log_salt);
  s.service = std::make_unique<RecommenderService>(
      s.engine.get(), s.store.get(), s.metrics.get(), s.access_log.get(),
      config.engine.model);

  // From here on the destructor of `server` tears down whatever started.
  std::unique_ptr<AisleServer> server(new AisleServer(std::move(impl)));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(config.host, ":", config.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &s.port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(config.max_message_bytes, INT32_MAX)));
  if (config.threads > 0) {
    grpc::ResourceQuota quota("aisle");
    quota.SetMaxThreads(config.threads);
    builder.SetResourceQuota(quota);
  }
  builder.RegisterService(s.service.get());
  s.grpc_server = builder.BuildAndStart();
  if (s.grpc_server == nullptr || s.port == 0) {
    s.grpc_server.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address,
                     " (port in use? pick another with --port)"));
  }
  // Bound before loading, so clients see NOT_SERVING / UNAVAILABLE while
  // the state is replayed instead of "connection refused".
  s.SetHealth(false);

  if (config.metrics_port >= 0) {
    const std::string metrics_address =
        absl::StrCat(config.host, ":", config.metrics_port);
    try {
      s.exposer = std::make_unique<prometheus::Exposer>(metrics_address);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", metrics_address, ": ",
                       e.what(), " (pick another --metrics-port or -1)"));
    }
    std::vector<int> ports = s.exposer->GetListeningPorts();
    s.metrics_port = ports.empty() ? config.metrics_port : ports.front();
    s.exposer->RegisterCollectable(s.metrics->collectable());
    s.metrics->SetScrapeCallback([&s] { s.RefreshGauges(); });
  }

  spdlog::info("aisle {}: gRPC on {}:{}, metrics {}; loading {}", AISLE_VERSION,
               config.host, s.port,
               s.metrics_port < 0 ? std::string("disabled")
                                  : absl::StrCat("on ", config.host, ":",
                                                 s.metrics_port, "/metrics"),
               config.data_dir);
  int64_t items = 0;
  int64_t events = 0;
  if (absl::Status status = s.LoadState(&items, &events); !status.ok()) {
    return status;
  }
  s.RefreshGauges();
  s.service->SetServing(true);
  s.SetHealth(true);

  core::EngineStats stats = s.engine->Stats();
  spdlog::info("ready in {:.2f} s: {} items, {} users, {} events, model {}",
               SecondsSince(start), stats.items, stats.users, stats.events,
               stats.model_version.empty() ? "(none)" : stats.model_version);

  s.background = std::thread([&s] { s.BackgroundLoop(); });
  return server;
}

int AisleServer::port() const { return impl_->port; }
int AisleServer::metrics_port() const { return impl_->metrics_port; }
core::Engine& AisleServer::engine() { return *impl_->engine; }
storage::Store& AisleServer::store() { return *impl_->store; }
const ServerConfig& AisleServer::config() const { return impl_->config; }
bool AisleServer::serving() const { return impl_->service->serving(); }

absl::Status AisleServer::PollModelsOnce() { return impl_->PollInbox(); }

void AisleServer::Shutdown() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) return;
    s.stopping = true;
  }
  s.cv.notify_all();
  const auto start = std::chrono::steady_clock::now();
  if (s.service != nullptr) s.service->SetServing(false);
  s.SetHealth(false);
  if (s.grpc_server != nullptr) {
    // New calls are refused; calls in flight get the grace period.
    s.grpc_server->Shutdown(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(s.config.shutdown_grace_ms));
    s.grpc_server->Wait();
    spdlog::debug("shutdown: gRPC drained after {:.3f} s", SecondsSince(start));
  }
  if (s.background.joinable()) s.background.join();
  s.exposer.reset();
  spdlog::debug("shutdown: metrics stopped after {:.3f} s",
                SecondsSince(start));
  if (s.store != nullptr) {
    if (absl::Status status = s.store->Flush(); !status.ok()) {
      spdlog::error("flushing the store at shutdown: {}", status.ToString());
    }
  }
  if (s.grpc_server != nullptr) {
    spdlog::info("shut down in {:.2f} s", SecondsSince(start));
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

// --- aisle serve
// -----------------------------------------------------------------

int ServeMain(int argc, char** argv) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry = *e;
    if (entry.substr(0, 6) != "AISLE_") continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  absl::StatusOr<ServerConfig> config = ParseServeArgs(argc, argv, env);
  if (!config.ok()) {
    if (IsHelpRequest(config.status())) {
      std::cout << ServeUsage();
      return 0;
    }
    std::cerr << "error: " << config.status().message()
              << "\nhint: run `aisle serve --help` for the options\n";
    return 2;
  }
  if (absl::Status s = ConfigureLogging(config->log_format, config->log_level);
      !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 2;
  }

  // Signals are taken synchronously by a dedicated thread (sigwait), so
  // shutdown work never runs inside a signal handler. They are blocked
  // before any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<AisleServer>> server =
      AisleServer::Start(*config);
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    return 1;
  }
  std::cerr << "aisle serving on " << config->host << ":" << (*server)->port()
            << " (try: aisle recommend --target localhost:" << (*server)->port()
            << " --user u1)\n";

  int signo = 0;
  sigwait(&signals, &signo);
  spdlog::info("received {}, shutting down (grace {} ms)",
               signo == SIGTERM ? "SIGTERM" : "SIGINT",
               config->shutdown_grace_ms);
  (*server)->Shutdown();
  server->reset();
  spdlog::info("bye");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace aisle::server
