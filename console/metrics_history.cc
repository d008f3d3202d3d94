#include "console/metrics_history.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "prometheus/metric_family.h"

namespace aisle::console {
namespace {

std::string_view Label(const prometheus::ClientMetric& metric,
                       std::string_view name) {
  for (const prometheus::ClientMetric::Label& label : metric.label) {
    if (label.name == name) return label.value;
  }
  return {};
}

// Adds `metric`'s buckets into `sum` (same bounds in every series of a
// family).
void AddBuckets(const prometheus::ClientMetric& metric,
                MetricsHistory::Buckets* sum) {
  const auto& buckets = metric.histogram.bucket;
  if (sum->empty()) {
    for (const auto& b : buckets) sum->emplace_back(b.upper_bound, 0.0);
  }
  for (size_t i = 0; i < buckets.size() && i < sum->size(); ++i) {
    (*sum)[i].second += static_cast<double>(buckets[i].cumulative_count);
  }
}

// The upper bound of the bucket holding quantile q of the calls that
// finished between `before` and `after`, in ms; 0 when none did.
double QuantileMs(const MetricsHistory::Buckets& before,
                  const MetricsHistory::Buckets& after, double q) {
  if (after.empty()) return 0;
  auto count_at = [&](size_t i) {
    return after[i].second - (i < before.size() ? before[i].second : 0.0);
  };
  const double total = count_at(after.size() - 1);
  if (total <= 0) return 0;
  for (size_t i = 0; i < after.size(); ++i) {
    if (count_at(i) >= q * total) {
      // In the +Inf bucket: report the largest finite bound.
      if (i + 1 == after.size() && i > 0) return after[i - 1].first * 1000.0;
      return after[i].first * 1000.0;
    }
  }
  return 0;
}

void Set(google::protobuf::Struct* s, const char* key, double value) {
  (*s->mutable_fields())[key].set_number_value(value);
}

}  // namespace

MetricsHistory::MetricsHistory(std::shared_ptr<prometheus::Collectable> metrics,
                               int capacity)
    : metrics_(std::move(metrics)), capacity_(std::max(capacity, 2)) {}

MetricsHistory::Snapshot MetricsHistory::Read(
    const prometheus::Collectable& metrics) {
  Snapshot s;
  for (const prometheus::MetricFamily& family : metrics.Collect()) {
    for (const prometheus::ClientMetric& m : family.metric) {
      if (family.name == "aisle_grpc_requests_total") {
        std::string_view method = Label(m, "method");
        if (method == "Recommend") s.recommend += m.counter.value;
        if (method == "Feedback") s.feedback += m.counter.value;
      } else if (family.name == "aisle_events_total") {
        s.events += m.counter.value;
      } else if (family.name == "aisle_rpc_shed_total") {
        s.shed += m.counter.value;
      } else if (family.name == "aisle_grpc_request_duration_seconds") {
        std::string_view method = Label(m, "method");
        if (method == "Recommend") AddBuckets(m, &s.recommend_latency);
        if (method == "Feedback") AddBuckets(m, &s.feedback_latency);
      }
    }
  }
  return s;
}

void MetricsHistory::Sample(int64_t now_ms) {
  if (metrics_ == nullptr) return;
  {
    absl::MutexLock lock(&mu_);
    if (!samples_.empty() && now_ms - samples_.back().t_ms < 100) return;
  }
  // Collected outside the lock: a scrape can take a while.
  Snapshot snapshot = Read(*metrics_);
  snapshot.t_ms = now_ms;
  absl::MutexLock lock(&mu_);
  if (!samples_.empty() && now_ms - samples_.back().t_ms < 100) return;
  samples_.push_back(std::move(snapshot));
  while (static_cast<int>(samples_.size()) > capacity_) samples_.pop_front();
}

void MetricsHistory::ToStruct(google::protobuf::ListValue* points,
                              google::protobuf::Struct* totals) const {
  absl::MutexLock lock(&mu_);
  for (size_t i = 1; i < samples_.size(); ++i) {
    const Snapshot& a = samples_[i - 1];
    const Snapshot& b = samples_[i];
    const double seconds = (b.t_ms - a.t_ms) / 1000.0;
    google::protobuf::Struct* p = points->add_values()->mutable_struct_value();
    Set(p, "t_ms", static_cast<double>(b.t_ms));
    Set(p, "recommend_per_s", (b.recommend - a.recommend) / seconds);
    Set(p, "feedback_per_s", (b.feedback - a.feedback) / seconds);
    Set(p, "events_per_s", (b.events - a.events) / seconds);
    Set(p, "shed_per_s", (b.shed - a.shed) / seconds);
    Set(p, "recommend_p50_ms",
        QuantileMs(a.recommend_latency, b.recommend_latency, 0.5));
    Set(p, "recommend_p99_ms",
        QuantileMs(a.recommend_latency, b.recommend_latency, 0.99));
    Set(p, "feedback_p50_ms",
        QuantileMs(a.feedback_latency, b.feedback_latency, 0.5));
    Set(p, "feedback_p99_ms",
        QuantileMs(a.feedback_latency, b.feedback_latency, 0.99));
  }
  if (!samples_.empty()) {
    const Snapshot& last = samples_.back();
    Set(totals, "recommend_total", last.recommend);
    Set(totals, "feedback_total", last.feedback);
    Set(totals, "events_total", last.events);
    Set(totals, "shed_total", last.shed);
  }
}

}  // namespace aisle::console
