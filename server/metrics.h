// Metrics: every Prometheus metric the server exports, exactly as listed in
// docs/metrics.md (the contract with the dashboards and alerts in deploy/;
// metrics_test.cc checks the two agree).
//
// Families are created once in the constructor, and with them every series
// whose label values are known up front (methods, codes, reasons, event
// types, sources, scenarios, the variants the server issues), at 0. Series
// with a small, fixed label space are cached in arrays of pointers, so the
// hot path does no label map lookups; the attribution series (variant) go
// through a small mutex-protected map. No label ever holds a user id,
// item id or token.
//
// Gauges that describe state elsewhere (model age, storage sizes, catalog
// size) are refreshed by the on-scrape callback set with SetScrapeCallback,
// which runs at the start of every /metrics request.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef AISLE_SERVER_METRICS_H_
#define AISLE_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/types.h"
#include "grpcpp/support/status.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/admission.h"
#include "server/experiments.h"
#include "server/recommendation_id.h"
#include "storage/store.h"

namespace aisle::server {

// The RPCs of aisle.v1.Recommender, for per-method series.
enum class Method {
  kRecommend,
  kFeedback,
  kImportEvents,
  kUpsertItems,
  kDeleteItems,
  kGetItem,
  kGetUser,
  kDeleteUser,
  kGetModelInfo,
  kListModels,
  kActivateModel,
  kGetExperimentReport,
  kRank,
  kListSegments,
  kExportSegment,
  kMergeUsers,
  kUpsertUsers,
};
inline constexpr int kNumMethods = 17;
std::string_view MethodName(Method method);  // "Recommend", ...

// Why a request was refused without doing its work (aisle_rpc_shed_total).
enum class ShedReason {
  kLimit,      // admission: RESOURCE_EXHAUSTED
  kDeadline,   // deadline passed at pick-up or between stages
  kCancelled,  // the client cancelled
};
inline constexpr int kNumShedReasons = 3;

// The event types attribution counts: impression, click, add_to_cart,
// purchase.
bool IsAttributedType(core::EventType type);

class Metrics {
 public:
  explicit Metrics(std::string_view build_version);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // What an Exposer serves: runs the scrape callback, then collects the
  // registry.
  std::shared_ptr<prometheus::Collectable> collectable();
  // Called (from the exposer's thread) at the start of each scrape.
  void SetScrapeCallback(std::function<void()> callback);

  // --- RPCs ---------------------------------------------------------------
  void RpcStarted(Method method);
  void RpcFinished(Method method, grpc::StatusCode code, double seconds);
  // A request refused without (all of) its work; also finished with its
  // code through RpcFinished.
  void Shed(Method method, ShedReason reason);
  // A call refused by the Authenticator (auth.h) before its handler ran:
  // code is UNAUTHENTICATED or PERMISSION_DENIED.
  void AuthRefused(Method method, grpc::StatusCode code);
  // A request message that could not be parsed (the RPC, or for
  // ImportEvents the stream, is also finished through RpcFinished).
  void Unparsable(Method method);
  // Admission state of a class (set on scrape).
  void SetAdmission(MethodClass c, int limit, int in_flight);

  // --- Serving state ------------------------------------------------------
  void SetUp(bool up);
  // version "" = no model (the aisle_model_info series is removed).
  void SetModel(const std::string& version, int64_t trained_at_ms);
  void UpdateModelAge(int64_t now_ms);
  void SetCatalog(int64_t items, int64_t users);
  // The serving ANN index's kept answers (core::AnnOptions::
  // cached_searches): searches answered from them and searches searched,
  // as counted by that index since it was loaded (a new model version's
  // index counts from 0 again; the counters only add what is new), and
  // answers kept now.
  void SetAnnCache(uint64_t hits, uint64_t misses, int64_t entries);
  void SetStorageStats(const storage::StoreStats& stats);

  // --- Events -------------------------------------------------------------
  void EventStored(core::EventType type);
  void EventsDuplicate(int64_t count);
  // Counts a stored event carrying a parsable recommendation_id (only
  // impression, click, add_to_cart and purchase are counted).
  void EventAttributed(core::Scenario scenario, std::string_view variant,
                       core::EventType type);
  // Creates the attribution and recommended-items series of every arm of
  // `experiments` at 0 (call before serving).
  void AddVariants(const Experiments& experiments);
  // A stored event whose recommendation_id did not verify.
  void AttributionRejected(IdRejection rejection);
  void ObserveFoldIn(double seconds);
  // Single-node mode: one batch of Feedback calls stored together
  // (event_batcher.h), with the number of calls in it.
  void ObserveFeedbackBatch(size_t calls);

  // --- Recommend ----------------------------------------------------------
  void ObserveRetrieval(bool ann, double seconds);
  void CandidatesProduced(core::Source source, int64_t count);
  void Recommended(core::Scenario scenario, std::string_view variant,
                   bool fallback, int64_t items);

  // --- Storage ------------------------------------------------------------
  void ObserveStorageWrite(double seconds);
  void ObserveStorageRead(double seconds);

  // --- Cluster mode (docs/cluster.md) -------------------------------------
  // Whether the node is connected to the log (single-node servers: 1).
  void SetLogConnected(bool connected);
  // An entry applied here; lag = now - when the log stored it (nullopt:
  // only the position, e.g. at start-up).
  void LogEntryApplied(uint64_t sequence, std::optional<double> lag_seconds);
  // The log's newest position as last seen.
  void SetLogEnd(uint64_t sequence);
  // One append to the log (until acknowledged, or failed).
  void ObserveLogAppend(double seconds, bool ok);
  // A model version fetched from the cluster's model bucket
  // (cluster_models.h); result: ok, not_found, refused or unavailable.
  void ModelFetched(std::string_view result, double seconds);

 private:
  class Scraper;
  prometheus::Counter* RequestCounter(Method method, grpc::StatusCode code);
  prometheus::Counter* AttributedCounter(core::Scenario scenario,
                                         std::string_view variant,
                                         core::EventType type);
  prometheus::Counter* RecommendedItemsCounter(core::Scenario scenario,
                                               std::string_view variant);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Scraper> scraper_;

  prometheus::Family<prometheus::Counter>* requests_total_;
  prometheus::Family<prometheus::Gauge>* model_info_family_;
  prometheus::Family<prometheus::Counter>* attributed_family_;
  prometheus::Family<prometheus::Counter>* recommended_items_family_;
  prometheus::Family<prometheus::Counter>* model_fetches_family_;
  prometheus::Histogram* model_fetch_seconds_;

  static constexpr int kNumCodes = 17;
  std::mutex series_mu_;  // guards creation of lazily added series
  std::array<std::array<std::atomic<prometheus::Counter*>, kNumCodes>,
             kNumMethods>
      requests_{};
  std::array<prometheus::Histogram*, kNumMethods> durations_{};
  std::array<prometheus::Gauge*, kNumMethods> in_flight_{};
  std::array<std::array<prometheus::Counter*, kNumShedReasons>, kNumMethods>
      shed_{};
  // [method][0] UNAUTHENTICATED, [method][1] PERMISSION_DENIED.
  std::array<std::array<prometheus::Counter*, 2>, kNumMethods> auth_refused_{};
  std::array<prometheus::Counter*, kNumMethods> unparsable_{};
  std::array<prometheus::Gauge*, kNumMethodClasses> admission_limit_{};
  std::array<prometheus::Gauge*, kNumMethodClasses> admission_in_flight_{};

  prometheus::Gauge* up_;
  prometheus::Gauge* model_trained_;
  prometheus::Gauge* model_age_;
  prometheus::Gauge* catalog_items_;
  prometheus::Gauge* known_users_;
  prometheus::Gauge* storage_live_bytes_;
  prometheus::Gauge* storage_pending_compaction_;
  prometheus::Gauge* storage_memtable_;
  prometheus::Counter* ann_cache_hits_;
  prometheus::Counter* ann_cache_misses_;
  prometheus::Gauge* ann_cache_entries_;
  absl::Mutex ann_cache_mu_;
  uint64_t last_ann_hits_ ABSL_GUARDED_BY(ann_cache_mu_) = 0;
  uint64_t last_ann_misses_ ABSL_GUARDED_BY(ann_cache_mu_) = 0;
  std::array<prometheus::Counter*, core::kNumEventTypes> events_{};
  prometheus::Counter* duplicates_;
  std::array<prometheus::Counter*, kNumIdRejections> attribution_rejected_{};
  prometheus::Histogram* fold_in_;
  prometheus::Histogram* feedback_batch_calls_;
  prometheus::Histogram* retrieval_ann_;
  prometheus::Histogram* retrieval_exact_;
  std::array<prometheus::Counter*, core::kNumSources>
      candidates_{};  // by core::Source
  std::array<prometheus::Counter*, core::kNumScenarios>
      recommendations_{};  // by Scenario
  std::array<prometheus::Counter*, core::kNumScenarios> fallbacks_{};
  prometheus::Histogram* storage_write_;
  prometheus::Histogram* storage_read_;
  prometheus::Gauge* log_connected_;
  prometheus::Gauge* log_applied_;
  prometheus::Gauge* log_end_;
  prometheus::Histogram* replication_lag_;
  prometheus::Histogram* log_append_;
  prometheus::Counter* log_append_failures_;

  absl::Mutex model_mu_;
  prometheus::Gauge* model_info_ ABSL_GUARDED_BY(model_mu_) = nullptr;
  std::atomic<int64_t> model_trained_at_ms_{0};

  absl::Mutex labeled_mu_;
  // (scenario, variant, type) -> counter.
  absl::flat_hash_map<std::tuple<int, std::string, int>, prometheus::Counter*>
      attributed_ ABSL_GUARDED_BY(labeled_mu_);
  // (scenario, variant) -> counter.
  absl::flat_hash_map<std::pair<int, std::string>, prometheus::Counter*>
      recommended_items_ ABSL_GUARDED_BY(labeled_mu_);
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_METRICS_H_
