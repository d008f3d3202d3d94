// The loadgen pieces that need no server: the mix and the percentiles.
#include "cli/loadgen.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

TEST(LoadgenMixTest, NormalisesWeights) {
  ASSERT_OK_AND_ASSIGN(auto mix, ParseMix("recommend=3,feedback=1,get_item=0"));
  ASSERT_EQ(mix.size(), 2u);
  EXPECT_EQ(mix[0].op, LoadOp::kRecommend);
  EXPECT_DOUBLE_EQ(mix[0].weight, 0.75);
  EXPECT_EQ(mix[1].op, LoadOp::kFeedback);
  EXPECT_DOUBLE_EQ(mix[1].weight, 0.25);
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

}  // namespace
}  // namespace aisle::cli
