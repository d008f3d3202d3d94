#include "server/metrics.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "prometheus/metric_family.h"
#include "server/grpc_status.h"

namespace aisle::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

constexpr std::array<std::string_view, kNumMethods> kMethodNames = {
    "Recommend",    "Feedback",     "ImportEvents",  "UpsertItems",
    "DeleteItems",  "GetItem",      "GetUser",       "DeleteUser",
    "GetModelInfo", "ListModels",   "ActivateModel", "GetExperimentReport",
    "Rank",         "ListSegments", "ExportSegment", "MergeUsers",
    "UpsertUsers",
};

const Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
  return *buckets;
}

std::string Str(std::string_view s) { return std::string(s); }

}  // namespace

bool IsAttributedType(core::EventType type) {
  return type == core::EventType::kImpression ||
         type == core::EventType::kClick ||
         type == core::EventType::kAddToCart ||
         type == core::EventType::kPurchase;
}

void Metrics::AddVariants(const Experiments& experiments) {
  for (const ExperimentConfig& xp : experiments.experiments()) {
    for (core::Scenario scenario : xp.scenarios) {
      for (const VariantConfig& v : xp.variants) {
        RecommendedItemsCounter(scenario, v.name);
        for (core::EventType type :
             {core::EventType::kImpression, core::EventType::kClick,
              core::EventType::kAddToCart, core::EventType::kPurchase}) {
          AttributedCounter(scenario, v.name, type);
        }
      }
    }
  }
}

std::string_view MethodName(Method method) {
  return kMethodNames[static_cast<int>(method)];
}

// Runs the scrape callback, then collects the registry.
class Metrics::Scraper : public prometheus::Collectable {
 public:
  explicit Scraper(std::shared_ptr<prometheus::Registry> registry)
      : registry_(std::move(registry)) {}
  void SetCallback(std::function<void()> callback) {
    absl::MutexLock lock(&mu_);
    callback_ = std::move(callback);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    {
      absl::MutexLock lock(&mu_);
      if (callback_) callback_();
    }
    return registry_->Collect();
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable absl::Mutex mu_;
  std::function<void()> callback_ ABSL_GUARDED_BY(mu_);
};

Metrics::Metrics(std::string_view build_version)
    : registry_(std::make_shared<prometheus::Registry>()),
      scraper_(std::make_shared<Scraper>(registry_)) {
  prometheus::Registry& r = *registry_;
  BuildGauge()
      .Name("aisle_build_info")
      .Help("Build version (value 1)")
      .Register(r)
      .Add({{"version", Str(build_version)}})
      .Set(1);
  up_ = &BuildGauge()
             .Name("aisle_up")
             .Help("1 while SERVING, 0 while starting or draining")
             .Register(r)
             .Add({});

  requests_total_ = &BuildCounter()
                         .Name("aisle_grpc_requests_total")
                         .Help("RPCs finished, by method and status code")
                         .Register(r);
  auto& durations = BuildHistogram()
                        .Name("aisle_grpc_request_duration_seconds")
                        .Help("Server-side RPC latency")
                        .Register(r);
  auto& in_flight = BuildGauge()
                        .Name("aisle_grpc_requests_in_flight")
                        .Help("RPCs being handled now")
                        .Register(r);
  auto& shed = BuildCounter()
                   .Name("aisle_rpc_shed_total")
                   .Help(
                       "Requests refused without doing their work, by "
                       "method and reason (limit, deadline, cancelled)")
                   .Register(r);
  auto& unparsable =
      BuildCounter()
          .Name("aisle_rpc_unparsable_requests_total")
          .Help("Request messages that could not be parsed, by method")
          .Register(r);
  static constexpr std::array<std::string_view, kNumShedReasons> kReasons = {
      "limit", "deadline", "cancelled"};
  for (int m = 0; m < kNumMethods; ++m) {
    prometheus::Labels labels{{"method", Str(kMethodNames[m])}};
    durations_[m] = &durations.Add(labels, LatencyBuckets());
    in_flight_[m] = &in_flight.Add(labels);
    unparsable_[m] = &unparsable.Add(labels);
    for (int reason = 0; reason < kNumShedReasons; ++reason) {
      shed_[m][reason] = &shed.Add({{"method", Str(kMethodNames[m])},
                                    {"reason", Str(kReasons[reason])}});
    }
  }
  auto& auth_refused =
      BuildCounter()
          .Name("aisle_auth_refused_total")
          .Help(
              "Calls refused before their handler for a missing or invalid "
              "credential (UNAUTHENTICATED) or too low a role "
              "(PERMISSION_DENIED), by method")
          .Register(r);
  for (int m = 0; m < kNumMethods; ++m) {
    auth_refused_[m][0] = &auth_refused.Add(
        {{"method", Str(kMethodNames[m])}, {"code", "UNAUTHENTICATED"}});
    auth_refused_[m][1] = &auth_refused.Add(
        {{"method", Str(kMethodNames[m])}, {"code", "PERMISSION_DENIED"}});
  }
  auto& admission_limit =
      BuildGauge()
          .Name("aisle_admission_limit")
          .Help("Requests of a method class admitted at once (current limit)")
          .Register(r);
  auto& admission_in_flight =
      BuildGauge()
          .Name("aisle_admission_in_flight")
          .Help("Admitted requests of a method class being worked on")
          .Register(r);
  for (int c = 0; c < kNumMethodClasses; ++c) {
    prometheus::Labels labels{
        {"class", Str(MethodClassName(static_cast<MethodClass>(c)))}};
    admission_limit_[c] = &admission_limit.Add(labels);
    admission_in_flight_[c] = &admission_in_flight.Add(labels);
  }

  model_info_family_ = &BuildGauge()
                            .Name("aisle_model_info")
                            .Help("The serving model version (value 1)")
                            .Register(r);
  model_trained_ = &BuildGauge()
                        .Name("aisle_model_trained_timestamp_seconds")
                        .Help(
                            "Unix time the serving model was trained (0 = "
                            "none)")
                        .Register(r)
                        .Add({});
  model_age_ = &BuildGauge()
                    .Name("aisle_model_age_seconds")
                    .Help("Seconds since the serving model was trained")
                    .Register(r)
                    .Add({});
  catalog_items_ = &BuildGauge()
                        .Name("aisle_catalog_items")
                        .Help("Items in the catalog")
                        .Register(r)
                        .Add({});
  known_users_ = &BuildGauge()
                      .Name("aisle_known_users")
                      .Help("Users with events")
                      .Register(r)
                      .Add({});

  auto& events = BuildCounter()
                     .Name("aisle_events_total")
                     .Help("Events accepted (stored), by type")
                     .Register(r);
  for (int t = 1; t < core::kNumEventTypes; ++t) {
    const std::string_view name =
        core::EventTypeName(static_cast<core::EventType>(t));
    if (name.empty()) continue;  // a number no type has (never validated)
    events_[t] = &events.Add({{"type", Str(name)}});
  }
  duplicates_ = &BuildCounter()
                     .Name("aisle_events_duplicate_total")
                     .Help("Events skipped as duplicates")
                     .Register(r)
                     .Add({});
  auto& rejected =
      BuildCounter()
          .Name("aisle_attribution_rejected_total")
          .Help(
              "Stored events whose recommendation_id was not attributed: "
              "malformed, forged (MAC does not verify for the event's user) "
              "or expired")
          .Register(r);
  for (int i = 0; i < kNumIdRejections; ++i) {
    attribution_rejected_[i] = &rejected.Add(
        {{"reason", Str(IdRejectionName(static_cast<IdRejection>(i)))}});
  }
  fold_in_ = &BuildHistogram()
                  .Name("aisle_fold_in_duration_seconds")
                  .Help(
                      "Time to apply Feedback events to the engine, "
                      "including re-solving the users' vectors")
                  .Register(r)
                  .Add({}, LatencyBuckets());
  feedback_batch_calls_ =
      &BuildHistogram()
           .Name("aisle_feedback_batch_calls")
           .Help(
               "Feedback calls stored together in one write (single-node "
               "mode): one observation per batch")
           .Register(r)
           .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32,
                                                            64, 128, 256});
  auto& retrieval = BuildHistogram()
                        .Name("aisle_retrieval_duration_seconds")
                        .Help("Factor-model retrieval latency by path")
                        .Register(r);
  retrieval_ann_ = &retrieval.Add({{"path", "ann"}}, LatencyBuckets());
  retrieval_exact_ = &retrieval.Add({{"path", "exact"}}, LatencyBuckets());
  auto& candidates = BuildCounter()
                         .Name("aisle_candidates_total")
                         .Help("Candidates produced per source")
                         .Register(r);
  for (int s = 1; s < static_cast<int>(candidates_.size()); ++s) {
    candidates_[s] = &candidates.Add(
        {{"source", Str(core::SourceName(static_cast<core::Source>(s)))}});
  }
  auto& recommendations = BuildCounter()
                              .Name("aisle_recommendations_total")
                              .Help("Recommend responses by scenario")
                              .Register(r);
  auto& fallbacks = BuildCounter()
                        .Name("aisle_recommend_fallback_total")
                        .Help("Recommend responses served from a fallback")
                        .Register(r);
  for (int s = 1; s < static_cast<int>(recommendations_.size()); ++s) {
    prometheus::Labels labels{
        {"scenario", Str(core::ScenarioName(static_cast<core::Scenario>(s)))}};
    recommendations_[s] = &recommendations.Add(labels);
    fallbacks_[s] = &fallbacks.Add(labels);
  }
  storage_write_ = &BuildHistogram()
                        .Name("aisle_storage_write_duration_seconds")
                        .Help("RocksDB write latency (events, items)")
                        .Register(r)
                        .Add({}, LatencyBuckets());
  storage_read_ = &BuildHistogram()
                       .Name("aisle_storage_read_duration_seconds")
                       .Help("RocksDB point read latency")
                       .Register(r)
                       .Add({}, LatencyBuckets());
  log_connected_ = &BuildGauge()
                        .Name("aisle_cluster_connected")
                        .Help(
                            "1 when connected to the cluster's log (NATS); "
                            "single-node servers: 1")
                        .Register(r)
                        .Add({});
  log_connected_->Set(1);
  log_applied_ = &BuildGauge()
                      .Name("aisle_cluster_applied_position")
                      .Help("Last log entry applied on this node")
                      .Register(r)
                      .Add({});
  log_end_ = &BuildGauge()
                  .Name("aisle_cluster_log_end_position")
                  .Help("Newest log entry, as last seen by this node")
                  .Register(r)
                  .Add({});
  replication_lag_ =
      &BuildHistogram()
           .Name("aisle_cluster_replication_lag_seconds")
           .Help("From the log storing an entry to this node applying it")
           .Register(r)
           .Add({}, Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005,
                                                0.01, 0.025, 0.05, 0.1, 0.25,
                                                0.5, 1, 2.5, 5, 10, 30, 60});
  log_append_ = &BuildHistogram()
                     .Name("aisle_cluster_append_duration_seconds")
                     .Help("Appending a write to the log, until acknowledged")
                     .Register(r)
                     .Add({}, LatencyBuckets());
  log_append_failures_ = &BuildCounter()
                              .Name("aisle_cluster_append_failures_total")
                              .Help("Appends to the log that failed")
                              .Register(r)
                              .Add({});
  model_fetches_family_ =
      &BuildCounter()
           .Name("aisle_cluster_model_fetches_total")
           .Help(
               "Model versions fetched from the cluster's model bucket, by "
               "result (ok, not_found, refused, unavailable)")
           .Register(r);
  for (const char* result : {"ok", "not_found", "refused", "unavailable"}) {
    model_fetches_family_->Add({{"result", result}});
  }
  model_fetch_seconds_ =
      &BuildHistogram()
           .Name("aisle_cluster_model_fetch_seconds")
           .Help("Fetching a model version from the cluster's model bucket")
           .Register(r)
           .Add({}, Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                2.5, 5, 10, 30, 60, 120});
  storage_live_bytes_ = &BuildGauge()
                             .Name("aisle_storage_live_data_bytes")
                             .Help("RocksDB live SST bytes")
                             .Register(r)
                             .Add({});
  storage_pending_compaction_ =
      &BuildGauge()
           .Name("aisle_storage_pending_compaction_bytes")
           .Help("RocksDB estimated pending compaction bytes")
           .Register(r)
           .Add({});
  storage_memtable_ = &BuildGauge()
                           .Name("aisle_storage_memtable_bytes")
                           .Help("RocksDB memtable bytes")
                           .Register(r)
                           .Add({});
  ann_cache_hits_ = &BuildCounter()
                         .Name("aisle_ann_cache_hits_total")
                         .Help("ANN searches answered from kept answers")
                         .Register(r)
                         .Add({});
  ann_cache_misses_ = &BuildCounter()
                           .Name("aisle_ann_cache_misses_total")
                           .Help("ANN searches searched (no kept answer)")
                           .Register(r)
                           .Add({});
  ann_cache_entries_ = &BuildGauge()
                            .Name("aisle_ann_cache_entries")
                            .Help("ANN answers kept by the serving index")
                            .Register(r)
                            .Add({});
  attributed_family_ =
      &BuildCounter()
           .Name("aisle_attributed_events_total")
           .Help(
               "Events carrying a recommendation_id, by the scenario and "
               "variant of that recommendation")
           .Register(r);
  recommended_items_family_ =
      &BuildCounter()
           .Name("aisle_recommended_items_total")
           .Help("Items returned in Recommend responses")
           .Register(r);

  // Every series whose label values are known up front exists from start
  // at 0, so that dashboards and alerts (rate(), ratios, absent()) see it
  // before the first event. Only the variants the server issues are known.
  for (int m = 0; m < kNumMethods; ++m) {
    for (int c = 0; c < kNumCodes; ++c) {
      RequestCounter(static_cast<Method>(m), static_cast<grpc::StatusCode>(c));
    }
  }
  for (int s = 1; s < static_cast<int>(recommendations_.size()); ++s) {
    const auto scenario = static_cast<core::Scenario>(s);
    RecommendedItemsCounter(scenario, kDefaultVariant);
    for (core::EventType type :
         {core::EventType::kImpression, core::EventType::kClick,
          core::EventType::kAddToCart, core::EventType::kPurchase}) {
      AttributedCounter(scenario, kDefaultVariant, type);
    }
  }
}

std::shared_ptr<prometheus::Collectable> Metrics::collectable() {
  return scraper_;
}

void Metrics::SetScrapeCallback(std::function<void()> callback) {
  scraper_->SetCallback(std::move(callback));
}

prometheus::Counter* Metrics::RequestCounter(Method method,
                                             grpc::StatusCode code) {
  int c = static_cast<int>(code);
  if (c < 0 || c >= kNumCodes) c = static_cast<int>(grpc::StatusCode::UNKNOWN);
  std::atomic<prometheus::Counter*>& slot =
      requests_[static_cast<int>(method)][c];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter != nullptr) return counter;
  std::lock_guard<std::mutex> lock(series_mu_);
  counter = slot.load(std::memory_order_relaxed);
  if (counter == nullptr) {
    counter = &requests_total_->Add(
        {{"method", Str(MethodName(method))},
         {"code", Str(GrpcCodeName(static_cast<grpc::StatusCode>(c)))}});
    slot.store(counter, std::memory_order_release);
  }
  return counter;
}

void Metrics::RpcStarted(Method method) {
  in_flight_[static_cast<int>(method)]->Increment();
}

void Metrics::RpcFinished(Method method, grpc::StatusCode code,
                          double seconds) {
  int m = static_cast<int>(method);
  in_flight_[m]->Decrement();
  durations_[m]->Observe(seconds);
  RequestCounter(method, code)->Increment();
}

void Metrics::Shed(Method method, ShedReason reason) {
  shed_[static_cast<int>(method)][static_cast<int>(reason)]->Increment();
}

void Metrics::AuthRefused(Method method, grpc::StatusCode code) {
  const int column = code == grpc::StatusCode::PERMISSION_DENIED ? 1 : 0;
  auth_refused_[static_cast<int>(method)][column]->Increment();
}

void Metrics::Unparsable(Method method) {
  unparsable_[static_cast<int>(method)]->Increment();
}

void Metrics::SetAdmission(MethodClass c, int limit, int in_flight) {
  admission_limit_[static_cast<int>(c)]->Set(limit);
  admission_in_flight_[static_cast<int>(c)]->Set(in_flight);
}

void Metrics::SetUp(bool up) { up_->Set(up ? 1 : 0); }

void Metrics::SetModel(const std::string& version, int64_t trained_at_ms) {
  absl::MutexLock lock(&model_mu_);
  if (model_info_ != nullptr) {
    model_info_family_->Remove(model_info_);
    model_info_ = nullptr;
  }
  if (!version.empty()) {
    model_info_ = &model_info_family_->Add({{"version", version}});
    model_info_->Set(1);
  }
  model_trained_at_ms_.store(version.empty() ? 0 : trained_at_ms);
  model_trained_->Set(version.empty() ? 0 : trained_at_ms / 1000.0);
}

void Metrics::UpdateModelAge(int64_t now_ms) {
  int64_t trained = model_trained_at_ms_.load();
  model_age_->Set(trained == 0 ? 0 : (now_ms - trained) / 1000.0);
}

void Metrics::SetCatalog(int64_t items, int64_t users) {
  catalog_items_->Set(static_cast<double>(items));
  known_users_->Set(static_cast<double>(users));
}

void Metrics::SetAnnCache(uint64_t hits, uint64_t misses, int64_t entries) {
  absl::MutexLock lock(&ann_cache_mu_);
  // Below the last figures: another index, counting from 0.
  const auto added = [](uint64_t now, uint64_t& last) {
    const uint64_t delta = now >= last ? now - last : now;
    last = now;
    return static_cast<double>(delta);
  };
  ann_cache_hits_->Increment(added(hits, last_ann_hits_));
  ann_cache_misses_->Increment(added(misses, last_ann_misses_));
  ann_cache_entries_->Set(static_cast<double>(entries));
}

void Metrics::SetStorageStats(const storage::StoreStats& stats) {
  storage_live_bytes_->Set(static_cast<double>(stats.live_data_bytes));
  storage_pending_compaction_->Set(
      static_cast<double>(stats.pending_compaction_bytes));
  storage_memtable_->Set(static_cast<double>(stats.memtable_bytes));
}

void Metrics::EventStored(core::EventType type) {
  int t = static_cast<int>(type);
  if (t > 0 && t < core::kNumEventTypes && events_[t] != nullptr) {
    events_[t]->Increment();
  }
}

void Metrics::AttributionRejected(IdRejection rejection) {
  attribution_rejected_[static_cast<int>(rejection)]->Increment();
}

void Metrics::EventsDuplicate(int64_t count) {
  if (count > 0) duplicates_->Increment(static_cast<double>(count));
}

void Metrics::EventAttributed(core::Scenario scenario, std::string_view variant,
                              core::EventType type) {
  if (!IsAttributedType(type)) return;
  AttributedCounter(scenario, variant, type)->Increment();
}

prometheus::Counter* Metrics::AttributedCounter(core::Scenario scenario,
                                                std::string_view variant,
                                                core::EventType type) {
  auto key = std::make_tuple(static_cast<int>(scenario), std::string(variant),
                             static_cast<int>(type));
  absl::MutexLock lock(&labeled_mu_);
  auto [it, inserted] = attributed_.try_emplace(key, nullptr);
  if (inserted) {
    it->second = &attributed_family_->Add(
        {{"scenario", Str(core::ScenarioName(scenario))},
         {"variant", std::string(variant)},
         {"type", Str(core::EventTypeName(type))}});
  }
  return it->second;
}

prometheus::Counter* Metrics::RecommendedItemsCounter(
    core::Scenario scenario, std::string_view variant) {
  absl::MutexLock lock(&labeled_mu_);
  auto [it, inserted] = recommended_items_.try_emplace(
      {static_cast<int>(scenario), std::string(variant)}, nullptr);
  if (inserted) {
    it->second = &recommended_items_family_->Add(
        {{"scenario", Str(core::ScenarioName(scenario))},
         {"variant", std::string(variant)}});
  }
  return it->second;
}

void Metrics::ObserveFoldIn(double seconds) { fold_in_->Observe(seconds); }

void Metrics::ObserveFeedbackBatch(size_t calls) {
  feedback_batch_calls_->Observe(static_cast<double>(calls));
}

void Metrics::ObserveRetrieval(bool ann, double seconds) {
  (ann ? retrieval_ann_ : retrieval_exact_)->Observe(seconds);
}

void Metrics::CandidatesProduced(core::Source source, int64_t count) {
  int s = static_cast<int>(source);
  if (s > 0 && s < static_cast<int>(candidates_.size()) && count > 0) {
    candidates_[s]->Increment(static_cast<double>(count));
  }
}

void Metrics::Recommended(core::Scenario scenario, std::string_view variant,
                          bool fallback, int64_t items) {
  int s = static_cast<int>(scenario);
  if (s <= 0 || s >= static_cast<int>(recommendations_.size())) return;
  recommendations_[s]->Increment();
  if (fallback) fallbacks_[s]->Increment();
  if (items <= 0) return;
  RecommendedItemsCounter(scenario, variant)
      ->Increment(static_cast<double>(items));
}

void Metrics::ObserveStorageWrite(double seconds) {
  storage_write_->Observe(seconds);
}

void Metrics::ObserveStorageRead(double seconds) {
  storage_read_->Observe(seconds);
}

void Metrics::SetLogConnected(bool connected) {
  log_connected_->Set(connected ? 1 : 0);
}

void Metrics::LogEntryApplied(uint64_t sequence,
                              std::optional<double> lag_seconds) {
  log_applied_->Set(static_cast<double>(sequence));
  if (lag_seconds.has_value()) {
    replication_lag_->Observe(std::max(0.0, *lag_seconds));
  }
}

void Metrics::SetLogEnd(uint64_t sequence) {
  log_end_->Set(static_cast<double>(sequence));
}

void Metrics::ObserveLogAppend(double seconds, bool ok) {
  log_append_->Observe(seconds);
  if (!ok) log_append_failures_->Increment();
}

void Metrics::ModelFetched(std::string_view result, double seconds) {
  model_fetches_family_->Add({{"result", std::string(result)}}).Increment();
  model_fetch_seconds_->Observe(seconds);
}

}  // namespace aisle::server
