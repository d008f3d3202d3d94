// Event ids through the real API: an id names one event of one user
// (reusing another user's id is refused, never a silent duplicate), and
// idempotency retention counts from when the server stored the id, so
// re-importing old history after a restart and a cleanup stores nothing
// twice. Also the access log's user hash for Feedback.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "storage/store.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

v1::Event MakeEvent(const std::string& id, const std::string& user,
                    int64_t ts = 0) {
  v1::Event e;
  e.set_event_id(id);
  e.set_user_id(user);
  e.set_item_id("i1");
  e.set_type(v1::PURCHASE);
  e.set_timestamp_ms(ts);
  return e;
}

class EventIdsTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    absl::StatusOr<TestServer> server = StartTestServer(config_);
    ASSERT_OK(server);
    server_ = *std::move(server);
  }
  void Stop() { server_ = TestServer(); }

  absl::Status Feedback(const std::vector<v1::Event>& events,
                        v1::FeedbackResponse* response) {
    v1::FeedbackRequest request;
    for (const v1::Event& e : events) *request.add_events() = e;
    auto ctx = ContextWithDeadline();
    return FromGrpc(server_.stub->Feedback(ctx.get(), request, response));
  }

  absl::StatusOr<v1::ImportEventsResponse> Import(
      const std::vector<std::vector<v1::Event>>& batches) {
    auto ctx = ContextWithDeadline();
    v1::ImportEventsResponse response;
    auto writer = server_.stub->ImportEvents(ctx.get(), &response);
    for (const std::vector<v1::Event>& events : batches) {
      v1::FeedbackRequest batch;
      for (const v1::Event& e : events) *batch.add_events() = e;
      writer->Write(batch);
    }
    writer->WritesDone();
    if (absl::Status s = FromGrpc(writer->Finish()); !s.ok()) return s;
    return response;
  }

  // The user's stored PURCHASE count; -1 when the user is unknown.
  int64_t Purchases(const std::string& user) {
    v1::GetUserRequest request;
    request.set_user_id(user);
    v1::UserProfile profile;
    auto ctx = ContextWithDeadline();
    if (!server_.stub->GetUser(ctx.get(), request, &profile).ok()) return -1;
    for (const v1::EventCount& c : profile.event_counts()) {
      if (c.type() == v1::PURCHASE) return c.count();
    }
    return 0;
  }

  TempDir dir_;
  server::ServerConfig config_ = TestServerConfig(dir_.Sub("data"));
  TestServer server_;
};

TEST_F(EventIdsTest, AnotherUsersEventIdIsRefusedNotCountedAsDuplicate) {
  v1::FeedbackResponse response;
  ASSERT_OK(Feedback({MakeEvent("e1", "u1")}, &response));
  EXPECT_EQ(response.accepted(), 1);

  // The same id for another user: refused, nothing of the request stored.
  EXPECT_THAT(
      Feedback({MakeEvent("other", "u2"), MakeEvent("e1", "u2")}, &response),
      StatusIs(absl::StatusCode::kAlreadyExists,
               HasSubstr("events[1].event_id: \"e1\" is already the id of "
                         "another user's event")));
  EXPECT_EQ(Purchases("u2"), -1);
  // Within one request too.
  EXPECT_THAT(
      Feedback({MakeEvent("e2", "u3"), MakeEvent("e2", "u4")}, &response),
      StatusIs(absl::StatusCode::kAlreadyExists,
               HasSubstr("events[1].event_id: \"e2\"")));
  EXPECT_EQ(Purchases("u3"), -1);
  // The same user re-sending is a duplicate, as before.
  ASSERT_OK(Feedback({MakeEvent("e1", "u1")}, &response));
  EXPECT_EQ(response.duplicates(), 1);
  EXPECT_EQ(Purchases("u1"), 1);

  // ImportEvents reports the conflicting event and stores the rest.
  absl::StatusOr<v1::ImportEventsResponse> imported =
      Import({{MakeEvent("e1", "u5"), MakeEvent("e5", "u5")}});
  ASSERT_OK(imported);
  EXPECT_EQ(imported->accepted(), 1);
  EXPECT_EQ(imported->rejected(), 1);
  EXPECT_EQ(imported->duplicates(), 0);
  ASSERT_EQ(imported->errors_size(), 1);
  EXPECT_THAT(imported->errors(0),
              HasSubstr("batch 0: events[0].event_id: \"e1\" is already the "
                        "id of another user's event"));
  EXPECT_EQ(Purchases("u5"), 1);
}

TEST_F(EventIdsTest,
       ReimportingOldHistoryAfterRestartAndCleanupStoresNothingTwice) {
  const int64_t sixty_days_ago =
      absl::ToUnixMillis(absl::Now() - absl::Hours(24 * 60));
  std::vector<v1::Event> history;
  for (int i = 0; i < 10; ++i) {
    history.push_back(
        MakeEvent(absl::StrCat("old-", i), "shopper", sixty_days_ago + i));
  }
  absl::StatusOr<v1::ImportEventsResponse> first = Import({history});
  ASSERT_OK(first);
  EXPECT_EQ(first->accepted(), 10);
  EXPECT_EQ(Purchases("shopper"), 10);

  // Restart, and run the same cleanup the server runs (an hour after start
  // and hourly) on the stopped server's store.
  Stop();
  {
    storage::StoreOptions options;
    options.data_dir = config_.data_dir;
    options.idempotency_retention_ms = config_.idempotency_retention_ms;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(options);
    ASSERT_OK(store);
    absl::StatusOr<int64_t> pruned =
        (*store)->PruneIdempotencyKeys(absl::ToUnixMillis(absl::Now()));
    ASSERT_OK(pruned);
    EXPECT_EQ(*pruned, 0);  // stored just now, whatever the events' age
  }
  Start();

  absl::StatusOr<v1::ImportEventsResponse> again = Import({history});
  ASSERT_OK(again);
  EXPECT_EQ(again->accepted(), 0);
  EXPECT_EQ(again->duplicates(), 10);
  EXPECT_EQ(Purchases("shopper"), 10);
}

// The Feedback access-log line hashes the same user id GetUser's does (it
// once hashed a destroyed temporary string).
TEST_F(EventIdsTest, FeedbackAccessLogHashesTheUsersId) {
  Stop();
  config_.access_log_sample = 1;
  Start();
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured)));
  const std::string user(40, 'x');  // longer than any small-string buffer
  v1::FeedbackResponse response;
  EXPECT_OK(Feedback({MakeEvent("log-1", user)}, &response));
  EXPECT_EQ(Purchases(user), 1);
  Stop();  // every access line is written before the server is gone
  spdlog::set_default_logger(previous);

  std::string feedback_hash, get_user_hash;
  std::istringstream lines(captured.str());
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find("user=");
    if (at == std::string::npos) continue;
    const std::string hash = line.substr(at + 5, 12);
    if (line.find("method=Feedback") != std::string::npos) feedback_hash = hash;
    if (line.find("method=GetUser") != std::string::npos) get_user_hash = hash;
  }
  ASSERT_EQ(feedback_hash.size(), 12u) << captured.str();
  EXPECT_EQ(feedback_hash, get_user_hash);
}

}  // namespace
}  // namespace aisle::testing
