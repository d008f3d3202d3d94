#include "core/eval_cold_user.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(AgeBandTest, BandsAtTheirEdges) {
  EXPECT_EQ(AgeBand(7), "under 18");
  EXPECT_EQ(AgeBand(18), "18-24");
  EXPECT_EQ(AgeBand(24), "18-24");
  EXPECT_EQ(AgeBand(25), "25-34");
  EXPECT_EQ(AgeBand(44), "35-44");
  EXPECT_EQ(AgeBand(45), "45-49");
  EXPECT_EQ(AgeBand(55), "50-55");
  EXPECT_EQ(AgeBand(56), "56+");
}

class LoadUserAttributesTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path =
        (std::filesystem::temp_directory_path() /
         absl::StrCat("aisle_cold_user_", ::getpid(), "_", name))
            .string();
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  ~LoadUserAttributesTest() override {
    for (const std::string& p : paths_) std::filesystem::remove(p);
  }
  std::vector<std::string> paths_;
};

TEST_F(LoadUserAttributesTest, ReadsMovieLensUsers) {
  ASSERT_OK_AND_ASSIGN(AttributeTable table,
                       LoadUserAttributes(Write("u.user",
                                                "1|24|M|technician|85711\n"
                                                "2|53|F|other|94043\n")));
  ASSERT_EQ(table.size(), 2u);
  EXPECT_THAT(table["1"],
              ElementsAre(Pair("age_band", "18-24"), Pair("gender", "M"),
                          Pair("occupation", "technician")));
  EXPECT_EQ(table["2"].at("age_band"), "50-55");
}

TEST_F(LoadUserAttributesTest, ReadsAHeaderLayoutAndSkipsEmptyValues) {
  ASSERT_OK_AND_ASSIGN(AttributeTable table,
                       LoadUserAttributes(Write("users.csv",
                                                "user_id,region,age_band\n"
                                                "u1,north,25-34\nu2,,55+\n")));
  EXPECT_THAT(table["u1"],
              ElementsAre(Pair("age_band", "25-34"), Pair("region", "north")));
  EXPECT_THAT(table["u2"], ElementsAre(Pair("age_band", "55+")));
}

TEST_F(LoadUserAttributesTest, NamesMalformedLines) {
  EXPECT_THAT(
      LoadUserAttributes(Write("bad.user", "1|24|M|x|1\n2|old|F|x|2\n")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2")));
  EXPECT_THAT(LoadUserAttributes("/nonexistent/u.user"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

// Two planted groups: users with group=a rate items a0..a9, group=b items
// b0..b9; many fans without attributes rate the hits h0..h4, so plain
// popularity recommends hits first.
struct Planted {
  std::vector<Rating> ratings;
  AttributeTable users;
};

Planted MakePlanted() {
  Planted p;
  int64_t ts = 1000;
  for (int u = 0; u < 200; ++u) {
    const std::string user = absl::StrCat("u", u);
    const char* group = u % 2 ? "a" : "b";
    p.users[user]["group"] = group;
    p.users[user]["noise"] = absl::StrCat(u % 3);
    for (int j = 0; j < 3; ++j) {
      p.ratings.push_back(
          {user, absl::StrCat(group, (u + 3 * j) % 10), 5, ts++ * 1000});
    }
  }
  for (int f = 0; f < 300; ++f) {
    for (int h = 0; h < 5; ++h) {
      p.ratings.push_back(
          {absl::StrCat("fan", f), absl::StrCat("h", h), 4, ts++ * 1000});
    }
  }
  return p;
}

TEST(EvaluateColdUserTest, AttributesBeatPopularityOnAPlantedTaste) {
  const Planted p = MakePlanted();
  ColdUserOptions options;
  options.seeds = {1, 2};
  ASSERT_OK_AND_ASSIGN(ColdUserReport report,
                       EvaluateColdUser(p.ratings, p.users, options));
  ASSERT_EQ(report.variants.size(), 2u);
  EXPECT_EQ(report.variants[0].variant, "popular");
  EXPECT_EQ(report.variants[1].variant, "attributes");
  EXPECT_EQ(report.seeds, 2);
  // Of 10% of the 500 users, those with attributes.
  EXPECT_GT(report.users_evaluated, 0);
  EXPECT_LE(report.users_evaluated, 100);
  const EvalReport& popular = report.variants[0].mean;
  const EvalReport& attributes = report.variants[1].mean;
  // Popular lists the five hits and five of the twenty group items; the
  // attribute source lists the user's group's items.
  EXPECT_GT(attributes.recall, popular.recall);
  EXPECT_GT(attributes.ndcg, popular.ndcg);
  EXPECT_GT(attributes.precision, popular.precision);
  EXPECT_GT(report.variants[1].standard_error.ndcg, 0);
}

TEST(EvaluateColdUserTest, PairsTheVariantsPerSeedAndOverAll) {
  const Planted p = MakePlanted();
  ColdUserOptions options;
  options.seeds = {1, 2, 3};
  ASSERT_OK_AND_ASSIGN(ColdUserReport report,
                       EvaluateColdUser(p.ratings, p.users, options));
  ASSERT_EQ(report.per_seed.size(), 3u);
  int64_t users = 0;
  double sum_a = 0, sum_b = 0;
  for (const ColdUserPaired& s : report.per_seed) {
    users += s.ndcg.users;
    sum_a += s.ndcg.mean_a * static_cast<double>(s.ndcg.users);
    sum_b += s.ndcg.mean_b * static_cast<double>(s.ndcg.users);
    EXPECT_EQ(s.smoothing, options.engine.attributes.smoothing);
  }
  EXPECT_EQ(users, report.users_evaluated);
  EXPECT_EQ(report.pooled.ndcg.users, report.users_evaluated);
  // The pooled means weigh every held-out user once.
  EXPECT_NEAR(report.pooled.ndcg.mean_a, sum_a / static_cast<double>(users),
              1e-9);
  EXPECT_NEAR(report.pooled.ndcg.mean_b, sum_b / static_cast<double>(users),
              1e-9);
  // The planted groups: attributes win on every seed and for most users.
  EXPECT_EQ(report.seeds_better, 3);
  EXPECT_GT(report.pooled.ndcg.mean_difference, 0);
  EXPECT_GT(report.pooled.ndcg.better, report.pooled.ndcg.worse);
  EXPECT_LT(report.pooled.ndcg.sign_p_value, 0.01);
}

TEST(EvaluateColdUserTest, TunesTheSmoothingOnTrainingUsersOnly) {
  const Planted p = MakePlanted();
  ColdUserOptions options;
  options.seeds = {1, 2};
  options.smoothing_grid = {0.5, 5000};
  ASSERT_OK_AND_ASSIGN(ColdUserReport report,
                       EvaluateColdUser(p.ratings, p.users, options));
  // 5000 users' worth drowns the groups in popularity (the hits): the
  // validation users, like the held-out ones, prefer the small value.
  for (const ColdUserPaired& s : report.per_seed) {
    EXPECT_EQ(s.smoothing, 0.5) << "seed " << s.seed;
  }
  options.smoothing_grid = {-1};
  EXPECT_THAT(EvaluateColdUser(p.ratings, p.users, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("smoothing_grid")));
}

TEST(EvaluateColdUserTest, SameSeedSameFigures) {
  const Planted p = MakePlanted();
  ColdUserOptions options;
  options.seeds = {7};
  ASSERT_OK_AND_ASSIGN(ColdUserReport a,
                       EvaluateColdUser(p.ratings, p.users, options));
  ASSERT_OK_AND_ASSIGN(ColdUserReport b,
                       EvaluateColdUser(p.ratings, p.users, options));
  EXPECT_EQ(a.variants[1].mean.ndcg, b.variants[1].mean.ndcg);
}

TEST(EvaluateColdUserTest, RejectsBadOptions) {
  const Planted p = MakePlanted();
  ColdUserOptions options;
  options.k = 0;
  EXPECT_THAT(EvaluateColdUser(p.ratings, p.users, options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  options.k = 10;
  options.holdout = 1;
  EXPECT_THAT(EvaluateColdUser(p.ratings, p.users, options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  options.holdout = 0.1;
  EXPECT_THAT(EvaluateColdUser(p.ratings, AttributeTable(), options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no held-out user has attributes")));
}

}  // namespace
}  // namespace aisle::core
