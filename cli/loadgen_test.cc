// The loadgen pieces that need no server: the mix, the flags, the open-loop
// schedule, the percentiles and the JSON report.
#include "cli/loadgen.h"

#include <chrono>
#include <string>
#include <vector>

#include "cli/loadgen_stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::aisle::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

TEST(LoadgenMixTest, NormalisesWeights) {
  ASSERT_OK_AND_ASSIGN(auto mix, ParseMix("recommend=3,feedback=1,get_item=0"));
  ASSERT_EQ(mix.size(), 2u);
  EXPECT_EQ(mix[0].op, LoadOp::kRecommend);
  EXPECT_DOUBLE_EQ(mix[0].weight, 0.75);
  EXPECT_EQ(mix[1].op, LoadOp::kFeedback);
  EXPECT_DOUBLE_EQ(mix[1].weight, 0.25);
  EXPECT_EQ(MixText(mix), "recommend=0.75,feedback=0.25");
}

TEST(LoadgenMixTest, RejectsBadMixes) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"browse=1", "unknown operation 'browse'"},
           {"recommend=x", "weight of recommend"},
           {"recommend=-1", "weight of recommend"},
           {"recommend=0", "at least one operation"},
           {"", "at least one operation"},
       }) {
    EXPECT_THAT(ParseMix(c.text), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr(c.message)))
        << c.text;
  }
}

TEST(LoadgenMixTest, PickOpFollowsTheCumulativeWeights) {
  ASSERT_OK_AND_ASSIGN(auto mix, ParseMix("recommend=3,feedback=1"));
  EXPECT_EQ(PickOp(mix, 0.0), LoadOp::kRecommend);
  EXPECT_EQ(PickOp(mix, 0.74), LoadOp::kRecommend);
  EXPECT_EQ(PickOp(mix, 0.75), LoadOp::kFeedback);
  EXPECT_EQ(PickOp(mix, 0.999), LoadOp::kFeedback);
  EXPECT_EQ(PickOp(mix, 1.5), LoadOp::kFeedback);  // rounding: the last
}

TEST(LoadgenPercentileTest, NearestRank) {
  std::vector<uint32_t> empty;
  EXPECT_EQ(Percentile(&empty, 0.5), 0);
  std::vector<uint32_t> v;
  for (uint32_t i = 100; i >= 1; --i) v.push_back(i);  // 1..100, reversed
  EXPECT_EQ(Percentile(&v, 0.0), 1);
  EXPECT_EQ(Percentile(&v, 0.5), 51);
  EXPECT_EQ(Percentile(&v, 0.99), 100);
  EXPECT_EQ(Percentile(&v, 1.0), 100);
}

// Parses `args` as `aisle loadgen` would; the config or the first error.
absl::StatusOr<LoadgenConfig> Parse(const std::vector<std::string>& args) {
  LoadgenConfig config;
  std::string mix_text = "recommend=1";
  milliseconds deadline{0};
  FlagParser parser("aisle loadgen [flags]", "");
  RegisterLoadgenFlags(parser, &config, &mix_text, &deadline);
  absl::StatusOr<std::vector<std::string>> positional = parser.Parse(args);
  if (!positional.ok()) return positional.status();
  if (absl::Status s = FinishLoadgenConfig(mix_text, deadline, &config);
      !s.ok()) {
    return s;
  }
  return config;
}

TEST(LoadgenFlagsTest, OpenLoopFlags) {
  ASSERT_OK_AND_ASSIGN(
      LoadgenConfig config,
      Parse({"--rate", "2500", "--deadline", "100ms", "--duration", "6s",
             "--max-in-flight", "500", "--users", "100000", "--json",
             "/tmp/x.json", "--mix", "recommend=4,feedback=1"}));
  EXPECT_DOUBLE_EQ(config.rate, 2500);
  EXPECT_EQ(config.client.timeout, milliseconds(100));
  EXPECT_EQ(config.duration, seconds(6));
  EXPECT_EQ(config.max_in_flight, 500);
  EXPECT_EQ(config.users, 100000);
  EXPECT_EQ(config.json_path, "/tmp/x.json");
  ASSERT_EQ(config.mix.size(), 2u);
  EXPECT_DOUBLE_EQ(config.mix[0].weight, 0.8);
}

TEST(LoadgenFlagsTest, ClosedLoopByDefaultAndTimeoutWithoutDeadline) {
  ASSERT_OK_AND_ASSIGN(LoadgenConfig config, Parse({"--timeout", "2s"}));
  EXPECT_EQ(config.rate, 0);
  EXPECT_EQ(config.client.timeout, seconds(2));
  EXPECT_EQ(config.concurrency, 8);
}

TEST(LoadgenFlagsTest, RejectsBadValues) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--rate", "-1"}, "--rate"},
           {{"--rate", "100", "--rps", "100"}, "exclude each other"},
           {{"--max-in-flight", "0"}, "--max-in-flight"},
           {{"--deadline", "-5ms"}, "deadline"},
           {{"--duration", "0s"}, "--duration"},
           {{"--users", "0"}, "--users"},
           {{"--concurrency", "0"}, "--concurrency"},
           {{"--mix", "browse=1"}, "unknown operation"},
       }) {
    EXPECT_THAT(Parse(c.args), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr(c.message)))
        << c.args[0];
  }
}

TEST(LoadgenScheduleTest, CallsAreDueEveryOneOverRate) {
  EXPECT_EQ(DueOffset(1000, 0), nanoseconds(0));
  EXPECT_EQ(DueOffset(1000, 1), milliseconds(1));
  EXPECT_EQ(DueOffset(1000, 2500), milliseconds(2500));
  EXPECT_EQ(DueOffset(3, 1), nanoseconds(333333333));
}

TEST(LoadgenScheduleTest, CallsDueByCountsTheStartAndEachBoundary) {
  EXPECT_EQ(CallsDueBy(1000, nanoseconds(-1)), 0);
  EXPECT_EQ(CallsDueBy(1000, nanoseconds(0)), 1);
  EXPECT_EQ(CallsDueBy(1000, std::chrono::microseconds(999)), 1);
  EXPECT_EQ(CallsDueBy(1000, milliseconds(1)), 2);
  EXPECT_EQ(CallsDueBy(3, nanoseconds(333333332)), 1);
  EXPECT_EQ(CallsDueBy(3, nanoseconds(333333333)), 2);
  // Agrees with DueOffset at every boundary of an awkward rate.
  for (int64_t n = 1; n < 2000; ++n) {
    EXPECT_EQ(CallsDueBy(7.3, DueOffset(7.3, n)), n + 1) << n;
    EXPECT_EQ(CallsDueBy(7.3, DueOffset(7.3, n) - nanoseconds(1)), n) << n;
  }
}

TEST(LoadgenScheduleTest, CallsInScheduleExcludeTheEnd) {
  EXPECT_EQ(CallsInSchedule(1000, seconds(6)), 6000);
  EXPECT_EQ(CallsInSchedule(1000, nanoseconds(6000000001)), 6001);
  EXPECT_EQ(CallsInSchedule(2.5, seconds(1)), 3);  // at 0, 0.4 and 0.8 s
  EXPECT_EQ(CallsInSchedule(1000, nanoseconds(0)), 0);
}

TEST(LoadgenScheduleTest, ADueCallIsNotSentPastTheBoundOrItsDeadline) {
  const auto deadline = milliseconds(100);
  EXPECT_TRUE(SendsDueCall(nanoseconds(0), deadline, 0, 10));
  EXPECT_TRUE(SendsDueCall(milliseconds(100), deadline, 9, 10));
  EXPECT_FALSE(SendsDueCall(nanoseconds(0), deadline, 10, 10));
  EXPECT_FALSE(
      SendsDueCall(milliseconds(100) + nanoseconds(1), deadline, 0, 10));
}

TEST(LoadgenHistogramTest, SmallValuesAreExact) {
  for (uint32_t v = 0; v < 128; ++v) {
    EXPECT_EQ(LatencyHistogram::BucketOf(v), static_cast<int>(v));
    EXPECT_EQ(LatencyHistogram::BucketUpperBound(static_cast<int>(v)), v);
  }
}

TEST(LoadgenHistogramTest, BucketsCoverEveryValueWithinTwoPercent) {
  int last = -1;
  for (uint64_t v = 0; v <= UINT32_MAX; v = v < 1000 ? v + 1 : v * 1.01) {
    const uint32_t value = static_cast<uint32_t>(v);
    const int b = LatencyHistogram::BucketOf(value);
    ASSERT_GE(b, last) << v;  // monotone
    ASSERT_LT(b, LatencyHistogram::kBuckets) << v;
    const uint32_t upper = LatencyHistogram::BucketUpperBound(b);
    ASSERT_GE(upper, value) << v;
    ASSERT_LE(upper - value, value / 64 + 1) << v;
    last = b;
  }
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT32_MAX),
            LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(LatencyHistogram::BucketUpperBound(LatencyHistogram::kBuckets - 1),
            UINT32_MAX);
}

TEST(LoadgenHistogramTest, QuantilesFollowTheNearestRankRule) {
  LatencyHistogram h;
  EXPECT_EQ(h.Quantile(0.5), 0u);
  std::vector<uint32_t> values;
  for (uint32_t i = 1; i <= 100; ++i) {
    h.Add(i);
    values.push_back(i);
  }
  EXPECT_EQ(h.Quantile(0.5), Percentile(&values, 0.5));
  EXPECT_EQ(h.Quantile(0.99), 100u);
  EXPECT_EQ(h.max(), 100u);
  LatencyHistogram big;
  big.Add(100000);                        // 100 ms: bucket [99328, 100351]
  EXPECT_EQ(big.Quantile(0.5), 100000u);  // clamped to the max seen
  big.Add(200000);
  big.Merge(h);
  EXPECT_EQ(big.count(), 102);
  EXPECT_EQ(big.Quantile(1.0), 200000u);
  const uint32_t p99 = big.Quantile(0.99);  // rank 100 of 0..101: 100000
  EXPECT_GE(p99, 100000u);
  EXPECT_LE(p99, 100000u + 100000u / 64);
}

TEST(LoadgenCountsTest, AnswersByCodeAndInTime) {
  OpenLoopCounts c;
  c.AddAnswer(grpc::StatusCode::OK, true);
  c.AddAnswer(grpc::StatusCode::OK, false);
  c.AddAnswer(grpc::StatusCode::RESOURCE_EXHAUSTED, true);
  c.AddAnswer(grpc::StatusCode::DEADLINE_EXCEEDED, false);
  c.AddAnswer(grpc::StatusCode::INTERNAL, true);
  EXPECT_EQ(c.ok_in_time, 1);
  EXPECT_EQ(c.code(CodeClass::kOk), 2);
  EXPECT_EQ(c.code(CodeClass::kResourceExhausted), 1);
  EXPECT_EQ(c.code(CodeClass::kDeadlineExceeded), 1);
  EXPECT_EQ(c.code(CodeClass::kOther), 1);
  OpenLoopCounts sum;
  sum.offered = 3;
  sum.Merge(c);
  EXPECT_EQ(sum.offered, 3);
  EXPECT_EQ(sum.code(CodeClass::kOk), 2);
}

TEST(LoadgenJsonTest, SummaryAndRows) {
  OpenLoopCounts c;
  c.offered = 10;
  c.sent = 9;
  c.not_sent = 1;
  c.AddAnswer(grpc::StatusCode::OK, true);
  LatencyHistogram h;
  h.Add(1500);
  const RowSummary row = Summarize(0, 0.5, c, h);
  const std::string json =
      OpenLoopJson({100, 100, 0.5, 50, "recommend=1"}, row, {row});
  EXPECT_THAT(json, HasSubstr("\"mode\":\"open\",\"rate\":100.000"));
  EXPECT_THAT(json, HasSubstr("\"offered\":10,\"sent\":9,\"not_sent\":1"));
  EXPECT_THAT(json, HasSubstr("\"ok_in_time\":1,\"ok_in_time_per_s\":2.0"));
  EXPECT_THAT(json, HasSubstr("\"OK\":1,\"RESOURCE_EXHAUSTED\":0"));
  EXPECT_THAT(json, HasSubstr("\"p50\":1.500"));
  EXPECT_THAT(json, HasSubstr("\"seconds\":[{\"start_s\":0.000"));
}

}  // namespace
}  // namespace aisle::cli
