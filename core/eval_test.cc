#include "core/eval.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

struct MetricCase {
  std::string name;
  std::vector<std::string> recommended;
  std::vector<std::string> relevant;
  int k;
  RankingScores want;
};

class ScoreRankingTest : public ::testing::TestWithParam<MetricCase> {};

TEST_P(ScoreRankingTest, MatchesHandComputedValues) {
  const MetricCase& c = GetParam();
  absl::flat_hash_set<std::string> relevant(c.relevant.begin(),
                                            c.relevant.end());
  const RankingScores got = ScoreRanking(c.recommended, relevant, c.k);
  EXPECT_NEAR(got.precision, c.want.precision, 1e-9);
  EXPECT_NEAR(got.recall, c.want.recall, 1e-9);
  EXPECT_NEAR(got.ndcg, c.want.ndcg, 1e-9);
  EXPECT_NEAR(got.average_precision, c.want.average_precision, 1e-9);
}

// Hand computations (log2(2) = 1, log2(3) = 1.5849625, log2(4) = 2):
//  hits at ranks 1 and 3 of 3, 2 relevant:
//    P = 2/3, R = 1, DCG = 1 + 1/2 = 1.5, IDCG = 1 + 1/1.5849625 = 1.6309298,
//    nDCG = 0.9197208, AP = (1/1 + 2/3) / 2 = 0.8333333.
//  hit at rank 2 of k = 2, 4 relevant: P = 1/2, R = 1/4,
//    DCG = 0.6309298, IDCG (min(k, 4) = 2) = 1.6309298, nDCG = 0.3868528,
//    AP = (1/2) / 4 = 0.125.
//  list longer than k: only the first k count.
INSTANTIATE_TEST_SUITE_P(
    HandComputed, ScoreRankingTest,
    ::testing::Values(
        MetricCase{"two_hits",
                   {"a", "b", "c"},
                   {"a", "c"},
                   3,
                   {2.0 / 3, 1.0, 1.5 / (1 + 1 / std::log2(3.0)), 5.0 / 6}},
        MetricCase{"one_hit_second",
                   {"x", "a"},
                   {"a", "b", "c", "d"},
                   2,
                   {0.5, 0.25, (1 / std::log2(3.0)) / (1 + 1 / std::log2(3.0)),
                    0.125}},
        MetricCase{"no_hits", {"x", "y"}, {"a"}, 2, {0, 0, 0, 0}},
        MetricCase{"empty_list_counts_zero", {}, {"a"}, 10, {0, 0, 0, 0}},
        MetricCase{"beyond_k_ignored", {"x", "y", "a"}, {"a"}, 2, {0, 0, 0, 0}},
        MetricCase{"short_list_precision_over_k",
                   {"a"},
                   {"a"},
                   10,
                   {0.1, 1.0, 1.0, 1.0}}),
    [](const auto& info) { return info.param.name; });

TEST(LoadRatingsTest, SkipsHeaderAndReportsBadLinesWithNumbers) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string good = (dir / "aisle_eval_good.csv").string();
  const std::string bad = (dir / "aisle_eval_bad.tsv").string();
  std::ofstream(good) << "user,item,rating,ts\nu1,i1,4,100\nu2,i2,5.5,200\n";
  std::ofstream(bad) << "u1\ti1\t4\t100\nu1\ti2\n\nu2\ti3\tx\t5\n";
  auto ratings = LoadRatings(good);
  ASSERT_OK(ratings);
  ASSERT_EQ(ratings->size(), 2u);
  EXPECT_EQ((*ratings)[1].user_id, "u2");
  EXPECT_EQ((*ratings)[1].item_id, "i2");
  EXPECT_DOUBLE_EQ((*ratings)[1].rating, 5.5);
  EXPECT_EQ((*ratings)[1].timestamp_ms, 200000);

  auto broken = LoadRatings(bad);
  ASSERT_THAT(broken, StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(broken, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("line 2, 4")));
  EXPECT_THAT(LoadRatings((dir / "aisle_no_such_file").string()),
              StatusIs(absl::StatusCode::kNotFound, _));
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

// The MovieLens-100K split shared by every helper; skipped when absent.
std::string SplitDir() {
  const char* root = std::getenv("AISLE_SHARED_DATA");
  if (root == nullptr) return "";
  const std::string dir = std::string(root) + "/ml-100k-split-by-user";
  return std::filesystem::exists(dir + "/train.tsv") ? dir : "";
}

EvalOptions SplitOptions(const std::string& dir, EvalVariant variant) {
  EvalOptions o;
  o.train_path = dir + "/train.tsv";
  o.test_path = dir + "/test.tsv";
  o.variant = variant;
  o.k = 10;
  return o;
}

void Print(const EvalReport& r) {
  std::cout << "[eval] " << r.variant << ": nDCG@" << r.k << " " << r.ndcg
            << " P@" << r.k << " " << r.precision << " R@" << r.k << " "
            << r.recall << " MAP " << r.map << " coverage " << r.coverage
            << " users " << r.users_evaluated << " train " << r.train_seconds
            << " s, recommend " << r.recommend_seconds << " s\n";
}

TEST(EvaluateTest, PopularReproducesPublishedBaseline) {
  const std::string dir = SplitDir();
  if (dir.empty()) {
    GTEST_SKIP() << "AISLE_SHARED_DATA/ml-100k-split-by-user not found";
  }
  auto r = Evaluate(SplitOptions(dir, EvalVariant::kPopular));
  ASSERT_OK(r);
  Print(*r);
  EXPECT_EQ(r->users_evaluated, 943);
  EXPECT_EQ(r->train_ratings, 74992);
  EXPECT_NEAR(r->ndcg, 0.2498, 0.0005);
  EXPECT_NEAR(r->precision, 0.2239, 0.0005);
  EXPECT_NEAR(r->recall, 0.1101, 0.0005);
  EXPECT_NEAR(r->map, 0.0555, 0.0005);
}

TEST(EvaluateTest, CoOccurrenceBeatsPopular) {
  const std::string dir = SplitDir();
  if (dir.empty()) {
    GTEST_SKIP() << "AISLE_SHARED_DATA/ml-100k-split-by-user not found";
  }
  auto r = Evaluate(SplitOptions(dir, EvalVariant::kCoOccurrence));
  ASSERT_OK(r);
  Print(*r);
  EXPECT_GT(r->ndcg, 0.30);
}

TEST(EvaluateTest, AlsWithDefaultOptionsReachesTarget) {
  const std::string dir = SplitDir();
  if (dir.empty()) {
    GTEST_SKIP() << "AISLE_SHARED_DATA/ml-100k-split-by-user not found";
  }
  auto r = Evaluate(SplitOptions(dir, EvalVariant::kAls));
  ASSERT_OK(r);
  Print(*r);
  EXPECT_GE(r->ndcg, 0.47);
  EXPECT_GT(r->precision, 0.40);
  EXPECT_GT(r->map, 0.13);
}

}  // namespace
}  // namespace aisle::core
