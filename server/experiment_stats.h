// ExperimentStats: the A/B experiment counters (events attributed through
// recommendation_id, per scenario x variant x event type), kept in the
// store so that they survive restarts, and the report built from them
// (GetExperimentReport, `aisle experiments report`).
//
// Statistics, per arm, summed over the experiment's scenarios: trials are
// the attributed IMPRESSION events; CTR = clicks / impressions and
// conversion = purchases / impressions, each with its Wilson score
// interval; every arm against the control (the first variant) with a
// two-proportion z-test, pooled variance, two-sided p-value. Successes
// above the trials (a client that sends clicks without impressions) are
// capped at the trials for the statistics; the raw counts are reported.
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_SERVER_EXPERIMENT_STATS_H_
#define AISLE_SERVER_EXPERIMENT_STATS_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aisle/v1/recommender.pb.h"
#include "core/types.h"
#include "server/experiments.h"
#include "storage/store.h"

namespace aisle::server {

// A proportion and its Wilson score interval for the standard normal
// quantile `z` (1.96 for 95%). trials 0 gives 0 in [0, 1].
struct WilsonInterval {
  double value = 0, low = 0, high = 1;
};
WilsonInterval Wilson(int64_t successes, int64_t trials, double z);

// Two-proportion z-test of b against a (pooled variance): z and the
// two-sided p-value. Either trials 0, or a pooled proportion of 0 or 1:
// z 0, p 1.
struct ZTest {
  double z = 0, p_value = 1;
};
ZTest TwoProportionZTest(int64_t successes_a, int64_t trials_a,
                         int64_t successes_b, int64_t trials_b);

// The standard normal quantile for a two-sided `confidence` (0.95 ->
// 1.959964). REQUIRES: 0 < confidence < 1.
double NormalQuantileTwoSided(double confidence);

class ExperimentStats {
 public:
  // Loads the stored counters. `store` is borrowed and must outlive this;
  // null keeps the counters in memory only (tests of the arithmetic).
  // Errors: those of Store::ExperimentCounts.
  static absl::StatusOr<std::unique_ptr<ExperimentStats>> Open(
      storage::Store* store);

  // Adds the attributed events (one count each) durably, then to the
  // totals. Errors: the store's; nothing is counted then.
  absl::Status Add(std::span<const storage::ExperimentCount> deltas);

  // Counts of `variant` in `scenario`, indexed by EventType.
  std::array<int64_t, core::kNumEventTypes> Counts(
      core::Scenario scenario, const std::string& variant) const;

  // The report of `experiments` at `confidence` (0 < confidence < 1).
  v1::ExperimentReport Report(
      std::span<const ExperimentConfig* const> experiments,
      double confidence) const;

 private:
  explicit ExperimentStats(storage::Store* store) : store_(store) {}
  storage::Store* const store_;
  // Serialises writers so that the totals match the stored counters.
  absl::Mutex write_mu_;
  mutable absl::Mutex mu_;
  std::map<std::pair<int, std::string>,
           std::array<int64_t, core::kNumEventTypes>>
      counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_EXPERIMENT_STATS_H_
