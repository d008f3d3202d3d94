#include "server/logging.h"

#include "aisle/v1/recommender.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
