// MetricsHistory: the overview's recent rates and latencies, derived from
// the server's Prometheus metrics (docs/metrics.md) the same way a
// dashboard would: counters and histograms are sampled, and each point is
// the difference between two consecutive samples divided by the time
// between them.
//
// Per point: Recommend and Feedback calls per second (every status code),
// events stored per second, calls shed per second (aisle_rpc_shed_total),
// and the Recommend and Feedback p50 and p99 latency in ms, estimated from
// the histogram buckets' differences (the upper bound of the bucket the
// quantile falls in, as an upper estimate; 0 when no call finished).
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_CONSOLE_METRICS_HISTORY_H_
#define AISLE_CONSOLE_METRICS_HISTORY_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/struct.pb.h"
#include "prometheus/collectable.h"

namespace aisle::console {

class MetricsHistory {
 public:
  // Keeps the last `capacity` samples (so capacity - 1 points). `metrics`
  // may be null: no points, ever.
  MetricsHistory(std::shared_ptr<prometheus::Collectable> metrics,
                 int capacity);

  // Takes one sample of the metrics, stamped `now_ms`. A sample less than
  // 100 ms after the previous one is dropped (rates over shorter spans are
  // noise).
  void Sample(int64_t now_ms);

  // The points, oldest first, as a list of objects with the fields
  // t_ms, recommend_per_s, feedback_per_s, events_per_s, shed_per_s,
  // recommend_p50_ms, recommend_p99_ms, feedback_p50_ms, feedback_p99_ms;
  // and the totals since start of the last sample (recommend_total,
  // feedback_total, events_total, shed_total) in `totals`.
  void ToStruct(google::protobuf::ListValue* points,
                google::protobuf::Struct* totals) const;

  // One histogram's cumulative bucket counts (upper bound -> count).
  using Buckets = std::vector<std::pair<double, double>>;
  struct Snapshot {
    int64_t t_ms = 0;
    double recommend = 0, feedback = 0, events = 0, shed = 0;
    Buckets recommend_latency, feedback_latency;
  };
  // Reads one snapshot from `metrics` (public for tests).
  static Snapshot Read(const prometheus::Collectable& metrics);

 private:
  const std::shared_ptr<prometheus::Collectable> metrics_;
  const int capacity_;
  mutable absl::Mutex mu_;
  std::deque<Snapshot> samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aisle::console

#endif  // AISLE_CONSOLE_METRICS_HISTORY_H_
