// ghz's report: the statistics of a run and its summary, JSON and CSV.
#include "cli/ghz_report.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/logging.h"

namespace aisle::cli {

std::string_view GoCodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "Canceled",
                                                "Unknown",
                                                "InvalidArgument",
                                                "DeadlineExceeded",
                                                "NotFound",
                                                "AlreadyExists",
                                                "PermissionDenied",
                                                "ResourceExhausted",
                                                "FailedPrecondition",
                                                "Aborted",
                                                "OutOfRange",
                                                "Unimplemented",
                                                "Internal",
                                                "Unavailable",
                                                "DataLoss",
                                                "Unauthenticated"};
  const int i = static_cast<int>(code);
  if (i < 0 || i >= static_cast<int>(std::size(kNames))) return "Unknown";
  return kNames[i];
}

std::string GoErrorText(const grpc::Status& status) {
  return absl::StrCat(
      "rpc error: code = ", core::ToAbsl(GoCodeName(status.error_code())),
      " desc = ", status.error_message());
}

void GhzRecorder::Add(int64_t start_unix_ns, int64_t latency_ns,
                      const grpc::Status& status) {
  GhzCall call{start_unix_ns, latency_ns, status.error_code(), -1};
  std::string error;
  if (!status.ok()) error = GoErrorText(status);
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    auto [it, inserted] = error_index_.try_emplace(
        std::move(error), static_cast<int32_t>(errors_.size()));
    if (inserted) errors_.push_back(it->first);
    call.error = it->second;
  }
  calls_.push_back(call);
}

std::vector<GhzCall> GhzRecorder::TakeCalls() {
  absl::MutexLock lock(&mu_);
  return std::move(calls_);
}

std::vector<std::string> GhzRecorder::errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}

int64_t GhzRecorder::count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(calls_.size());
}

GhzReport BuildGhzReport(GhzRunOptions options, std::string date,
                         std::string end_reason, int64_t total_ns,
                         std::vector<GhzCall> calls,
                         std::vector<std::string> errors) {
  GhzReport r;
  r.options = std::move(options);
  r.date = std::move(date);
  r.end_reason = std::move(end_reason);
  r.total_ns = total_ns;
  r.count = static_cast<int64_t>(calls.size());
  r.rps = total_ns > 0 ? static_cast<double>(r.count) * 1e9 /
                             static_cast<double>(total_ns)
                       : 0;
  std::vector<int64_t> ok;
  ok.reserve(calls.size());
  double sum = 0;
  for (const GhzCall& c : calls) {
    sum += static_cast<double>(c.latency_ns);
    r.fastest_ns =
        r.fastest_ns == 0 ? c.latency_ns : std::min(r.fastest_ns, c.latency_ns);
    r.slowest_ns = std::max(r.slowest_ns, c.latency_ns);
    ++r.status_code_distribution[std::string(GoCodeName(c.code))];
    if (c.error >= 0) {
      ++r.error_distribution[errors[static_cast<size_t>(c.error)]];
    } else {
      ok.push_back(c.latency_ns);
    }
  }
  if (r.count > 0) {
    r.average_ns = static_cast<int64_t>(sum / static_cast<double>(r.count));
  }
  std::sort(ok.begin(), ok.end());
  if (!ok.empty()) {
    for (double p : {10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9}) {
      const size_t i = std::min(
          ok.size() - 1, static_cast<size_t>(std::floor(
                             p / 100.0 * static_cast<double>(ok.size()))));
      r.latency_distribution.push_back({p, ok[i]});
    }
    // ghz (after hey): 10 equal steps from the fastest to the slowest OK
    // call plus the slowest itself; each call counts in the first bucket
    // whose mark it does not exceed.
    constexpr int kSteps = 10;
    const double lo = static_cast<double>(ok.front());
    const double hi = static_cast<double>(ok.back());
    const double step = (hi - lo) / kSteps;
    std::vector<double> marks;
    for (int i = 0; i < kSteps; ++i) marks.push_back(lo + step * i);
    marks.push_back(hi);
    std::vector<int64_t> counts(marks.size(), 0);
    size_t b = 0;
    for (int64_t v : ok) {
      while (b + 1 < marks.size() && static_cast<double>(v) > marks[b]) ++b;
      ++counts[b];
    }
    for (size_t i = 0; i < marks.size(); ++i) {
      r.histogram.push_back(
          {marks[i] / 1e9, counts[i],
           static_cast<double>(counts[i]) / static_cast<double>(ok.size())});
    }
  }
  r.calls = std::move(calls);
  r.errors = std::move(errors);
  return r;
}

namespace {

std::string Ms(int64_t ns) { return absl::StrFormat("%.2f ms", ns / 1e6); }

std::string Rfc3339Nanos(int64_t unix_ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", absl::FromUnixNanos(unix_ns),
                          absl::UTCTimeZone());
}

}  // namespace

std::string GhzSummaryText(const GhzReport& r) {
  std::string out = absl::StrFormat(
      "\nSummary:\n  Count:\t%d\n  Total:\t%s\n  Slowest:\t%s\n"
      "  Fastest:\t%s\n  Average:\t%s\n  Requests/sec:\t%.2f\n\n",
      r.count, Ms(r.total_ns), Ms(r.slowest_ns), Ms(r.fastest_ns),
      Ms(r.average_ns), r.rps);
  out += "Response time histogram:\n";
  int64_t most = 1;
  for (const GhzBucket& b : r.histogram) most = std::max(most, b.count);
  for (const GhzBucket& b : r.histogram) {
    // ghz's bar: up to 40 marks, proportional to the biggest bucket.
    const int64_t bar = (b.count * 40 + most - 1) / most;
    std::string marks;
    for (int64_t i = 0; i < bar; ++i) marks += "\u220e";
    absl::StrAppend(&out,
                    absl::StrFormat("  %.3f [%d]\t|", b.mark_s * 1e3, b.count),
                    marks, "\n");
  }
  out += "\nLatency distribution:\n";
  for (const GhzLatencyPoint& p : r.latency_distribution) {
    absl::StrAppend(&out, absl::StrFormat("  %g %% in %s\n", p.percentage,
                                          Ms(p.latency_ns)));
  }
  out += "\nStatus code distribution:\n";
  for (const auto& [code, n] : r.status_code_distribution) {
    absl::StrAppend(&out, "  [", code, "]\t", n, " responses\n");
  }
  if (!r.error_distribution.empty()) {
    out += "\nError distribution:\n";
    for (const auto& [error, n] : r.error_distribution) {
      absl::StrAppend(&out, "  [", n, "]\t", error, "\n");
    }
  }
  return out;
}

std::string JsonQuote(std::string_view text) {
  return absl::StrCat("\"", server::JsonEscape(text), "\"");
}

namespace {

std::string Distribution(const std::map<std::string, int64_t>& m) {
  std::string out = "{";
  for (const auto& [key, n] : m) {
    absl::StrAppend(&out, out.size() > 1 ? "," : "", JsonQuote(key), ":", n);
  }
  return out + "}";
}

std::string OptionsJson(const GhzRunOptions& o) {
  // The -d template is JSON; it is echoed as JSON when it parses as such
  // (templates inside strings do), else as a string.
  google::protobuf::Value data;
  std::string data_json = JsonQuote(o.data_json);
  if (!o.data_json.empty() &&
      google::protobuf::util::JsonStringToMessage(o.data_json, &data).ok()) {
    data_json = o.data_json;
  }
  return absl::StrFormat(
      "{\"call\":%s,\"host\":%s,\"n\":%d,\"c\":%d,\"connections\":%d,"
      "\"rps\":%g,\"z\":%d,\"timeout\":%d,\"data\":%s,\"binary\":false,"
      "\"insecure\":%s,\"CPUs\":%d}",
      JsonQuote(o.call), JsonQuote(o.host), o.total, o.concurrency,
      o.connections, o.rps, o.duration_ns, o.timeout_ns,
      o.data_json.empty() ? "null" : data_json, o.insecure ? "true" : "false",
      o.cpus);
}

}  // namespace

std::string GhzJson(const GhzReport& r, bool pretty, bool details) {
  std::string out = absl::StrFormat(
      "{\"date\":%s,\"endReason\":%s,\"options\":%s,\"count\":%d,"
      "\"total\":%d,\"average\":%d,\"fastest\":%d,\"slowest\":%d,"
      "\"rps\":%.6f,\"errorDistribution\":%s,\"statusCodeDistribution\":%s,"
      "\"latencyDistribution\":[",
      JsonQuote(r.date), JsonQuote(r.end_reason), OptionsJson(r.options),
      r.count, r.total_ns, r.average_ns, r.fastest_ns, r.slowest_ns, r.rps,
      Distribution(r.error_distribution),
      Distribution(r.status_code_distribution));
  for (size_t i = 0; i < r.latency_distribution.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "",
                    absl::StrFormat("{\"percentage\":%g,\"latency\":%d}",
                                    r.latency_distribution[i].percentage,
                                    r.latency_distribution[i].latency_ns));
  }
  out += "],\"histogram\":[";
  for (size_t i = 0; i < r.histogram.size(); ++i) {
    absl::StrAppend(
        &out, i ? "," : "",
        absl::StrFormat("{\"mark\":%.9g,\"count\":%d,\"frequency\":%.9g}",
                        r.histogram[i].mark_s, r.histogram[i].count,
                        r.histogram[i].frequency));
  }
  out += "]";
  if (details) {
    out += ",\"details\":[";
    for (size_t i = 0; i < r.calls.size(); ++i) {
      const GhzCall& c = r.calls[i];
      absl::StrAppend(
          &out, i ? "," : "",
          absl::StrFormat(
              "{\"timestamp\":%s,\"latency\":%d,\"error\":%s,\"status\":%s}",
              JsonQuote(Rfc3339Nanos(c.start_unix_ns)), c.latency_ns,
              JsonQuote(c.error >= 0 ? r.errors[static_cast<size_t>(c.error)]
                                     : ""),
              JsonQuote(GoCodeName(c.code))));
    }
    out += "]";
  }
  out += "}";
  if (!pretty) return out;
  // Indented by protobuf's JSON printer (a Struct keeps every value).
  google::protobuf::Struct parsed;
  std::string indented;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  if (!google::protobuf::util::JsonStringToMessage(out, &parsed).ok() ||
      !google::protobuf::util::MessageToJsonString(parsed, &indented, print)
           .ok()) {
    return out;
  }
  return indented;
}

std::string GhzCsv(const GhzReport& r) {
  std::string out = "duration (ms),status,error\n";
  for (const GhzCall& c : r.calls) {
    std::string error =
        c.error >= 0 ? r.errors[static_cast<size_t>(c.error)] : "";
    if (error.find_first_of(",\"\n") != std::string::npos) {
      std::string quoted = "\"";
      for (char ch : error)
        quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      error = quoted + "\"";
    }
    absl::StrAppend(&out, absl::StrFormat("%.2f", c.latency_ns / 1e6), ",",
                    core::ToAbsl(GoCodeName(c.code)), ",", error, "\n");
  }
  return out;
}

}  // namespace aisle::cli
