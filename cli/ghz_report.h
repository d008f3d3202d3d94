// The results of `aisle loadgen --call` in ghz's output formats
// (https://ghz.sh/docs/output), so that tooling written for ghz reads them:
//   - summary: ghz's text (Count, Total, Slowest, Fastest, Average,
//     Requests/sec, the response-time histogram, the latency distribution,
//     the status-code and error distributions);
//   - json / pretty: ghz's JSON report: date, endReason, options, count,
//     total, average, fastest, slowest (nanoseconds), rps,
//     errorDistribution, statusCodeDistribution, latencyDistribution
//     ([{percentage, latency}] for 10 25 50 75 90 95 99 and 99.9),
//     histogram ([{mark (seconds), count, frequency}]), details (per call,
//     optional);
//   - csv: "duration (ms),status,error", one line per call.
// As in ghz, count, total, rps and average/fastest/slowest cover every
// call; the histogram and the latency distribution cover the OK calls.
//
// Thread safety: GhzRecorder is safe to call from many threads (gRPC's
// callback threads); the rest are plain values and pure functions.
#ifndef AISLE_CLI_GHZ_REPORT_H_
#define AISLE_CLI_GHZ_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status.h"

namespace aisle::cli {

// One finished call.
struct GhzCall {
  int64_t start_unix_ns = 0;
  int64_t latency_ns = 0;
  grpc::StatusCode code = grpc::StatusCode::OK;
  int32_t error = -1;  // index into the recorder's error texts; -1 if OK
};

// ghz's (Go's) name of a status code: "OK", "Canceled", "InvalidArgument",
// "DeadlineExceeded", "ResourceExhausted", "Unavailable", ...
std::string_view GoCodeName(grpc::StatusCode code);
// ghz's error text: "rpc error: code = Unavailable desc = <message>".
std::string GoErrorText(const grpc::Status& status);

// Collects the calls of one run.
class GhzRecorder {
 public:
  void Add(int64_t start_unix_ns, int64_t latency_ns,
           const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // The calls so far and the distinct error texts they point to.
  std::vector<GhzCall> TakeCalls() ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> errors() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::vector<GhzCall> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int32_t, std::less<>> error_index_ ABSL_GUARDED_BY(mu_);
};

// The run's settings as ghz echoes them under "options".
struct GhzRunOptions {
  std::string call;  // "aisle.v1.Recommender.Recommend"
  std::string host;
  int64_t total = 0;  // -n (0 when -z decides)
  int concurrency = 0;
  int connections = 1;
  double rps = 0;
  int64_t duration_ns = 0;  // -z; 0 = none
  int64_t timeout_ns = 0;
  std::string data_json;  // the -d template (JSON text, may be empty)
  bool insecure = true;
  int cpus = 1;
};

struct GhzLatencyPoint {
  double percentage = 0;
  int64_t latency_ns = 0;
};
struct GhzBucket {
  double mark_s = 0;  // upper bound of the bucket, seconds
  int64_t count = 0;
  double frequency = 0;  // count / OK calls
};

struct GhzReport {
  std::string date;                   // RFC 3339, the start of the run
  std::string end_reason = "normal";  // "timeout" when -z ended the run
  GhzRunOptions options;
  int64_t count = 0;
  int64_t total_ns = 0;
  int64_t average_ns = 0;
  int64_t fastest_ns = 0;
  int64_t slowest_ns = 0;
  double rps = 0;  // count / total
  std::map<std::string, int64_t> error_distribution;
  std::map<std::string, int64_t> status_code_distribution;
  std::vector<GhzLatencyPoint> latency_distribution;
  std::vector<GhzBucket> histogram;  // ghz's 10 equal buckets (+ the top)
  std::vector<GhzCall> calls;        // for details and csv
  std::vector<std::string> errors;
};

// Builds the report of `calls` (errors: the recorder's texts) that took
// `total_ns` from the first start to the last answer.
GhzReport BuildGhzReport(GhzRunOptions options, std::string date,
                         std::string end_reason, int64_t total_ns,
                         std::vector<GhzCall> calls,
                         std::vector<std::string> errors);

// ghz's text summary.
std::string GhzSummaryText(const GhzReport& report);
// ghz's JSON report; `pretty` indents it (-O pretty); `details` adds the
// per-call list (large: one entry per call).
std::string GhzJson(const GhzReport& report, bool pretty, bool details);
// ghz's CSV: a header and one line per call.
std::string GhzCsv(const GhzReport& report);

// `text` as a JSON string literal, quotes included (server::JsonEscape).
std::string JsonQuote(std::string_view text);

}  // namespace aisle::cli

#endif  // AISLE_CLI_GHZ_REPORT_H_
