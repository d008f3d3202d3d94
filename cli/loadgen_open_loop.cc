// `aisle loadgen --rate R`: the open loop. One thread starts call n at
// start + n/R (DueOffset) with the callback API, whatever became of the
// calls before it, so a slow server faces the same offered load a crowd of
// independent users would send, not a load that politely waits for it.
// Each call carries its own deadline; the answers arrive on gRPC's threads.
//
// A call due while --max-in-flight calls are outstanding, or that the
// client reaches more than its deadline after its due time (a client too
// slow for the rate), is not sent, so the load ends with the schedule.
//
// Calls are counted in the row (second) of the schedule in which they were
// due, so a row says what became of the load offered in that second. A row
// is printed once its calls' deadlines have passed (deadline + 250 ms after
// its end); an answer later than that (rare: the client enforces its
// deadlines) still counts in the summary and the JSON rows, not in the
// printed line. Per-row latency histograms are freed once printed, so
// memory is bounded by --max-in-flight and a few rows, not by --duration.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/loadgen.h"
#include "cli/loadgen_stats.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/clock.h"

namespace aisle::cli {
namespace {

using Clock = core::SteadyClock;
using Stub = v1::Recommender::Stub;

// A call started more than this behind its due time counts as late: the
// client, not the server, could not keep up with the schedule.
constexpr auto kLate = std::chrono::milliseconds(10);
// After the schedule ends, answers get the deadline plus this; then what
// is left is cancelled.
constexpr auto kDrainGrace = std::chrono::seconds(5);

std::string Ms(uint32_t us) { return absl::StrFormat("%.2fms", us / 1000.0); }

// One outstanding call: its context and messages live until its callback.
struct Call {
  virtual ~Call() = default;
  grpc::ClientContext context;
  int64_t row = 0;
  Clock::time_point sent;
  bool not_found_is_ok = false;  // GetItem/GetUser of random ids
};
template <typename Request, typename Response>
struct TypedCall final : Call {
  Request request;
  Response response;
};

class OpenLoopRun {
 public:
  explicit OpenLoopRun(const LoadgenConfig& config);
  OpenLoopRun(const OpenLoopRun&) = delete;
  OpenLoopRun& operator=(const OpenLoopRun&) = delete;

  // Runs the schedule, the per-second report and the drain; then prints
  // the summary and writes the JSON file. Returns the exit code.
  int Run();

 private:
  int64_t RowOf(int64_t n) const {
    return std::min<int64_t>(
        num_rows_ - 1, DueOffset(config_.rate, n) / std::chrono::seconds(1));
  }
  double RowLength(size_t row) const {
    const double d = std::chrono::duration<double>(config_.duration).count();
    return std::clamp(d - static_cast<double>(row), 0.0, 1.0);
  }
  void SendSchedule();
  void Offer(int64_t n);
  template <typename Request, typename Response>
  void Start(std::unique_ptr<TypedCall<Request, Response>> call,
             void (Stub::async_interface::*method)(
                 grpc::ClientContext*, const Request*, Response*,
                 std::function<void(grpc::Status)>),
             Stub& stub);
  void Done(Call* call, const grpc::Status& status);
  void ReportRows();
  void Drain();
  int Finish();

  const LoadgenConfig& config_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<Stub>> stubs_;
  std::mt19937_64 rng_;   // the sending thread's only
  std::string run_id_;    // makes feedback event ids unique per run
  int64_t total_ = 0;     // calls in the schedule
  int64_t num_rows_ = 0;  // rows_.size(), fixed by the constructor
  Clock::time_point start_;
  std::atomic<int64_t> in_flight_{0};

  struct Row {
    OpenLoopCounts counts;
    std::unique_ptr<LatencyHistogram> latency;  // null once printed
    RowSummary printed;
  };
  absl::Mutex mu_;
  std::vector<Row> rows_ ABSL_GUARDED_BY(mu_);
  LatencyHistogram latency_ ABSL_GUARDED_BY(mu_);  // every OK call
  std::unordered_set<Call*> outstanding_ ABSL_GUARDED_BY(mu_);
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
};

OpenLoopRun::OpenLoopRun(const LoadgenConfig& config)
    : config_(config), rng_(static_cast<uint64_t>(config.seed)) {
  // A few channels (separate connections), as in the closed loop.
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments channel_args;
    channel_args.SetInt("aisle.loadgen_channel", i);
    // RunLoadgen has made a channel with these flags already, so this
    // fails only if a TLS file vanished since; then fewer channels.
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeClientChannel(config.client, channel_args);
    if (!channel.ok()) continue;
    channels_.push_back(*std::move(channel));
    stubs_.push_back(v1::Recommender::NewStub(channels_.back()));
  }
  run_id_ = absl::StrFormat(
      "%x", std::random_device()() ^
                static_cast<uint32_t>(Clock::now().time_since_epoch().count()));
  total_ = CallsInSchedule(config.rate, config.duration);
  if (config.requests > 0) total_ = std::min(total_, config.requests);
  const int64_t rows =
      total_ == 0
          ? 1
          : DueOffset(config.rate, total_ - 1) / std::chrono::seconds(1) + 1;
  num_rows_ = rows;
  absl::MutexLock lock(&mu_);
  rows_.resize(static_cast<size_t>(rows));
  for (Row& r : rows_) r.latency = std::make_unique<LatencyHistogram>();
}

void OpenLoopRun::SendSchedule() {
  int64_t next = 0;
  while (next < total_) {
    const int64_t due =
        std::min(total_, CallsDueBy(config_.rate, Clock::now() - start_));
    while (next < due) Offer(next++);
    if (next < total_) {
      std::this_thread::sleep_until(start_ + DueOffset(config_.rate, next));
    }
  }
}

void OpenLoopRun::Offer(int64_t n) {
  const int64_t row = RowOf(n);
  const auto behind = Clock::now() - (start_ + DueOffset(config_.rate, n));
  if (!SendsDueCall(behind, config_.client.timeout,
                    in_flight_.load(std::memory_order_relaxed),
                    config_.max_in_flight)) {
    absl::MutexLock lock(&mu_);
    ++rows_[row].counts.offered;
    ++rows_[row].counts.not_sent;
    return;
  }
  const LoadOp op =
      PickOp(config_.mix, std::uniform_real_distribution<double>(0, 1)(rng_));
  Stub& stub = *stubs_[static_cast<size_t>(n) % stubs_.size()];
  auto prepare = [&](auto call) {
    call->row = row;
    call->context.set_deadline(std::chrono::system_clock::now() +
                               config_.client.timeout);
    return call;
  };
  using S = Stub::async_interface;
  switch (op) {
    case LoadOp::kRecommend:
    case LoadOp::kSimilar: {
      auto call =
          prepare(std::make_unique<
                  TypedCall<v1::RecommendRequest, v1::RecommendResponse>>());
      call->request = MakeRecommendRequest(config_, op, rng_);
      Start(std::move(call), &S::Recommend, stub);
      break;
    }
    case LoadOp::kFeedback: {
      auto call =
          prepare(std::make_unique<
                  TypedCall<v1::FeedbackRequest, v1::FeedbackResponse>>());
      call->request =
          MakeFeedbackRequest(config_, Cat("lg-", run_id_, "-o-", n), rng_);
      Start(std::move(call), &S::Feedback, stub);
      break;
    }
    case LoadOp::kGetItem: {
      auto call =
          prepare(std::make_unique<TypedCall<v1::GetItemRequest, v1::Item>>());
      call->request.set_item_id(RandomItem(config_, rng_));
      call->not_found_is_ok = true;
      Start(std::move(call), &S::GetItem, stub);
      break;
    }
    case LoadOp::kGetUser: {
      auto call = prepare(
          std::make_unique<TypedCall<v1::GetUserRequest, v1::UserProfile>>());
      call->request.set_user_id(RandomUser(config_, rng_));
      call->not_found_is_ok = true;
      Start(std::move(call), &S::GetUser, stub);
      break;
    }
  }
  absl::MutexLock lock(&mu_);
  ++rows_[row].counts.offered;
  ++rows_[row].counts.sent;
  if (behind > kLate) ++rows_[row].counts.late;
}

template <typename Request, typename Response>
void OpenLoopRun::Start(std::unique_ptr<TypedCall<Request, Response>> owned,
                        void (Stub::async_interface::*method)(
                            grpc::ClientContext*, const Request*, Response*,
                            std::function<void(grpc::Status)>),
                        Stub& stub) {
  // Owned by gRPC's callback from here: Done deletes it.
  TypedCall<Request, Response>* call = owned.release();
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    outstanding_.insert(call);
  }
  call->sent = Clock::now();
  (stub.async()->*method)(
      &call->context, &call->request, &call->response,
      [this, call](grpc::Status status) { Done(call, status); });
}

void OpenLoopRun::Done(Call* call, const grpc::Status& status) {
  const auto elapsed = Clock::now() - call->sent;
  const auto us = static_cast<uint32_t>(std::min<int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count(),
      UINT32_MAX));
  const bool ok =
      status.ok() || (call->not_found_is_ok &&
                      status.error_code() == grpc::StatusCode::NOT_FOUND);
  {
    absl::MutexLock lock(&mu_);
    Row& row = rows_[static_cast<size_t>(call->row)];
    row.counts.AddAnswer(ok ? grpc::StatusCode::OK : status.error_code(),
                         elapsed <= config_.client.timeout);
    if (ok) {
      if (row.latency != nullptr) row.latency->Add(us);
      latency_.Add(us);
    }
    outstanding_.erase(call);
  }
  delete call;
  // Last: once in_flight_ reaches 0 the run may be destroyed.
  in_flight_.fetch_sub(1, std::memory_order_release);
}

void OpenLoopRun::ReportRows() {
  const auto settle = config_.client.timeout + std::chrono::milliseconds(250);
  for (size_t k = 0;; ++k) {
    absl::MutexLock lock(&mu_);
    if (k >= rows_.size()) return;
    const auto ready = start_ + std::chrono::seconds(k + 1) + settle;
    const auto wait = std::max(Clock::duration::zero(), ready - Clock::now());
    mu_.AwaitWithTimeout(absl::Condition(&drained_), absl::FromChrono(wait));
    Row& row = rows_[k];
    row.printed = Summarize(static_cast<double>(k), RowLength(k), row.counts,
                            *row.latency);
    row.latency.reset();
    const OpenLoopCounts& c = row.counts;
    std::cerr << absl::StrFormat(
        "%4ds  offered %6d  sent %6d  in time %6d (%3.0f%%)  OK %d  "
        "RESOURCE_EXHAUSTED %d  DEADLINE_EXCEEDED %d  UNAVAILABLE %d  "
        "CANCELLED %d  other %d  not sent %d  p50 %s  p99 %s\n",
        k + 1, c.offered, c.sent, c.ok_in_time,
        c.offered > 0 ? 100.0 * c.ok_in_time / c.offered : 0.0,
        c.code(CodeClass::kOk), c.code(CodeClass::kResourceExhausted),
        c.code(CodeClass::kDeadlineExceeded), c.code(CodeClass::kUnavailable),
        c.code(CodeClass::kCancelled), c.code(CodeClass::kOther), c.not_sent,
        Ms(row.printed.p50_us), Ms(row.printed.p99_us));
  }
}

void OpenLoopRun::Drain() {
  // Every call has a deadline, so the answers come; the cancel is a
  // safety net against a client that never hears back.
  const auto give_up = Clock::now() + config_.client.timeout + kDrainGrace;
  bool cancelled = false;
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    if (!cancelled && Clock::now() >= give_up) {
      absl::MutexLock lock(&mu_);
      for (Call* call : outstanding_) call->context.TryCancel();
      cancelled = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  absl::MutexLock lock(&mu_);
  drained_ = true;
}

int OpenLoopRun::Run() {
  if (stubs_.empty()) {
    PrintError("cannot open a channel: a TLS file vanished",
               "check --tls-ca, --tls-cert and --tls-key");
    return kExitFailure;
  }
  std::cerr << "loadgen: open loop, " << config_.rate << " calls/s against "
            << config_.client.target << " for "
            << config_.duration.count() / 1000.0 << "s (" << total_
            << " calls), deadline " << config_.client.timeout.count()
            << "ms, at most " << config_.max_in_flight << " in flight\n";
  // Connect first, so the schedule measures the server, not the handshakes;
  // a channel that cannot connect fails its calls, which the report shows.
  for (const auto& channel : channels_) {
    channel->WaitForConnected(std::chrono::system_clock::now() +
                              std::chrono::seconds(5));
  }
  start_ = Clock::now();
  std::thread reporter([this] { ReportRows(); });
  SendSchedule();
  Drain();
  reporter.join();
  return Finish();
}

int OpenLoopRun::Finish() {
  absl::MutexLock lock(&mu_);
  const double elapsed =
      std::chrono::duration<double>(config_.duration).count();
  OpenLoopCounts all;
  std::vector<RowSummary> seconds;
  for (size_t k = 0; k < rows_.size(); ++k) {
    all.Merge(rows_[k].counts);
    // The printed quantiles, with the counts as they are now (stragglers).
    RowSummary s = rows_[k].printed;
    s.counts = rows_[k].counts;
    seconds.push_back(s);
  }
  const RowSummary summary = Summarize(0, elapsed, all, latency_);
  const double per_s = 1.0 / std::max(elapsed, 1e-9);
  std::cout << "offered:   " << FormatCount(all.offered) << " in "
            << absl::StrFormat("%.2fs (%.0f/s): ", elapsed, all.offered * per_s)
            << FormatCount(all.sent) << " sent, " << FormatCount(all.not_sent)
            << " not sent (--max-in-flight " << config_.max_in_flight
            << " reached, or more than the deadline behind schedule), "
            << FormatCount(all.late) << " sent >10ms late\n";
  std::cout << "in time:   " << FormatCount(all.ok_in_time) << " OK within "
            << config_.client.timeout.count() << "ms"
            << absl::StrFormat(
                   " (%.0f/s, %.1f%% of offered)\n", all.ok_in_time * per_s,
                   all.offered > 0 ? 100.0 * all.ok_in_time / all.offered
                                   : 0.0);
  std::cout << "latency:   p50 " << Ms(summary.p50_us) << "  p90 "
            << Ms(summary.p90_us) << "  p99 " << Ms(summary.p99_us) << "  max "
            << Ms(summary.max_us) << "  (OK calls)\n";
  std::cout << "mix:       " << MixText(config_.mix) << "\n";
  Table table({"code", "count"});
  for (int i = 0; i < kCodeClasses; ++i) {
    table.AddRow(
        {CodeClassName(static_cast<CodeClass>(i)), FormatCount(all.codes[i])});
  }
  std::cout << "calls by code:\n" << table.Render();
  if (!config_.json_path.empty()) {
    OpenLoopSettings settings{
        config_.rate, static_cast<double>(config_.client.timeout.count()),
        elapsed, config_.max_in_flight, MixText(config_.mix)};
    std::ofstream out(config_.json_path, std::ios::trunc);
    out << OpenLoopJson(settings, summary, seconds) << "\n";
    out.close();
    if (!out) {
      PrintError(Cat("cannot write --json file ", config_.json_path));
      return kExitFailure;
    }
  }
  if (all.sent > 0 && all.code(CodeClass::kOk) == 0) {
    grpc::StatusCode most = grpc::StatusCode::UNKNOWN;
    int64_t most_n = 0;
    for (auto code :
         {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
          grpc::StatusCode::RESOURCE_EXHAUSTED}) {
      if (all.code(ClassOf(code)) > most_n) {
        most = code;
        most_n = all.code(ClassOf(code));
      }
    }
    PrintError("no call succeeded", HintForGrpcStatus(grpc::Status(most, ""),
                                                      config_.client.target));
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int RunOpenLoop(const LoadgenConfig& config) {
  OpenLoopRun run(config);
  return run.Run();
}

}  // namespace aisle::cli
