// The arithmetic of `aisle loadgen`'s open-loop mode, apart from any RPC:
// the fixed send schedule, a bounded-memory latency histogram, the counts
// of one report row (a second, or the whole run) and their JSON form.
//
// Thread safety: pure functions; LatencyHistogram and OpenLoopCounts are
// plain values (the caller locks).
#ifndef AISLE_CLI_LOADGEN_STATS_H_
#define AISLE_CLI_LOADGEN_STATS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "grpcpp/support/status.h"

namespace aisle::cli {

// The open-loop schedule: call n (from 0) is due at n / rate seconds after
// the start, whatever happened to the calls before it.
//
// The offset of call n from the start. REQUIRES: rate > 0, n >= 0.
std::chrono::nanoseconds DueOffset(double rate, int64_t n);
// How many calls are due at or before `elapsed` (call 0 is due at 0):
// floor(elapsed * rate) + 1; 0 for a negative elapsed. REQUIRES: rate > 0.
int64_t CallsDueBy(double rate, std::chrono::nanoseconds elapsed);
// How many calls the schedule holds in `duration`: those due strictly
// before its end, ceil(duration * rate). REQUIRES: rate > 0.
int64_t CallsInSchedule(double rate, std::chrono::nanoseconds duration);
// Whether a due call is started: not while `max_in_flight` calls are
// outstanding, nor when the client reaches it more than `deadline` after
// its due time (its user gave up already, and sending it would stretch
// the load past the schedule's end). Either way it counts as not sent.
bool SendsDueCall(std::chrono::nanoseconds behind,
                  std::chrono::nanoseconds deadline, int64_t in_flight,
                  int64_t max_in_flight);

// Latencies in microseconds, in buckets whose width is 1/64 of their
// power of two (values below 128 exact): at most ~1.6% relative error, a
// fixed 14 KiB whatever the count.
class LatencyHistogram {
 public:
  void Add(uint32_t us);
  void Merge(const LatencyHistogram& other);
  int64_t count() const { return count_; }
  uint32_t max() const { return max_; }
  // The q-quantile (0..1) by the nearest-rank rule of Percentile() in
  // cli/loadgen.h: the value of rank floor(q * count) (clamped), reported
  // as the upper end of its bucket but never above max(); 0 when empty.
  uint32_t Quantile(double q) const;

  // Bucket arithmetic, public for tests.
  static int BucketOf(uint32_t us);
  static uint32_t BucketUpperBound(int bucket);
  static constexpr int kSubBits = 6;
  static constexpr int kBuckets =
      (2 << kSubBits) + (31 - kSubBits) * (1 << kSubBits);

 private:
  std::array<int64_t, kBuckets> buckets_{};
  int64_t count_ = 0;
  uint32_t max_ = 0;
};

// The status codes the report names; everything else is kOther.
enum class CodeClass {
  kOk,
  kResourceExhausted,
  kDeadlineExceeded,
  kUnavailable,
  kCancelled,
  kOther,
};
inline constexpr int kCodeClasses = 6;
CodeClass ClassOf(grpc::StatusCode code);
// "OK", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "UNAVAILABLE",
// "CANCELLED", "other".
const char* CodeClassName(CodeClass c);

// The counts of one row of the open-loop report: the calls *offered* in
// that second (or in the whole run), however late their answers came.
struct OpenLoopCounts {
  int64_t offered = 0;     // due by the schedule
  int64_t sent = 0;        // offered and started
  int64_t not_sent = 0;    // offered but never started: over --max-in-flight,
                           // or the client was a deadline behind schedule
  int64_t late = 0;        // started more than 10 ms behind their due time
  int64_t ok_in_time = 0;  // OK and answered within the deadline
  std::array<int64_t, kCodeClasses> codes{};  // per CodeClass, of the sent

  // Records the end of one sent call.
  void AddAnswer(grpc::StatusCode code, bool in_time);
  void Merge(const OpenLoopCounts& other);
  int64_t code(CodeClass c) const { return codes[static_cast<int>(c)]; }
};

// One finished row: its counts and the latency quantiles of its OK calls.
struct RowSummary {
  double start_s = 0;   // offset of the row's first second from the start
  double length_s = 0;  // 1, or less for the last, partial second
  OpenLoopCounts counts;
  uint32_t p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};
RowSummary Summarize(double start_s, double length_s,
                     const OpenLoopCounts& counts,
                     const LatencyHistogram& ok_latency);

// The open-loop run's parameters as the JSON report records them.
struct OpenLoopSettings {
  double rate = 0;
  double deadline_ms = 0;
  double duration_s = 0;
  int64_t max_in_flight = 0;
  std::string mix;
};

// {"mode":"open", settings..., "summary":{row}, "seconds":[{row}...]} where
// a row is {"start_s", "length_s", "offered", "sent", "not_sent", "late",
// "ok_in_time", "ok_in_time_per_s", "codes":{"OK":n, ...},
// "latency_ms":{"p50","p90","p99","max"}}. One line, no trailing newline.
std::string OpenLoopJson(const OpenLoopSettings& settings,
                         const RowSummary& summary,
                         const std::vector<RowSummary>& seconds);

}  // namespace aisle::cli

#endif  // AISLE_CLI_LOADGEN_STATS_H_
