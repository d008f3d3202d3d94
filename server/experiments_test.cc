// Experiments files, arm assignment, and the report's statistics.
#include "server/experiments.h"

#include <cmath>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/experiment_stats.h"
#include "tests/status_matchers.h"

namespace aisle::server {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kTwoArms[] = R"({"salt": "s", "experiments": [{
    "name": "e", "scenarios": ["for_you"],
    "variants": [{"name": "a", "share": 3},
                 {"name": "b", "share": 1, "diversity": 0.5,
                  "exploration": 0.2, "co_occurrence": false}]}]})";

TEST(ExperimentsTest, SplitsUsersByShareStablyAndAppliesSettings) {
  ASSERT_OK_AND_ASSIGN(Experiments xp, Experiments::Parse(kTwoArms, "test"));
  std::map<std::string, int> arms;
  constexpr int kUsers = 20000;
  for (int u = 0; u < kUsers; ++u) {
    const std::string user = absl::StrCat("user", u);
    const Experiments::Assignment a = xp.Assign(core::Scenario::kForYou, user);
    ++arms[std::string(a.name())];
    EXPECT_EQ(xp.Assign(core::Scenario::kForYou, user).name(), a.name());
  }
  // 3:1 within a few standard deviations (sd of the count ~61).
  EXPECT_NEAR(arms["a"], kUsers * 0.75, 400);
  EXPECT_NEAR(arms["b"], kUsers * 0.25, 400);
  EXPECT_EQ(xp.Assign(core::Scenario::kTrending, "user1").name(), "default");
  EXPECT_EQ(xp.Assign(core::Scenario::kForYou, "").name(), "default");
  EXPECT_TRUE(xp.Issues(core::Scenario::kForYou, "b"));
  EXPECT_FALSE(xp.Issues(core::Scenario::kTrending, "b"));

  core::RecommendRequest request;
  request.diversity = 0.1;
  Experiments::Apply(xp.experiments()[0].variants[1], &request);
  EXPECT_EQ(request.diversity, 0.5);
  EXPECT_EQ(request.exploration, 0.2);
  EXPECT_FALSE(request.sources.co_occurrence);
  EXPECT_TRUE(request.sources.factor_model);
}

TEST(ExperimentsTest, BadFilesNameTheField) {
  const std::map<std::string, std::string> cases = {
      {R"({"experiments": [{"name": "e", "variants": [{"name": "a",
          "share": 1}]}]})",
       "experiments[0].variants: must have 2..16"},
      {R"({"experiments": [{"name": "e", "scenarios": ["nope"], "variants":
          [{"name": "a", "share": 1}, {"name": "b", "share": 1}]}]})",
       "experiments[0].scenarios[0]: unknown scenario"},
      {R"({"experiments": [{"name": "e", "variants": [{"name": "default",
          "share": 1}, {"name": "b", "share": 1}]}]})",
       "experiments[0].variants[0].name"},
      {R"({"experiments": [{"name": "e", "variants": [{"name": "a",
          "share": 1}, {"name": "b", "share": 1, "diversity": 2}]}]})",
       "experiments[0].variants[1].diversity: must be 0..1"},
      {R"({"experiments": [
          {"name": "e", "variants": [{"name": "a", "share": 1},
                                     {"name": "b", "share": 1}]},
          {"name": "f", "scenarios": ["trending"],
           "variants": [{"name": "c", "share": 1},
                        {"name": "d", "share": 1}]}]})",
       "scenario trending is already in experiment \"e\""},
      {R"({"experiment": []})", "not a valid experiments file"},
  };
  for (const auto& [json, message] : cases) {
    EXPECT_THAT(
        Experiments::Parse(json, "x.json").status(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << json;
  }
}

TEST(ExperimentStatsTest, WilsonAndZTestMatchTheirDefinitions) {
  // Wilson at z = 1.96 for 0 of 10: [0, z^2 / (n + z^2)].
  const WilsonInterval none = Wilson(0, 10, 1.96);
  EXPECT_DOUBLE_EQ(none.low, 0);
  EXPECT_NEAR(none.high, 1.96 * 1.96 / (10 + 1.96 * 1.96), 1e-12);
  const WilsonInterval half = Wilson(50, 100, 1.96);
  EXPECT_NEAR(half.low + half.high, 1.0, 1e-12);  // symmetric around 0.5
  EXPECT_NEAR(NormalQuantileTwoSided(0.95), 1.959964, 1e-6);
  // Equal proportions: z 0, p 1; a large difference: tiny p.
  EXPECT_NEAR(TwoProportionZTest(10, 100, 10, 100).p_value, 1, 1e-12);
  const ZTest big = TwoProportionZTest(50, 1000, 100, 1000);
  EXPECT_GT(big.z, 0);
  EXPECT_LT(big.p_value, 1e-4);
  // Pooled z by hand: p = 0.075, se = sqrt(p (1 - p) (2 / 1000)).
  EXPECT_NEAR(big.z, 0.05 / std::sqrt(0.075 * 0.925 * 0.002), 1e-9);
}

}  // namespace
}  // namespace aisle::server
