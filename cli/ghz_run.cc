// The ghz-mode run: async workers, optional pacing, the report.
#include "cli/ghz_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/output.h"
#include "cli/text.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace aisle::cli {
namespace {

using Clock = std::chrono::steady_clock;

int64_t UnixNanos() { return absl::ToUnixNanos(absl::Now()); }

struct Worker {
  int index = 0;
  int channel = 0;
  std::string id;  // ghz's WorkerID, "g<connection>c<worker>"
  std::mt19937_64 rng;
};

// One call in flight; deleted in its completion callback (gRPC has let go
// of the context by then).
struct InFlight {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  Clock::time_point start;
  int64_t start_unix_ns = 0;
};

class GhzLoad {
 public:
  GhzLoad(const GhzSettings& settings, const GhzMethod& method,
          const std::vector<CallTemplate>& data)
      : settings_(settings), method_(method), data_(data) {}
  GhzLoad(const GhzLoad&) = delete;
  GhzLoad& operator=(const GhzLoad&) = delete;

  absl::Status Init();
  GhzReport Run();

 private:
  bool Exhausted(int64_t k) const {
    return (settings_.total > 0 && k >= settings_.total) ||
           (settings_.duration.count() > 0 && Clock::now() >= stop_);
  }
  // Unthrottled: takes the next request number for `w` and starts it, or
  // retires the worker when the run is over.
  void Next(Worker* w);
  // Starts call k on `w`. False (and the failure recorded) when its data
  // does not convert: then no call is in flight for `w`.
  bool Issue(Worker* w, int64_t k);
  void Record(const InFlight& call, const grpc::Status& status);
  void Done(Worker* w, InFlight* call, const grpc::Status& status);
  void Pace();  // --rps: the schedule, from its own thread
  void PrintProgress(int64_t count, double seconds) const;

  const GhzSettings& settings_;
  const GhzMethod& method_;
  const std::vector<CallTemplate>& data_;
  // The request of each data element without actions, converted once.
  std::vector<std::optional<grpc::Slice>> fixed_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<Worker> workers_;
  GhzRecorder recorder_;
  Clock::time_point start_;
  Clock::time_point stop_;
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> last_end_ns_{0};  // steady ns since start_

  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;            // workers not retired
  std::deque<Worker*> idle_ ABSL_GUARDED_BY(mu_);  // --rps: waiting
};

absl::Status GhzLoad::Init() {
  for (const CallTemplate& t : data_) {
    fixed_.emplace_back();
    if (t.has_actions()) continue;
    std::mt19937_64 unused(1);
    absl::StatusOr<std::string> bytes =
        JsonToRequestBytes(method_, t.Expand(method_.call_data, unused));
    if (!bytes.ok()) return bytes.status();
    fixed_.back().emplace(bytes->data(), bytes->size());
  }
  for (int i = 0; i < settings_.connections; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel: one TCP connection each.
    args.SetInt("aisle.loadgen_channel", i);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeClientChannel(settings_.client, args);
    if (!channel.ok()) return channel.status();
    channels_.push_back(*channel);
    stubs_.push_back(std::make_unique<grpc::GenericStub>(*channel));
  }
  workers_.resize(static_cast<size_t>(settings_.concurrency));
  for (int i = 0; i < settings_.concurrency; ++i) {
    Worker& w = workers_[static_cast<size_t>(i)];
    w.index = i;
    w.channel = i % settings_.connections;
    w.id = absl::StrFormat("g%dc%d", w.channel, i);
    w.rng.seed(settings_.seed +
               static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull);
  }
  return absl::OkStatus();
}

bool GhzLoad::Issue(Worker* w, int64_t k) {
  auto* call = new InFlight();
  const size_t element = static_cast<size_t>(k) % data_.size();
  call->start = Clock::now();
  call->start_unix_ns = UnixNanos();
  if (fixed_[element].has_value()) {
    call->request = grpc::ByteBuffer(&*fixed_[element], 1);
  } else {
    CallData cd = method_.call_data;
    cd.request_number = k;
    cd.worker_id = w->id;
    cd.timestamp_unix_nanos = call->start_unix_ns;
    absl::StatusOr<std::string> bytes =
        JsonToRequestBytes(method_, data_[element].Expand(cd, w->rng));
    if (!bytes.ok()) {
      // Counted like ghz counts a call it could not make.
      Record(*call, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 std::string(bytes.status().message())));
      delete call;
      return false;
    }
    grpc::Slice slice(bytes->data(), bytes->size());
    call->request = grpc::ByteBuffer(&slice, 1);
  }
  call->context.set_deadline(std::chrono::system_clock::now() +
                             settings_.client.timeout);
  if (!settings_.client.token.empty()) {
    call->context.AddMetadata("authorization",
                              "Bearer " + settings_.client.token);
  }
  stubs_[static_cast<size_t>(w->channel)]->UnaryCall(
      &call->context, method_.path, grpc::StubOptions(), &call->request,
      &call->response,
      [this, w, call](grpc::Status status) { Done(w, call, status); });
  return true;
}

void GhzLoad::Record(const InFlight& call, const grpc::Status& status) {
  const auto end = Clock::now();
  recorder_.Add(
      call.start_unix_ns,
      std::chrono::duration_cast<std::chrono::nanoseconds>(end - call.start)
          .count(),
      status);
  const int64_t end_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(end - start_)
          .count();
  int64_t last = last_end_ns_.load(std::memory_order_relaxed);
  while (end_ns > last && !last_end_ns_.compare_exchange_weak(
                              last, end_ns, std::memory_order_relaxed)) {
  }
}

void GhzLoad::Done(Worker* w, InFlight* call, const grpc::Status& status) {
  Record(*call, status);
  delete call;
  if (settings_.rps > 0) {
    absl::MutexLock lock(&mu_);
    idle_.push_back(w);
  } else {
    Next(w);
  }
}

void GhzLoad::Next(Worker* w) {
  while (true) {
    const int64_t k = next_.fetch_add(1, std::memory_order_relaxed);
    if (Exhausted(k)) {
      absl::MutexLock lock(&mu_);
      --active_;
      return;
    }
    if (Issue(w, k)) return;
  }
}

void GhzLoad::Pace() {
  for (int64_t k = 0;; ++k) {
    const auto due =
        start_ + std::chrono::nanoseconds(static_cast<int64_t>(
                     static_cast<double>(k) * 1e9 / settings_.rps));
    if (settings_.duration.count() > 0 && due >= stop_) break;
    std::this_thread::sleep_until(due);
    if (Exhausted(k)) break;
    Worker* w = nullptr;
    {
      absl::MutexLock lock(&mu_);
      // All workers busy: the call waits for one, as in ghz (-c bounds
      // the calls in flight whatever -r asks for). Bounded: every call
      // has a deadline.
      auto some_idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty();
      };
      mu_.Await(absl::Condition(&some_idle));
      w = idle_.front();
      idle_.pop_front();
    }
    if (!Issue(w, k)) {
      absl::MutexLock lock(&mu_);
      idle_.push_back(w);
    }
  }
  absl::MutexLock lock(&mu_);
  const size_t all = workers_.size();
  auto all_idle = [this, all]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return idle_.size() == all;
  };
  mu_.Await(absl::Condition(&all_idle));
  active_ = 0;
}

void GhzLoad::PrintProgress(int64_t count, double seconds) const {
  std::cerr << absl::StrFormat("loadgen: %d calls in %.0fs (%.0f/s)\n", count,
                               seconds, count / std::max(seconds, 1e-9));
}

GhzReport GhzLoad::Run() {
  for (const auto& channel : channels_) {
    channel->WaitForConnected(std::chrono::system_clock::now() +
                              std::chrono::seconds(5));
  }
  const int64_t start_unix_ns = UnixNanos();
  start_ = Clock::now();
  stop_ = start_ + settings_.duration;
  {
    absl::MutexLock lock(&mu_);
    active_ = static_cast<int>(workers_.size());
  }
  std::thread pacer;
  if (settings_.rps > 0) {
    {
      absl::MutexLock lock(&mu_);
      for (Worker& w : workers_) idle_.push_back(&w);
    }
    pacer = std::thread([this] { Pace(); });
  } else {
    for (Worker& w : workers_) Next(&w);
  }
  // Progress once a second on stderr until every worker has retired.
  int64_t seconds = 0;
  auto all_retired = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return active_ == 0;
  };
  while (true) {
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithDeadline(
            absl::Condition(&all_retired),
            absl::FromChrono(std::chrono::system_clock::now() +
                             std::chrono::seconds(1)))) {
      break;
    }
    ++seconds;
    PrintProgress(recorder_.count(), static_cast<double>(seconds));
  }
  if (pacer.joinable()) pacer.join();
  const bool by_duration = settings_.duration.count() > 0;
  GhzRunOptions options;
  options.call = method_.descriptor->full_name();
  options.host = settings_.client.target;
  options.total = settings_.total;
  options.concurrency = settings_.concurrency;
  options.connections = settings_.connections;
  options.rps = settings_.rps;
  options.duration_ns = settings_.duration.count() * 1000000;
  options.timeout_ns = settings_.client.timeout.count() * 1000000;
  options.data_json = settings_.data;
  options.insecure = !settings_.client.UsesTls();
  options.cpus = static_cast<int>(std::thread::hardware_concurrency());
  return BuildGhzReport(
      std::move(options),
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(start_unix_ns),
                       absl::UTCTimeZone()),
      by_duration ? "timeout" : "normal", last_end_ns_.load(),
      recorder_.TakeCalls(), recorder_.errors());
}

}  // namespace

absl::StatusOr<GhzReport> RunGhzLoad(const GhzSettings& settings,
                                     const GhzMethod& method,
                                     const std::vector<CallTemplate>& data) {
  GhzLoad load(settings, method, data);
  if (absl::Status s = load.Init(); !s.ok()) return s;
  return load.Run();
}

int RunGhz(const GhzSettings& settings, const GhzMethod& method,
           const std::vector<CallTemplate>& data) {
  std::cerr << "loadgen: " << method.descriptor->full_name() << " against "
            << settings.client.target << ", " << settings.concurrency
            << " workers on " << settings.connections << " connection(s), "
            << (settings.total > 0
                    ? Cat(settings.total, " calls")
                    : Cat(settings.duration.count() / 1000.0, "s"))
            << (settings.rps > 0 ? Cat(" at ", settings.rps, "/s") : "")
            << "\n";
  absl::StatusOr<GhzReport> report = RunGhzLoad(settings, method, data);
  if (!report.ok()) {
    PrintError(report.status().message(), "check --cacert/--cert/--key and -d");
    return kExitFailure;
  }
  std::string text;
  if (settings.format == "json" || settings.format == "pretty") {
    text = GhzJson(*report, settings.format == "pretty", false) + "\n";
  } else if (settings.format == "csv") {
    text = GhzCsv(*report);
  } else {
    text = GhzSummaryText(*report);
  }
  if (settings.output.empty()) {
    std::cout << text;
  } else {
    std::ofstream out(settings.output, std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      PrintError(Cat("cannot write -o/--output file ", settings.output));
      return kExitFailure;
    }
  }
  const auto ok = report->status_code_distribution.find("OK");
  if (ok == report->status_code_distribution.end() && report->count > 0) {
    const std::string first = report->errors.empty() ? "" : report->errors[0];
    PrintError(Cat("no call succeeded (", first, ")"),
               Cat("is a server listening on ", settings.client.target,
                   "? Plaintext servers need --insecure"));
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace aisle::cli
