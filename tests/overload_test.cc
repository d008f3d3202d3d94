// Overload: a real server with a small admission limit under a burst of
// concurrent calls refuses what it cannot take at once with
// RESOURCE_EXHAUSTED, keeps answering, stays SERVING, counts the shedding;
// a call whose deadline has passed when it is picked up is not worked on.
//
// No timing thresholds: the slots of the read class are filled by holding
// permits from the test (as two slow reads would), so the refusals are
// deterministic; the expired deadline comes from a server clock set an hour
// ahead of the client's (ServerConfig::deadline_clock), so every call sent
// with a deadline reaches the handler already late.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/admission.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kOverloaded[] =
    "server overloaded: 2 read calls in flight (limit 2); retry with backoff";

// The value of one series in a /metrics scrape ("name{labels}"), -1 when
// absent.
double SeriesValue(const std::string& text, const std::string& series) {
  const std::map<std::string, double> samples = ParseMetricSamples(text);
  const auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

// Every test runs with one and with two Recommend workers (--workers).
class OverloadTest : public ::testing::TestWithParam<int> {
 protected:
  void Start(server::ServerConfig config) {
    config.metrics_port = 0;
    config.workers = GetParam();
    absl::StatusOr<TestServer> server = StartTestServer(config);
    ASSERT_OK(server);
    server_ = *std::move(server);
    v1::UpsertItemsRequest items;
    for (int i = 0; i < 20; ++i) {
      v1::Item* item = items.add_items();
      item->set_item_id(absl::StrCat("i", i));
      item->set_title(absl::StrCat("Item ", i));
      item->add_categories("books");
      item->set_available(true);
    }
    v1::UpsertItemsResponse upserted;
    grpc::ClientContext ctx;  // no deadline: see ExpiredDeadline...
    ASSERT_OK(FromGrpc(server_.stub->UpsertItems(&ctx, items, &upserted)));
  }

  std::string Scrape() {
    absl::StatusOr<std::string> text =
        HttpGet(server_.server->metrics_port(), "/metrics");
    EXPECT_OK(text);
    return text.ok() ? *text : "";
  }

  // Sends `n` Recommends at once on the callback API (each with a 10 s
  // deadline, or none) and returns their statuses once all have finished.
  std::vector<grpc::Status> Burst(int n, bool with_deadline = true) {
    struct Call {
      grpc::ClientContext ctx;
      v1::RecommendResponse response;
      grpc::Status status;
    };
    std::vector<std::unique_ptr<Call>> calls;
    absl::Mutex mu;
    int done = 0;
    v1::RecommendRequest request;
    request.set_user_id("u");
    request.set_scenario(v1::TRENDING);
    request.set_count(5);
    for (int i = 0; i < n; ++i) {
      calls.push_back(std::make_unique<Call>());
      Call* call = calls.back().get();
      if (with_deadline) {
        call->ctx.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(10));
      }
      server_.stub->async()->Recommend(&call->ctx, &request, &call->response,
                                       [call, &mu, &done](grpc::Status s) {
                                         absl::MutexLock lock(&mu);
                                         call->status = std::move(s);
                                         ++done;
                                       });
    }
    {
      // Every call is answered, so this ends; the bound only keeps a
      // broken build from hanging the suite.
      absl::MutexLock lock(&mu);
      const auto all_done = [&done, n] { return done == n; };
      EXPECT_TRUE(
          mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(60)));
    }
    std::vector<grpc::Status> statuses;
    for (const auto& call : calls) statuses.push_back(call->status);
    return statuses;
  }

  TempDir dir_;  // outlives the server
  TestServer server_;
};

TEST_P(OverloadTest, ABurstPastTheLimitIsRefusedAtOnceAndServingGoesOn) {
  server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
  config.admission = server::AdmissionMode::kFixed;
  config.max_in_flight_read = 2;
  ASSERT_NO_FATAL_FAILURE(Start(config));
  server::AdmissionLimiter& reads =
      server_.server->admission().limiter(server::MethodClass::kRead);

  // Two reads in flight (held by the test): the whole burst is refused,
  // before any engine work, with a message that says what to do.
  constexpr int kBurst = 32;
  int refused = 0;
  {
    server::AdmissionLimiter::Permit a = reads.TryAcquire();
    server::AdmissionLimiter::Permit b = reads.TryAcquire();
    ASSERT_TRUE(a.admitted() && b.admitted());
    for (const grpc::Status& status : Burst(kBurst)) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_EQ(status.error_message(), kOverloaded);
      ++refused;
    }
    // Other classes are not affected, and overload is not a failure.
    auto ctx = ContextWithDeadline();
    v1::ModelInfo info;
    EXPECT_OK(FromGrpc(server_.stub->GetModelInfo(
        ctx.get(), v1::GetModelInfoRequest(), &info)));
    EXPECT_EQ(info.catalog_items(), 20);
    EXPECT_THAT(HealthCheck(server_.channel, "aisle.v1.Recommender",
                            std::chrono::seconds(10)),
                IsOkAndHolds(1));  // SERVING
    const std::string text = Scrape();
    EXPECT_EQ(SeriesValue(text, "aisle_admission_limit{class=\"read\"}"), 2);
    EXPECT_EQ(SeriesValue(text, "aisle_admission_in_flight{class=\"read\"}"),
              2);
    EXPECT_EQ(SeriesValue(text,
                          "aisle_recommendations_total{scenario="
                          "\"trending\"}"),
              0);  // the engine was never asked
  }

  // A real burst: each call is served or refused, nothing else (the 10 s
  // deadlines are far beyond any queueing on loopback, so a
  // DEADLINE_EXCEEDED here would mean calls waited instead of being
  // refused). The first call picked up always finds a free slot.
  int ok = 0;
  for (const grpc::Status& status : Burst(64)) {
    if (status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      ++refused;
    }
  }
  EXPECT_GE(ok, 1);

  // After the burst: served again, and every refusal was counted, as shed
  // and as an RPC with its code.
  v1::RecommendRequest request;
  request.set_scenario(v1::TRENDING);
  v1::RecommendResponse response;
  auto ctx = ContextWithDeadline();
  ASSERT_OK(FromGrpc(server_.stub->Recommend(ctx.get(), request, &response)));
  EXPECT_EQ(response.items_size(), 10);
  const std::string text = Scrape();
  EXPECT_EQ(SeriesValue(text,
                        "aisle_rpc_shed_total{method=\"Recommend\","
                        "reason=\"limit\"}"),
            refused);
  EXPECT_EQ(SeriesValue(text,
                        "aisle_grpc_requests_total{code=\"RESOURCE_"
                        "EXHAUSTED\",method=\"Recommend\"}"),
            refused);
  EXPECT_EQ(SeriesValue(text,
                        "aisle_grpc_requests_total{code=\"OK\","
                        "method=\"Recommend\"}"),
            ok + 1);
  EXPECT_EQ(SeriesValue(text, "aisle_admission_in_flight{class=\"read\"}"), 0);
}

TEST_P(OverloadTest, ACallWhoseDeadlinePassedIsNotWorkedOn) {
  server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
  // The server's clock is an hour ahead: every deadline the client sets
  // (10 s) has passed when the handler picks the call up.
  config.deadline_clock = [] { return absl::Now() + absl::Hours(1); };
  ASSERT_NO_FATAL_FAILURE(Start(config));  // seeds without a deadline
  const int64_t events_before = server_.server->engine().Stats().events;

  v1::RecommendRequest request;
  request.set_scenario(v1::TRENDING);
  v1::RecommendResponse response;
  auto ctx = ContextWithDeadline();
  grpc::Status status = server_.stub->Recommend(ctx.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's answer, not the client's own timer.
  EXPECT_THAT(status.error_message(),
              HasSubstr("deadline passed before the server picked it up"));

  // A write is refused before it starts: nothing is stored.
  v1::FeedbackRequest feedback;
  v1::Event* event = feedback.add_events();
  event->set_event_id("late-1");
  event->set_user_id("u");
  event->set_item_id("i1");
  event->set_type(v1::VIEW);
  v1::FeedbackResponse stored;
  ctx = ContextWithDeadline();
  status = server_.stub->Feedback(ctx.get(), feedback, &stored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(server_.server->engine().Stats().events, events_before);

  // Without a deadline the same calls are served.
  grpc::ClientContext no_deadline;
  EXPECT_OK(
      FromGrpc(server_.stub->Recommend(&no_deadline, request, &response)));
  grpc::ClientContext no_deadline_write;
  EXPECT_OK(
      FromGrpc(server_.stub->Feedback(&no_deadline_write, feedback, &stored)));
  EXPECT_EQ(stored.accepted(), 1);

  const std::string text = Scrape();
  EXPECT_EQ(SeriesValue(text,
                        "aisle_rpc_shed_total{method=\"Recommend\","
                        "reason=\"deadline\"}"),
            1);
  EXPECT_EQ(SeriesValue(text,
                        "aisle_rpc_shed_total{method=\"Feedback\","
                        "reason=\"deadline\"}"),
            1);
  // Only the call without a deadline reached the engine.
  EXPECT_EQ(
      SeriesValue(text, "aisle_recommendations_total{scenario=\"trending\"}"),
      1);
}

// Holds the first Recommend's work until opened (ServerConfig::
// recommend_work_hook); later calls pass.
struct WorkGate {
  absl::Mutex mu;
  bool open ABSL_GUARDED_BY(mu) = false;
  int passed ABSL_GUARDED_BY(mu) = 0;
  void Pass() {
    absl::MutexLock lock(&mu);
    if (passed++ == 0) mu.Await(absl::Condition(&open));
  }
  void Open() {
    absl::MutexLock lock(&mu);
    open = true;
  }
};

// The queue-delay rule through the real server (its logic, case by case:
// server/call_queue_test.cc). The server's clock (deadline_clock, also
// the call queue's) reads one
// second later at every read, so a Recommend that waited in the queue at
// all has "waited" seconds, past the 20 ms target, and is refused
// unworked. The one worker is held on the burst's first call until every
// other call of the burst is admitted (and so queued behind it): they all
// wait, whatever the machine's load. Calls carry no deadline, so only this
// rule applies.
TEST_P(OverloadTest, ACallThatWaitedPastTheQueueDelayIsNotWorkedOn) {
  if (GetParam() != 1) GTEST_SKIP() << "needs one worker, so that calls wait";
  server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
  auto now = std::make_shared<std::atomic<int64_t>>(0);
  const absl::Time epoch = absl::Now();
  config.deadline_clock = [now, epoch] {
    return epoch + absl::Seconds(now->fetch_add(1));
  };
  auto gate = std::make_shared<WorkGate>();
  config.recommend_work_hook = [gate] { gate->Pass(); };
  ASSERT_NO_FATAL_FAILURE(Start(config));

  constexpr int kBurst = 8;
  std::vector<grpc::Status> statuses;
  std::thread burst([&] { statuses = Burst(kBurst, /*with_deadline=*/false); });
  // Bounded: each pass is one scrape of /metrics.
  bool all_admitted = false;
  for (int i = 0; i < 20000 && !all_admitted; ++i) {
    all_admitted =
        SeriesValue(Scrape(), "aisle_admission_in_flight{class=\"read\"}") ==
        kBurst;
  }
  gate->Open();
  burst.join();
  ASSERT_TRUE(all_admitted) << "the burst's calls were not all admitted";

  int ok = 0;
  int refused = 0;
  for (const grpc::Status& status : statuses) {
    if (status.ok()) {
      ++ok;
      continue;
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(), HasSubstr("ms in queue; retry"));
    ++refused;
  }
  EXPECT_EQ(ok, 1) << "only the call that found the worker free is served";
  EXPECT_EQ(refused, kBurst - 1);

  // Calls outside the queue are served.
  v1::GetItemRequest get;
  get.set_item_id("i1");
  v1::Item item;
  grpc::ClientContext get_ctx;
  EXPECT_OK(FromGrpc(server_.stub->GetItem(&get_ctx, get, &item)));

  const std::string text = Scrape();
  EXPECT_EQ(SeriesValue(text,
                        "aisle_rpc_shed_total{method=\"Recommend\","
                        "reason=\"limit\"}"),
            refused);
  EXPECT_EQ(
      SeriesValue(text, "aisle_recommendations_total{scenario=\"trending\"}"),
      ok);
  EXPECT_EQ(SeriesValue(text, "aisle_admission_in_flight{class=\"read\"}"), 0);
}

INSTANTIATE_TEST_SUITE_P(Workers, OverloadTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 1 ? "OneWorker" : "TwoWorkers";
                         });

}  // namespace
}  // namespace aisle::testing
