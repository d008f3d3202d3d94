#include "server/recommendation_id.h"

#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

TEST(RecommendationIdTest, RoundTrip) {
  for (core::Scenario s :
       {core::Scenario::kForYou, core::Scenario::kSimilarItems,
        core::Scenario::kFrequentlyBoughtTogether,
        core::Scenario::kRecentlyViewed, core::Scenario::kTrending}) {
    std::string id = NewRecommendationId(s, "default");
    EXPECT_THAT(id, ::testing::MatchesRegex("r1-[1-5]-default-[0-9a-f]{16}"));
    std::optional<RecommendationIdParts> parts = ParseRecommendationId(id);
    ASSERT_TRUE(parts.has_value()) << id;
    EXPECT_EQ(parts->scenario, s);
    EXPECT_EQ(parts->variant, "default");
  }
  EXPECT_NE(NewRecommendationId(core::Scenario::kForYou, "default"),
            NewRecommendationId(core::Scenario::kForYou, "default"));
}

TEST(RecommendationIdTest, RejectsMalformed) {
  for (const char* id :
       {"", "r1", "r1-1-default", "r2-1-default-0123456789abcdef",
        "r1-0-default-0123456789abcdef", "r1-6-default-0123456789abcdef",
        "r1-x-default-0123456789abcdef", "r1-1--0123456789abcdef",
        "r1-1-default-0123", "r1-1-default-0123456789abcdeg",
        "r1-1-a b-0123456789abcdef", "r1-1-default-0123456789abcdef-extra"}) {
    EXPECT_FALSE(ParseRecommendationId(id).has_value()) << id;
  }
}

}  // namespace
}  // namespace aisle::server
