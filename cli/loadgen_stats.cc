#include "cli/loadgen_stats.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aisle::cli {

namespace {
constexpr double kNanosPerSecond = 1e9;
}  // namespace

std::chrono::nanoseconds DueOffset(double rate, int64_t n) {
  return std::chrono::nanoseconds(static_cast<int64_t>(
      std::floor(static_cast<double>(n) * kNanosPerSecond / rate)));
}

int64_t CallsDueBy(double rate, std::chrono::nanoseconds elapsed) {
  if (elapsed.count() < 0) return 0;
  // Call n is due at floor(n * 1e9 / rate) ns (DueOffset); step back past
  // any rounding so exactly the calls with DueOffset <= elapsed count.
  int64_t n = static_cast<int64_t>(std::floor(
      static_cast<double>(elapsed.count()) * rate / kNanosPerSecond));
  while (n > 0 && DueOffset(rate, n) > elapsed) --n;
  while (DueOffset(rate, n + 1) <= elapsed) ++n;
  return n + 1;
}

int64_t CallsInSchedule(double rate, std::chrono::nanoseconds duration) {
  if (duration.count() <= 0) return 0;
  // The calls due strictly before the end: those due by (end - 1ns).
  return CallsDueBy(rate, duration - std::chrono::nanoseconds(1));
}

bool SendsDueCall(std::chrono::nanoseconds behind,
                  std::chrono::nanoseconds deadline, int64_t in_flight,
                  int64_t max_in_flight) {
  return in_flight < max_in_flight && behind <= deadline;
}

int LatencyHistogram::BucketOf(uint32_t us) {
  constexpr uint32_t kExact = 2u << kSubBits;
  if (us < kExact) return static_cast<int>(us);
  const int shift = std::bit_width(us) - (kSubBits + 1);
  const uint32_t top = us >> shift;  // in [2^kSubBits, 2^(kSubBits+1))
  return static_cast<int>(kExact) + (shift - 1) * (1 << kSubBits) +
         static_cast<int>(top - (1u << kSubBits));
}

uint32_t LatencyHistogram::BucketUpperBound(int bucket) {
  constexpr int kExact = 2 << kSubBits;
  if (bucket < kExact) return static_cast<uint32_t>(bucket);
  const int k = bucket - kExact;
  const int shift = k / (1 << kSubBits) + 1;
  const uint64_t top =
      static_cast<uint64_t>(k % (1 << kSubBits)) + (uint64_t{1} << kSubBits);
  const uint64_t upper = ((top + 1) << shift) - 1;
  return static_cast<uint32_t>(std::min<uint64_t>(upper, UINT32_MAX));
}

void LatencyHistogram::Add(uint32_t us) {
  ++buckets_[static_cast<size_t>(BucketOf(us))];
  ++count_;
  max_ = std::max(max_, us);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint32_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  const int64_t rank = std::min<int64_t>(
      count_ - 1,
      static_cast<int64_t>(std::floor(q * static_cast<double>(count_))));
  int64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen > rank) {
      return std::min(BucketUpperBound(static_cast<int>(i)), max_);
    }
  }
  return max_;
}

CodeClass ClassOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return CodeClass::kOk;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return CodeClass::kResourceExhausted;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return CodeClass::kDeadlineExceeded;
    case grpc::StatusCode::UNAVAILABLE:
      return CodeClass::kUnavailable;
    case grpc::StatusCode::CANCELLED:
      return CodeClass::kCancelled;
    default:
      return CodeClass::kOther;
  }
}

const char* CodeClassName(CodeClass c) {
  switch (c) {
    case CodeClass::kOk:
      return "OK";
    case CodeClass::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case CodeClass::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case CodeClass::kUnavailable:
      return "UNAVAILABLE";
    case CodeClass::kCancelled:
      return "CANCELLED";
    case CodeClass::kOther:
      return "other";
  }
  return "other";
}

void OpenLoopCounts::AddAnswer(grpc::StatusCode code, bool in_time) {
  ++codes[static_cast<int>(ClassOf(code))];
  if (code == grpc::StatusCode::OK && in_time) ++ok_in_time;
}

void OpenLoopCounts::Merge(const OpenLoopCounts& other) {
  offered += other.offered;
  sent += other.sent;
  not_sent += other.not_sent;
  late += other.late;
  ok_in_time += other.ok_in_time;
  for (int i = 0; i < kCodeClasses; ++i) codes[i] += other.codes[i];
}

RowSummary Summarize(double start_s, double length_s,
                     const OpenLoopCounts& counts,
                     const LatencyHistogram& ok_latency) {
  RowSummary row;
  row.start_s = start_s;
  row.length_s = length_s;
  row.counts = counts;
  row.p50_us = ok_latency.Quantile(0.50);
  row.p90_us = ok_latency.Quantile(0.90);
  row.p99_us = ok_latency.Quantile(0.99);
  row.max_us = ok_latency.max();
  return row;
}

namespace {

std::string RowJson(const RowSummary& row) {
  const OpenLoopCounts& c = row.counts;
  std::string codes;
  for (int i = 0; i < kCodeClasses; ++i) {
    absl::StrAppend(&codes, i == 0 ? "" : ",", "\"",
                    CodeClassName(static_cast<CodeClass>(i)),
                    "\":", c.codes[i]);
  }
  const double per_s =
      row.length_s > 0 ? static_cast<double>(c.ok_in_time) / row.length_s : 0;
  return absl::StrFormat(
      "{\"start_s\":%.3f,\"length_s\":%.3f,\"offered\":%d,\"sent\":%d,"
      "\"not_sent\":%d,\"late\":%d,\"ok_in_time\":%d,"
      "\"ok_in_time_per_s\":%.1f,\"codes\":{%s},\"latency_ms\":{\"p50\":%.3f,"
      "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}}",
      row.start_s, row.length_s, c.offered, c.sent, c.not_sent, c.late,
      c.ok_in_time, per_s, codes, row.p50_us / 1000.0, row.p90_us / 1000.0,
      row.p99_us / 1000.0, row.max_us / 1000.0);
}

}  // namespace

std::string OpenLoopJson(const OpenLoopSettings& settings,
                         const RowSummary& summary,
                         const std::vector<RowSummary>& seconds) {
  std::string out = absl::StrFormat(
      "{\"mode\":\"open\",\"rate\":%.3f,\"deadline_ms\":%.3f,"
      "\"duration_s\":%.3f,\"max_in_flight\":%d,\"mix\":\"%s\","
      "\"summary\":%s,\"seconds\":[",
      settings.rate, settings.deadline_ms, settings.duration_s,
      settings.max_in_flight, settings.mix, RowJson(summary));
  for (size_t i = 0; i < seconds.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", RowJson(seconds[i]));
  }
  absl::StrAppend(&out, "]}");
  return out;
}

}  // namespace aisle::cli
