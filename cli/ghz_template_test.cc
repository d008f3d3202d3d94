// ghz call-template data: parsing errors and per-call expansion.
#include "cli/ghz_template.h"

#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

CallData Data(int64_t n) {
  CallData d;
  d.request_number = n;
  d.worker_id = "g0c3";
  d.fully_qualified_name = "aisle.v1.Recommender.Recommend";
  d.method_name = "Recommend";
  d.service_name = "aisle.v1.Recommender";
  d.input_name = "RecommendRequest";
  d.output_name = "RecommendResponse";
  d.timestamp_unix_nanos = 1700000000123456789;
  return d;
}

TEST(GhzTemplateTest, TextWithoutActionsIsKept) {
  ASSERT_OK_AND_ASSIGN(CallTemplate t,
                       CallTemplate::Parse(R"({"user_id":"u1","count":10})"));
  EXPECT_FALSE(t.has_actions());
  std::mt19937_64 rng(1);
  EXPECT_EQ(t.Expand(Data(0), rng), R"({"user_id":"u1","count":10})");
}

TEST(GhzTemplateTest, FieldsOfTheCall) {
  ASSERT_OK_AND_ASSIGN(
      CallTemplate t,
      CallTemplate::Parse("{{.RequestNumber}}|{{ .WorkerID }}|"
                          "{{.FullyQualifiedName}}|{{.MethodName}}|"
                          "{{.ServiceName}}|{{.InputName}}|{{.OutputName}}|"
                          "{{.IsClientStreaming}}|{{.TimestampUnix}}|"
                          "{{.TimestampUnixMilli}}|{{.TimestampUnixNano}}|"
                          "{{.Timestamp}}"));
  EXPECT_TRUE(t.has_actions());
  std::mt19937_64 rng(1);
  EXPECT_EQ(t.Expand(Data(41), rng),
            "41|g0c3|aisle.v1.Recommender.Recommend|Recommend|"
            "aisle.v1.Recommender|RecommendRequest|RecommendResponse|false|"
            "1700000000|1700000000123|1700000000123456789|"
            "2023-11-14T22:13:20Z");
}

TEST(GhzTemplateTest, RequestNumberChangesPerCall) {
  ASSERT_OK_AND_ASSIGN(
      CallTemplate t,
      CallTemplate::Parse(R"({"event_id":"e{{.RequestNumber}}"})"));
  std::mt19937_64 rng(1);
  EXPECT_EQ(t.Expand(Data(0), rng), R"({"event_id":"e0"})");
  EXPECT_EQ(t.Expand(Data(7), rng), R"({"event_id":"e7"})");
}

TEST(GhzTemplateTest, RandomIntStaysInItsHalfOpenRange) {
  ASSERT_OK_AND_ASSIGN(CallTemplate t,
                       CallTemplate::Parse("{{randomInt 5 8}}"));
  std::mt19937_64 rng(3);
  std::set<int64_t> seen;
  for (int i = 0; i < 400; ++i) {
    int64_t v = 0;
    ASSERT_TRUE(absl::SimpleAtoi(t.Expand(Data(i), rng), &v));
    seen.insert(v);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{5, 6, 7}));
}

TEST(GhzTemplateTest, UuidsAreVersion4AndDistinct) {
  ASSERT_OK_AND_ASSIGN(CallTemplate t,
                       CallTemplate::Parse("{{newUUID}} {{.UUID}}"));
  std::mt19937_64 rng(5);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string s = t.Expand(Data(i), rng);
    EXPECT_THAT(s, MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                "[89ab][0-9a-f]{3}-[0-9a-f]{12} .*"));
    seen.insert(s.substr(0, 36));
    seen.insert(s.substr(37));
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(GhzTemplateTest, RandomStringLengths) {
  ASSERT_OK_AND_ASSIGN(CallTemplate fixed,
                       CallTemplate::Parse("{{randomString 8}}"));
  ASSERT_OK_AND_ASSIGN(CallTemplate any,
                       CallTemplate::Parse("{{randomString 0}}"));
  std::mt19937_64 rng(9);
  for (int i = 0; i < 50; ++i) {
    EXPECT_THAT(fixed.Expand(Data(i), rng), MatchesRegex("[a-zA-Z]{8}"));
    // ghz: a length <= 0 is a random length in [2, 16].
    EXPECT_THAT(any.Expand(Data(i), rng), MatchesRegex("[a-zA-Z]{2,16}"));
  }
}

TEST(GhzTemplateTest, TrimMarkersEatWhitespace) {
  ASSERT_OK_AND_ASSIGN(CallTemplate t,
                       CallTemplate::Parse("a  {{- .RequestNumber -}}  b"));
  std::mt19937_64 rng(1);
  EXPECT_EQ(t.Expand(Data(3), rng), "a3b");
}

TEST(GhzTemplateTest, RejectsWhatItCannotEvaluate) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"{{.Nope}}", "unknown template action {{.Nope}}"},
           {"{{upper .MethodName}}", "unknown template action"},
           {"{{randomInt 5}}", "randomInt takes two arguments"},
           {"{{randomInt 5 5}}", "0 <= min < max"},
           {"{{randomInt a 5}}", "'a' is not an integer"},
           {"{{randomString}}", "randomString takes one argument"},
           {"{{newUUID 3}}", "takes no arguments"},
           {"x {{.RequestNumber", "unclosed '{{'"},
           {"{{ }}", "empty action"},
       }) {
    EXPECT_THAT(
        CallTemplate::Parse(c.text),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.text;
  }
}

}  // namespace
}  // namespace aisle::cli
