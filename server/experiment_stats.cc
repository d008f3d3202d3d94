#include "server/experiment_stats.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/string_view.h"

namespace aisle::server {
namespace {

double Cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

void FillProportion(int64_t successes, int64_t trials, double z,
                    v1::Proportion* out) {
  const WilsonInterval w = Wilson(successes, trials, z);
  out->set_successes(successes);
  out->set_trials(trials);
  out->set_value(w.value);
  out->set_low(w.low);
  out->set_high(w.high);
}

void FillComparison(int64_t sa, int64_t ta, int64_t sb, int64_t tb,
                    double alpha, v1::ArmComparison* out) {
  const WilsonInterval a = Wilson(sa, ta, 1), b = Wilson(sb, tb, 1);
  const ZTest test = TwoProportionZTest(sa, ta, sb, tb);
  out->set_difference(b.value - a.value);
  out->set_relative_lift(a.value > 0 ? (b.value - a.value) / a.value : 0);
  out->set_z(test.z);
  out->set_p_value(test.p_value);
  out->set_significant(test.p_value < alpha);
}

}  // namespace

WilsonInterval Wilson(int64_t successes, int64_t trials, double z) {
  WilsonInterval w;
  if (trials <= 0) return w;
  const double n = static_cast<double>(trials);
  const double p =
      static_cast<double>(std::clamp<int64_t>(successes, 0, trials)) / n;
  const double z2 = z * z;
  const double center = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half =
      z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  w.value = p;
  w.low = std::max(0.0, center - half);
  w.high = std::min(1.0, center + half);
  return w;
}

ZTest TwoProportionZTest(int64_t successes_a, int64_t trials_a,
                         int64_t successes_b, int64_t trials_b) {
  ZTest t;
  if (trials_a <= 0 || trials_b <= 0) return t;
  const double sa =
      static_cast<double>(std::clamp<int64_t>(successes_a, 0, trials_a));
  const double sb =
      static_cast<double>(std::clamp<int64_t>(successes_b, 0, trials_b));
  const double na = static_cast<double>(trials_a);
  const double nb = static_cast<double>(trials_b);
  const double pooled = (sa + sb) / (na + nb);
  const double se = std::sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb));
  if (!(se > 0)) return t;
  t.z = (sb / nb - sa / na) / se;
  t.p_value = std::min(1.0, 2 * (1 - Cdf(std::abs(t.z))));
  return t;
}

double NormalQuantileTwoSided(double confidence) {
  // Bisection on the CDF: 60 halvings of [0, 10] are exact to double
  // precision, and this runs once per report.
  const double target = 0.5 + confidence / 2;
  double lo = 0, hi = 10;
  for (int i = 0; i < 60; ++i) {
    const double mid = (lo + hi) / 2;
    (Cdf(mid) < target ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

absl::StatusOr<std::unique_ptr<ExperimentStats>> ExperimentStats::Open(
    storage::Store* store) {
  std::unique_ptr<ExperimentStats> stats(new ExperimentStats(store));
  if (store == nullptr) return stats;
  absl::StatusOr<std::vector<storage::ExperimentCount>> stored =
      store->ExperimentCounts();
  if (!stored.ok()) return stored.status();
  absl::MutexLock lock(&stats->mu_);
  for (const storage::ExperimentCount& c : *stored) {
    const int t = static_cast<int>(c.type);
    if (t <= 0 || t >= core::kNumEventTypes) continue;
    stats->counts_[{static_cast<int>(c.scenario), c.variant}][t] += c.count;
  }
  return stats;
}

absl::Status ExperimentStats::Add(
    std::span<const storage::ExperimentCount> deltas) {
  if (deltas.empty()) return absl::OkStatus();
  absl::MutexLock write_lock(&write_mu_);
  if (store_ != nullptr) {
    if (absl::Status s = store_->AddExperimentCounts(deltas); !s.ok()) {
      return s;
    }
  }
  absl::MutexLock lock(&mu_);
  for (const storage::ExperimentCount& c : deltas) {
    const int t = static_cast<int>(c.type);
    if (t <= 0 || t >= core::kNumEventTypes) continue;
    counts_[{static_cast<int>(c.scenario), c.variant}][t] += c.count;
  }
  return absl::OkStatus();
}

std::array<int64_t, core::kNumEventTypes> ExperimentStats::Counts(
    core::Scenario scenario, const std::string& variant) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find({static_cast<int>(scenario), variant});
  if (it == counts_.end()) return {};
  return it->second;
}

v1::ExperimentReport ExperimentStats::Report(
    std::span<const ExperimentConfig* const> experiments,
    double confidence) const {
  const double z = NormalQuantileTwoSided(confidence);
  const double alpha = 1 - confidence;
  v1::ExperimentReport report;
  report.set_confidence(confidence);
  for (const ExperimentConfig* xp : experiments) {
    v1::ExperimentResult* result = report.add_experiments();
    result->set_name(xp->name);
    for (core::Scenario s : xp->scenarios) {
      result->add_scenarios(std::string(core::ScenarioName(s)));
    }
    result->set_control(xp->variants.front().name);
    std::vector<std::array<int64_t, core::kNumEventTypes>> totals;
    for (const VariantConfig& v : xp->variants) {
      std::array<int64_t, core::kNumEventTypes> sum{};
      for (core::Scenario s : xp->scenarios) {
        const auto c = Counts(s, v.name);
        for (int t = 0; t < core::kNumEventTypes; ++t) sum[t] += c[t];
      }
      totals.push_back(sum);
    }
    const auto at = [](const std::array<int64_t, core::kNumEventTypes>& c,
                       core::EventType type) {
      return c[static_cast<int>(type)];
    };
    using core::EventType;
    const auto& control = totals.front();
    std::string best;
    double best_lift = 0;
    for (size_t i = 0; i < xp->variants.size(); ++i) {
      const auto& c = totals[i];
      v1::ExperimentArm* arm = result->add_arms();
      arm->set_variant(xp->variants[i].name);
      arm->set_share(xp->variants[i].share);
      const int64_t shown = at(c, EventType::kImpression);
      arm->set_impressions(shown);
      arm->set_clicks(at(c, EventType::kClick));
      arm->set_add_to_carts(at(c, EventType::kAddToCart));
      arm->set_purchases(at(c, EventType::kPurchase));
      FillProportion(at(c, EventType::kClick), shown, z, arm->mutable_ctr());
      FillProportion(at(c, EventType::kPurchase), shown, z,
                     arm->mutable_conversion());
      if (i == 0) continue;
      const int64_t control_shown = at(control, EventType::kImpression);
      FillComparison(at(control, EventType::kClick), control_shown,
                     at(c, EventType::kClick), shown, alpha,
                     arm->mutable_ctr_vs_control());
      FillComparison(at(control, EventType::kPurchase), control_shown,
                     at(c, EventType::kPurchase), shown, alpha,
                     arm->mutable_conversion_vs_control());
      const v1::ArmComparison& ctr = arm->ctr_vs_control();
      if (ctr.significant() && std::abs(ctr.difference()) > best_lift) {
        best_lift = std::abs(ctr.difference());
        best = ctr.difference() > 0
                   ? absl::StrFormat("%s beats %s on CTR (%+.1f%%, p=%.2g)",
                                     arm->variant(), result->control(),
                                     100 * ctr.relative_lift(), ctr.p_value())
                   : absl::StrFormat("%s loses to %s on CTR (%+.1f%%, p=%.2g)",
                                     arm->variant(), result->control(),
                                     100 * ctr.relative_lift(), ctr.p_value());
      }
    }
    result->set_summary(
        best.empty()
            ? absl::StrFormat("no significant CTR difference between arms at "
                              "%.0f%% confidence",
                              100 * confidence)
            : best);
  }
  return report;
}

}  // namespace aisle::server
