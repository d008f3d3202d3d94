#include "server/logging.h"

#include "aisle/v1/recommender.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ringbuffer_sink.h"
#include "spdlog/spdlog.h"
#include "tests/status_matchers.h"

namespace aisle::server {
namespace {

TEST(AccessLogTest, UserIdsArePseudonymised) {
  AccessLog log(1.0, "salt-a");
  const std::string hash = log.HashUserId("alice@example.com");
  EXPECT_THAT(hash, ::testing::MatchesRegex("[0-9a-f]{12}"));
  EXPECT_EQ(log.HashUserId("alice@example.com"), hash);  // correlatable
  EXPECT_NE(log.HashUserId("bob@example.com"), hash);
  EXPECT_EQ(log.HashUserId(""), "");
  // Keyed: another salt gives another pseudonym.
  EXPECT_NE(AccessLog(1.0, "salt-b").HashUserId("alice@example.com"), hash);
  // An empty salt means a random per-instance key.
  EXPECT_NE(AccessLog(1.0, "").HashUserId("alice@example.com"),
            AccessLog(1.0, "").HashUserId("alice@example.com"));
}

// Captures what spdlog's default logger writes while it lives.
class CapturedLog {
 public:
  CapturedLog()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)) {
    auto logger = std::make_shared<spdlog::logger>("captured", sink_);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::vector<std::string> lines() { return sink_->last_formatted(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

TEST(AccessLogTest, ServerFaultsAreLoggedAtMostEveryFiveSeconds) {
  CapturedLog captured;
  AccessLog log(0.0, "salt");  // nothing sampled: faults are logged anyway
  constexpr int64_t kSecond = 1'000'000'000;
  log.Fault("Feedback", "RESOURCE_EXHAUSTED", "disk full writing /d", kSecond);
  log.Fault("Feedback", "RESOURCE_EXHAUSTED", "disk full writing /d",
            2 * kSecond);
  log.Fault("Feedback", "UNAVAILABLE", "recovering", 3 * kSecond);
  // The client's errors and load shedding are not the server's faults.
  log.Fault("Recommend", "INVALID_ARGUMENT", "user_id: empty", 7 * kSecond);
  log.Fault("Recommend", "RESOURCE_EXHAUSTED", "server overloaded: 9 calls",
            7 * kSecond);
  log.Fault("Feedback", "DATA_LOSS", "damaged table", 7 * kSecond);
  const std::vector<std::string> lines = captured.lines();
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], ::testing::HasSubstr(
                            "warning Feedback failed with RESOURCE_EXHAUSTED: "
                            "disk full writing /d"));
  EXPECT_THAT(lines[0], ::testing::Not(::testing::HasSubstr("not logged")));
  EXPECT_THAT(lines[1], ::testing::HasSubstr(
                            "Feedback failed with DATA_LOSS: damaged table (2 "
                            "more server-side failures"));
}

TEST(JsonEscapeTest, EscapesSpecialCharacters) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(JsonEscape("line\nnext\ttab"), "line\\nnext\\ttab");
  EXPECT_EQ(JsonEscape(std::string("\x01", 1)), "\\u0001");
  EXPECT_EQ(JsonEscape("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 passes
}

TEST(ConfigureLoggingTest, RejectsUnknownLevel) {
  EXPECT_OK(ConfigureLogging(LogFormat::kText, "warn"));
  EXPECT_OK(ConfigureLogging(LogFormat::kJson, "off"));
  EXPECT_THAT(ConfigureLogging(LogFormat::kText, "chatty"),
              ::aisle::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                         ::testing::_));
}

TEST(ConfigureLoggingTest, ProtobufParseErrorsStayOutOfTheInfoLog) {
  ASSERT_OK(ConfigureLogging(LogFormat::kJson, "info"));
  v1::Event event;
  event.set_user_id("u1");
  std::string bytes = event.SerializeAsString();
  bytes.back() = '\xff';  // the last byte of "u1": not UTF-8
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(v1::Event().ParseFromString(bytes));
  spdlog::default_logger()->flush();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace aisle::server
