// `aisle loadgen`: a closed-loop (or rate-limited) load generator with
// synchronous stubs on plain threads.
//
// Each worker thread issues one request at a time. Without --rps the
// workers send back to back (closed loop: throughput = concurrency /
// latency). With --rps requests are scheduled at fixed intervals from the
// start and handed to whichever worker is free; when every worker is busy
// the schedule slips (reported as "late"), so --concurrency must be large
// enough for rps x latency. Latency is measured per call, from send to
// response.
#include "cli/loadgen.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/rpc.h"
#include "cli/text.h"
#include "core/clock.h"
#include "server/grpc_status.h"

namespace aisle::cli {

using Clock = core::SteadyClock;

absl::StatusOr<std::vector<MixEntry>> ParseMix(std::string_view text) {
  std::vector<MixEntry> mix;
  double total = 0;
  for (absl::string_view part :
       absl::StrSplit(core::ToAbsl(text), ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    std::optional<LoadOp> op;
    if (kv.first == "recommend") op = LoadOp::kRecommend;
    if (kv.first == "similar") op = LoadOp::kSimilar;
    if (kv.first == "feedback") op = LoadOp::kFeedback;
    if (kv.first == "get_item") op = LoadOp::kGetItem;
    if (kv.first == "get_user") op = LoadOp::kGetUser;
    if (!op.has_value()) {
      return absl::InvalidArgumentError(
          Cat("--mix: unknown operation '", kv.first,
              "' (recommend, similar, feedback, get_item, get_user)"));
    }
    double weight = 0;
    if (!absl::SimpleAtod(kv.second, &weight) || !std::isfinite(weight) ||
        weight < 0) {
      return absl::InvalidArgumentError(
          Cat("--mix: weight of ", kv.first, " must be a number >= 0"));
    }
    if (weight > 0) mix.push_back({*op, weight});
    total += weight;
  }
  if (mix.empty() || total <= 0) {
    return absl::InvalidArgumentError(
        "--mix: give at least one operation with a positive weight, e.g. "
        "recommend=0.8,feedback=0.2");
  }
  for (MixEntry& e : mix) e.weight /= total;
  return mix;
}

std::string_view LoadOpName(LoadOp op) {
  switch (op) {
    case LoadOp::kRecommend:
      return "recommend";
    case LoadOp::kSimilar:
      return "similar";
    case LoadOp::kFeedback:
      return "feedback";
    case LoadOp::kGetItem:
      return "get_item";
    case LoadOp::kGetUser:
      return "get_user";
  }
  return "unknown";
}

double Percentile(std::vector<uint32_t>* sorted_or_not, double q) {
  std::vector<uint32_t>& v = *sorted_or_not;
  if (v.empty()) return 0;
  const size_t index = std::min(
      v.size() - 1,
      static_cast<size_t>(std::floor(q * static_cast<double>(v.size()))));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(index),
                   v.end());
  return v[index];
}

namespace {

struct WorkerStats {
  absl::Mutex mu;
  std::vector<uint32_t> window_us ABSL_GUARDED_BY(mu);
  int64_t window_errors ABSL_GUARDED_BY(mu) = 0;
  std::vector<uint32_t> all_us ABSL_GUARDED_BY(mu);
  std::map<grpc::StatusCode, int64_t> errors ABSL_GUARDED_BY(mu);
  int64_t late ABSL_GUARDED_BY(mu) = 0;
};

struct LoadConfig {
  ClientFlags client;
  int concurrency = 8;
  double rps = 0;
  std::chrono::milliseconds duration{30000};
  int64_t requests = 0;
  std::vector<MixEntry> mix;
  int users = 5000;
  int items = 20000;
  int count = 10;
  uint64_t seed = 1;
};

grpc::Status Issue(v1::Recommender::Stub& stub, const LoadConfig& config,
                   LoadOp op, std::mt19937_64& rng, const std::string& run_id,
                   int worker, int64_t n) {
  grpc::ClientContext context;
  SetDeadline(&context, config.client.timeout);
  auto user = [&] {
    return Cat("u",
               std::uniform_int_distribution<int>(0, config.users - 1)(rng));
  };
  auto item = [&] {
    return Cat("i",
               std::uniform_int_distribution<int>(0, config.items - 1)(rng));
  };
  switch (op) {
    case LoadOp::kRecommend:
    case LoadOp::kSimilar: {
      v1::RecommendRequest request;
      if (op == LoadOp::kRecommend) {
        request.set_user_id(user());
        request.set_scenario(v1::FOR_YOU);
      } else {
        request.add_context_item_ids(item());
        request.set_scenario(v1::SIMILAR_ITEMS);
      }
      request.set_count(config.count);
      v1::RecommendResponse response;
      return stub.Recommend(&context, request, &response);
    }
    case LoadOp::kFeedback: {
      v1::FeedbackRequest request;
      v1::Event* event = request.add_events();
      event->set_event_id(Cat("lg-", run_id, "-", worker, "-", n));
      event->set_user_id(user());
      event->set_item_id(item());
      const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
      event->set_type(roll < 70   ? v1::VIEW
                      : roll < 90 ? v1::CLICK
                      : roll < 95 ? v1::ADD_TO_CART
                                  : v1::PURCHASE);
      v1::FeedbackResponse response;
      return stub.Feedback(&context, request, &response);
    }
    case LoadOp::kGetItem: {
      v1::GetItemRequest request;
      request.set_item_id(item());
      v1::Item response;
      grpc::Status s = stub.GetItem(&context, request, &response);
      // Unknown ids are an expected answer for random ids, not an error.
      return s.error_code() == grpc::StatusCode::NOT_FOUND ? grpc::Status::OK
                                                           : s;
    }
    case LoadOp::kGetUser: {
      v1::GetUserRequest request;
      request.set_user_id(user());
      v1::UserProfile response;
      grpc::Status s = stub.GetUser(&context, request, &response);
      return s.error_code() == grpc::StatusCode::NOT_FOUND ? grpc::Status::OK
                                                           : s;
    }
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "unknown operation");
}

std::string Ms(double us) { return absl::StrFormat("%.2fms", us / 1000.0); }

// What the workers share while a run lasts.
struct LoadRun {
  std::vector<std::unique_ptr<v1::Recommender::Stub>> stubs;
  std::vector<std::unique_ptr<WorkerStats>> stats;  // one per worker
  std::string run_id;  // makes feedback event ids unique per run
  std::atomic<int64_t> tickets{0};
  std::atomic<bool> stop{false};
  Clock::time_point start;
  Clock::time_point end;
};

// One worker: takes tickets (request numbers) until the run ends, keeps to
// the --rps schedule if any, and records each call's latency or error.
void Work(const LoadConfig& config, LoadRun& run, int w) {
  std::mt19937_64 rng(config.seed * 1000003 + static_cast<uint64_t>(w));
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
    double roll = pick(rng);
    LoadOp op = config.mix.back().op;
    for (const MixEntry& e : config.mix) {
      if (roll < e.weight) {
        op = e.op;
        break;
      }
      roll -= e.weight;
    }
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
void ReportEverySecond(const LoadConfig& config, LoadRun& run,
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
    const double rps = static_cast<double>(window.size() + errors) / secs;
    const double p50 = Percentile(&window, 0.50);
    const double p99 = Percentile(&window, 0.99);
    std::cerr << absl::StrFormat("%4ds  %8.0f rps  p50 %s  p99 %s  errors %d\n",
                                 second, rps, Ms(p50), Ms(p99), errors);
  }
}

// The summary on stdout; kExitFailure when every request failed.
int PrintSummary(const LoadConfig& config, const std::string& mix_text,
                 LoadRun& run, double elapsed) {
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
  std::cout << "mix:       " << mix_text << "\n";
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
  if (total > 0 && all.empty()) {
    PrintError("every request failed",
               HintForGrpcStatus(grpc::Status(errors.begin()->first, ""),
                                 config.client.target));
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int RunLoadgen(const Args& args) {
  LoadConfig config;
  config.client.timeout = std::chrono::seconds(1);
  std::string mix_text = "recommend=0.8,feedback=0.2";
  int64_t seed = 1;
  FlagParser parser(
      "aisle loadgen [--target HOST:PORT] [flags]",
      "Sends a mix of requests to one server and reports throughput and "
      "latency percentiles every second and at the end. Stops after "
      "--duration or --requests, whichever comes first. It only ever talks "
      "to --target.");
  config.client.Register(parser);
  parser.Int("concurrency", &config.concurrency,
             "worker threads, each with one request in flight");
  parser.Double("rps", &config.rps,
                "target requests per second; 0 = as fast as the workers go "
                "(closed loop)");
  parser.Duration("duration", &config.duration, "how long to run");
  parser.Int("requests", &config.requests,
             "stop after this many requests; 0 = no limit");
  parser.String("mix", &mix_text,
                "operation weights: recommend (FOR_YOU), similar "
                "(SIMILAR_ITEMS), feedback (one event, unique id), get_item, "
                "get_user");
  parser.Int("users", &config.users,
             "user ids drawn uniformly from u0..u<N-1> (the demo data's ids)");
  parser.Int("items", &config.items,
             "item ids drawn uniformly from i0..i<N-1>");
  parser.Int("count", &config.count, "items per Recommend");
  parser.Int("seed", &seed, "random seed for ids and the mix");
  parser.AddNotes(
      "Equivalent ghz command (ghz reads the API through server "
      "reflection):\n"
      "  ghz --insecure --call aisle.v1.Recommender/Recommend \\\n"
      "      -d '{\"user_id\":\"u{{randomInt 0 5000}}\",\"count\":10}' \\\n"
      "      --concurrency 8 --duration 30s localhost:50051\n"
      "  ghz --insecure --call aisle.v1.Recommender/Feedback \\\n"
      "      -d '{\"events\":[{\"event_id\":\"{{newUUID}}\",\"user_id\":"
      "\"u{{randomInt 0 5000}}\",\"item_id\":\"i{{randomInt 0 20000}}\","
      "\"type\":\"VIEW\"}]}' \\\n"
      "      --rps 1000 --duration 30s localhost:50051\n"
      "\n"
      "Feedback requests store real events; aim loadgen at a test server.");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  absl::StatusOr<std::vector<MixEntry>> mix = ParseMix(mix_text);
  if (!mix.ok()) return UsageError(parser, mix.status().message());
  config.mix = *std::move(mix);
  if (config.concurrency < 1 || config.concurrency > 1024) {
    return UsageError(parser, "--concurrency: must be 1..1024");
  }
  if (config.rps < 0) return UsageError(parser, "--rps: must be >= 0");
  if (config.duration.count() <= 0) {
    return UsageError(parser, "--duration: must be > 0");
  }
  if (config.requests < 0)
    return UsageError(parser, "--requests: must be >= 0");
  if (config.users < 1 || config.items < 1) {
    return UsageError(parser, "--users and --items: must be >= 1");
  }
  config.seed = static_cast<uint64_t>(seed);

  auto run = std::make_unique<LoadRun>();
  // A few channels (separate connections) so one HTTP/2 connection is not
  // the bottleneck of the measurement.
  for (int i = 0; i < std::min(config.concurrency, 4); ++i) {
    grpc::ChannelArguments channel_args;
    channel_args.SetInt("aisle.loadgen_channel", i);
    run->stubs.push_back(v1::Recommender::NewStub(grpc::CreateCustomChannel(
        config.client.target, grpc::InsecureChannelCredentials(),
        channel_args)));
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
  return PrintSummary(config, mix_text, *run, core::SecondsSince(run->start));
}

}  // namespace aisle::cli
