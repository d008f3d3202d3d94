// `aisle loadgen`'s closed loop (or rate-limited) mode: synchronous stubs
// on plain threads.
//
// Each worker thread issues one request at a time. Without --rps the
// workers send back to back (closed loop: throughput = concurrency /
// latency). With --rps requests are scheduled at fixed intervals from the
// start and handed to whichever worker is free; when every worker is busy
// the schedule slips (reported as "late"), so --concurrency must be large
// enough for rps x latency. Latency is measured per call, from send to
// response.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/loadgen.h"
#include "cli/loadgen_stats.h"
#include "cli/output.h"
#include "cli/rpc.h"
#include "cli/text.h"
#include "core/clock.h"
#include "server/grpc_status.h"

namespace aisle::cli {
namespace {

using Clock = core::SteadyClock;

struct WorkerStats {
  absl::Mutex mu;
  std::vector<uint32_t> window_us ABSL_GUARDED_BY(mu);
  int64_t window_errors ABSL_GUARDED_BY(mu) = 0;
  std::vector<uint32_t> all_us ABSL_GUARDED_BY(mu);
  std::map<grpc::StatusCode, int64_t> errors ABSL_GUARDED_BY(mu);
  int64_t late ABSL_GUARDED_BY(mu) = 0;
};

grpc::Status Issue(v1::Recommender::Stub& stub, const LoadgenConfig& config,
                   LoadOp op, std::mt19937_64& rng, const std::string& run_id,
                   int worker, int64_t n) {
  grpc::ClientContext context;
  SetDeadline(&context, config.client.timeout);
  switch (op) {
    case LoadOp::kRecommend:
    case LoadOp::kSimilar: {
      v1::RecommendRequest request = MakeRecommendRequest(config, op, rng);
      v1::RecommendResponse response;
      return stub.Recommend(&context, request, &response);
    }
    case LoadOp::kFeedback: {
      v1::FeedbackRequest request = MakeFeedbackRequest(
          config, Cat("lg-", run_id, "-", worker, "-", n), rng);
      v1::FeedbackResponse response;
      return stub.Feedback(&context, request, &response);
    }
    case LoadOp::kGetItem: {
      v1::GetItemRequest request;
      request.set_item_id(RandomItem(config, rng));
      v1::Item response;
      grpc::Status s = stub.GetItem(&context, request, &response);
      // Unknown ids are an expected answer for random ids, not an error.
      return s.error_code() == grpc::StatusCode::NOT_FOUND ? grpc::Status::OK
                                                           : s;
    }
    case LoadOp::kGetUser: {
      v1::GetUserRequest request;
      request.set_user_id(RandomUser(config, rng));
      v1::UserProfile response;
      grpc::Status s = stub.GetUser(&context, request, &response);
      return s.error_code() == grpc::StatusCode::NOT_FOUND ? grpc::Status::OK
                                                           : s;
    }
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "unknown operation");
}

std::string Ms(double us) { return absl::StrFormat("%.2fms", us / 1000.0); }

// One second of the report, kept for the JSON file.
struct SecondRow {
  int second = 0;
  double rps = 0;
  int64_t ok = 0;
  int64_t errors = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// What the workers share while a run lasts.
struct LoadRun {
  std::vector<std::unique_ptr<v1::Recommender::Stub>> stubs;
  std::vector<std::unique_ptr<WorkerStats>> stats;  // one per worker
  std::string run_id;  // makes feedback event ids unique per run
  std::atomic<int64_t> tickets{0};
  std::atomic<bool> stop{false};
  Clock::time_point start;
  Clock::time_point end;
  std::vector<SecondRow> seconds;  // the reporting thread's only
};

// One worker: takes tickets (request numbers) until the run ends, keeps to
// the --rps schedule if any, and records each call's latency or error.
void Work(const LoadgenConfig& config, LoadRun& run, int w) {
  std::mt19937_64 rng(static_cast<uint64_t>(config.seed) * 1000003 +
                      static_cast<uint64_t>(w));
  std::uniform_real_distribution<double> pick(0, 1);
  v1::Recommender::Stub& stub = *run.stubs[w % run.stubs.size()];
  WorkerStats& my = *run.stats[w];
  while (!run.stop.load(std::memory_order_relaxed)) {
    const int64_t n = run.tickets.fetch_add(1);
    if (config.requests > 0 && n >= config.requests) break;
    if (config.rps > 0) {
      const auto due =
          run.start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(static_cast<double>(n) /
                                                        config.rps));
      if (due >= run.end) break;
      const auto now = Clock::now();
      if (due > now) {
        std::this_thread::sleep_until(due);
      } else if (now - due > std::chrono::milliseconds(100)) {
        absl::MutexLock lock(&my.mu);
        ++my.late;
      }
    }
    if (Clock::now() >= run.end) break;
    const LoadOp op = PickOp(config.mix, pick(rng));
    const auto sent = Clock::now();
    grpc::Status status = Issue(stub, config, op, rng, run.run_id, w, n);
    const auto us = static_cast<uint32_t>(std::min<int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                              sent)
            .count(),
        UINT32_MAX));
    {
      absl::MutexLock lock(&my.mu);
      if (status.ok()) {
        my.window_us.push_back(us);
        my.all_us.push_back(us);
      } else {
        ++my.window_errors;
        ++my.errors[status.error_code()];
      }
    }
    // A server that is down fails calls in microseconds; pause so the
    // workers do not spin on it (the errors are still counted).
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

// One stderr line per second (throughput, p50, p99, errors of that second)
// until `all_done`; stops stragglers shortly after the run's end.
void ReportEverySecond(const LoadgenConfig& config, LoadRun& run,
                       absl::Notification& all_done) {
  Clock::time_point last = run.start;
  int second = 0;
  while (!all_done.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    if (Clock::now() >=
        run.end + std::chrono::seconds(2) + config.client.timeout) {
      run.stop = true;  // stragglers: let the report finish
    }
    const Clock::time_point now = Clock::now();
    std::vector<uint32_t> window;
    int64_t errors = 0;
    for (auto& s : run.stats) {
      absl::MutexLock lock(&s->mu);
      window.insert(window.end(), s->window_us.begin(), s->window_us.end());
      s->window_us.clear();
      errors += s->window_errors;
      s->window_errors = 0;
    }
    const double secs = std::chrono::duration<double>(now - last).count();
    last = now;
    ++second;
    SecondRow row{second, static_cast<double>(window.size() + errors) / secs,
                  static_cast<int64_t>(window.size()), errors};
    row.p50_us = Percentile(&window, 0.50);
    row.p99_us = Percentile(&window, 0.99);
    run.seconds.push_back(row);
    std::cerr << absl::StrFormat("%4ds  %8.0f rps  p50 %s  p99 %s  errors %d\n",
                                 second, row.rps, Ms(row.p50_us),
                                 Ms(row.p99_us), errors);
  }
}

// {"mode":"closed", "summary":{...}, "seconds":[...]} for scripts; false
// (after printing why) when the file cannot be written.
bool WriteJson(const LoadgenConfig& config, const LoadRun& run, double elapsed,
               int64_t ok, const std::map<grpc::StatusCode, int64_t>& errors,
               std::vector<uint32_t>* all, double max) {
  OpenLoopCounts codes;
  codes.codes[static_cast<int>(CodeClass::kOk)] = ok;
  for (const auto& [code, n] : errors) {
    codes.codes[static_cast<int>(ClassOf(code))] += n;
  }
  std::string code_json;
  for (int i = 0; i < kCodeClasses; ++i) {
    absl::StrAppend(&code_json, i == 0 ? "" : ",", "\"",
                    CodeClassName(static_cast<CodeClass>(i)),
                    "\":", codes.codes[i]);
  }
  int64_t total = ok;
  for (const auto& [code, n] : errors) total += n;
  std::string json = absl::StrFormat(
      "{\"mode\":\"closed\",\"concurrency\":%d,\"rps\":%.3f,\"timeout_ms\":%d,"
      "\"mix\":\"%s\",\"summary\":{\"elapsed_s\":%.3f,\"requests\":%d,"
      "\"ok\":%d,\"ok_per_s\":%.1f,\"codes\":{%s},\"latency_ms\":{"
      "\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}},\"seconds\":[",
      config.concurrency, config.rps, config.client.timeout.count(),
      MixText(config.mix), elapsed, total, ok,
      static_cast<double>(ok) / std::max(elapsed, 1e-9), code_json,
      Percentile(all, 0.50) / 1000, Percentile(all, 0.90) / 1000,
      Percentile(all, 0.99) / 1000, max / 1000);
  for (size_t i = 0; i < run.seconds.size(); ++i) {
    const SecondRow& r = run.seconds[i];
    absl::StrAppendFormat(&json,
                          "%s{\"second\":%d,\"rps\":%.1f,\"ok\":%d,"
                          "\"errors\":%d,\"latency_ms\":{\"p50\":%.3f,"
                          "\"p99\":%.3f}}",
                          i == 0 ? "" : ",", r.second, r.rps, r.ok, r.errors,
                          r.p50_us / 1000, r.p99_us / 1000);
  }
  json += "]}\n";
  std::ofstream out(config.json_path, std::ios::trunc);
  out << json;
  out.close();
  if (!out) {
    PrintError(Cat("cannot write --json file ", config.json_path), "");
    return false;
  }
  return true;
}

// The summary on stdout; kExitFailure when every request failed.
int PrintSummary(const LoadgenConfig& config, LoadRun& run, double elapsed) {
  std::vector<uint32_t> all;
  std::map<grpc::StatusCode, int64_t> errors;
  int64_t late = 0;
  for (auto& s : run.stats) {
    absl::MutexLock lock(&s->mu);
    all.insert(all.end(), s->all_us.begin(), s->all_us.end());
    for (const auto& [code, n] : s->errors) errors[code] += n;
    late += s->late;
  }
  int64_t error_total = 0;
  for (const auto& [code, n] : errors) error_total += n;
  const int64_t total = static_cast<int64_t>(all.size()) + error_total;
  double mean = 0;
  for (uint32_t v : all) mean += v;
  if (!all.empty()) mean /= static_cast<double>(all.size());
  const double max =
      all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  std::cout << "requests:  " << FormatCount(total) << " in "
            << absl::StrFormat("%.2fs", elapsed) << " ("
            << absl::StrFormat("%.0f", total / std::max(elapsed, 1e-9))
            << " rps), " << FormatCount(static_cast<int64_t>(all.size()))
            << " ok, " << FormatCount(error_total) << " errors\n";
  std::cout << "latency:   p50 " << Ms(Percentile(&all, 0.50)) << "  p90 "
            << Ms(Percentile(&all, 0.90)) << "  p99 "
            << Ms(Percentile(&all, 0.99)) << "  max " << Ms(max) << "  mean "
            << Ms(mean) << "\n";
  std::cout << "mix:       " << MixText(config.mix) << "\n";
  if (late > 0) {
    std::cout << "late:      " << FormatCount(late)
              << " requests started >100ms behind the --rps schedule "
                 "(raise --concurrency)\n";
  }
  if (!errors.empty()) {
    Table table({"code", "count"});
    for (const auto& [code, n] : errors) {
      table.AddRow({std::string(server::GrpcCodeName(code)), FormatCount(n)});
    }
    std::cout << "errors by code:\n" << table.Render();
  }
  if (!config.json_path.empty() &&
      !WriteJson(config, run, elapsed, static_cast<int64_t>(all.size()), errors,
                 &all, max)) {
    return kExitFailure;
  }
  if (total > 0 && all.empty()) {
    PrintError("every request failed",
               HintForGrpcStatus(grpc::Status(errors.begin()->first, ""),
                                 config.client.target));
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int RunClosedLoop(const LoadgenConfig& config) {
  auto run = std::make_unique<LoadRun>();
  // A few channels (separate connections) so one HTTP/2 connection is not
  // the bottleneck of the measurement.
  for (int i = 0; i < std::min(config.concurrency, 4); ++i) {
    grpc::ChannelArguments channel_args;
    channel_args.SetInt("aisle.loadgen_channel", i);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeClientChannel(config.client, channel_args);
    if (!channel.ok()) {
      PrintError(channel.status().message());
      return kExitFailure;
    }
    run->stubs.push_back(v1::Recommender::NewStub(*channel));
  }
  run->run_id = absl::StrFormat(
      "%x", std::random_device()() ^
                static_cast<uint32_t>(Clock::now().time_since_epoch().count()));
  for (int i = 0; i < config.concurrency; ++i) {
    run->stats.push_back(std::make_unique<WorkerStats>());
  }
  run->start = Clock::now();
  run->end = run->start + config.duration;

  std::cerr << "loadgen: " << config.concurrency << " workers against "
            << config.client.target << " for "
            << config.duration.count() / 1000.0 << "s"
            << (config.rps > 0 ? Cat(" at ", config.rps, " rps") : "")
            << (config.requests > 0
                    ? Cat(", at most ", config.requests, " requests")
                    : "")
            << "\n";

  std::vector<std::thread> workers;
  for (int w = 0; w < config.concurrency; ++w) {
    workers.emplace_back([&, w] { Work(config, *run, w); });
  }
  absl::Notification all_done;
  std::thread waiter([&] {
    for (std::thread& t : workers) t.join();
    all_done.Notify();
  });
  ReportEverySecond(config, *run, all_done);
  waiter.join();
  return PrintSummary(config, *run, core::SecondsSince(run->start));
}

}  // namespace aisle::cli
