#include "core/training.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;

SparseRows Matrix(int32_t rows, int32_t cols, std::vector<Triplet> triplets) {
  return SparseRows::FromTriplets(rows, cols, std::move(triplets));
}

TEST(SplitHoldoutTest, PartitionsEveryUsersEntries) {
  std::vector<Triplet> t;
  // User u has u + 1 items (user 0 has one: it must be kept).
  for (int32_t u = 0; u < 6; ++u) {
    for (int32_t i = 0; i <= u; ++i) t.push_back({u, i, 1.0f + i});
  }
  const SparseRows rows = Matrix(6, 6, t);
  const HoldoutSplit split = SplitHoldout(rows, 0.5, 7);
  ASSERT_EQ(split.held_out.size(), 6u);
  EXPECT_EQ(split.train.rows, 6);
  EXPECT_EQ(split.train.cols, 6);
  int64_t held = 0;
  for (int32_t u = 0; u < 6; ++u) {
    const int64_t n = u + 1;
    const int64_t kept = split.train.row_ptr[u + 1] - split.train.row_ptr[u];
    const auto out = static_cast<int64_t>(split.held_out[u].size());
    EXPECT_EQ(kept + out, n) << "user " << u;
    EXPECT_EQ(out, n == 1 ? 0 : n / 2) << "user " << u;
    std::vector<int32_t> all(split.held_out[u]);
    for (int64_t e = split.train.row_ptr[u]; e < split.train.row_ptr[u + 1];
         ++e) {
      all.push_back(split.train.col[e]);
      // Weights travel with their entries.
      EXPECT_FLOAT_EQ(split.train.weight[e], 1.0f + split.train.col[e]);
    }
    std::sort(all.begin(), all.end());
    for (int32_t i = 0; i <= u; ++i) EXPECT_EQ(all[i], i);
    held += out;
  }
  EXPECT_EQ(split.train.nnz() + held, rows.nnz());
  // Same seed, same split.
  EXPECT_EQ(SplitHoldout(rows, 0.5, 7).held_out, split.held_out);
}

TEST(HoldoutScoresTest, RanksByDotProductExcludingTrainItems) {
  // One user, four items on a line of decreasing score: item 0 > 1 > 2 > 3.
  HoldoutSplit split;
  split.train = Matrix(1, 4, {{0, 0, 1.0f}});
  split.held_out = {{2}};
  AlsFactors f;
  f.users = RowMatrix(1, 1);
  f.users << 1;
  f.items = RowMatrix(4, 1);
  f.items << 4, 3, 2, 1;
  int64_t users = 0;
  // Train item 0 is skipped: the ranking is 1, 2, 3, so the held-out item 2
  // is at rank 2: nDCG = (1 / log2 3) / 1, precision@2 = 1/2.
  RankingScores s = HoldoutScores(split, f, 2, 10, 1, &users);
  EXPECT_EQ(users, 1);
  EXPECT_NEAR(s.ndcg, 1.0 / std::log2(3.0), 1e-9);
  EXPECT_DOUBLE_EQ(s.precision, 0.5);
  EXPECT_DOUBLE_EQ(s.recall, 1.0);
  // k = 1 misses it.
  EXPECT_DOUBLE_EQ(HoldoutScores(split, f, 1, 10, 1, &users).ndcg, 0.0);
}

TEST(ModelVersionTest, TimeAndFourHexDigits) {
  const absl::Time t = absl::FromUnixSeconds(1795601700);  // 2026-11-25 10:15
  const std::string v = ModelVersion(t, 42);
  EXPECT_TRUE(std::regex_match(v, std::regex("20261125T101500Z-[0-9a-f]{4}")))
      << v;
}

TEST(TrainModelVersionTest, MeasuresOnHoldoutAndRecordsParameters) {
  // Two planted tastes: users 0..39 like items 0..9, users 40..79 items
  // 10..19; each user has 6 of their 10.
  Engine engine{EngineOptions{}};
  std::vector<Event> events;
  for (int u = 0; u < 80; ++u) {
    for (int k = 0; k < 6; ++k) {
      Event e;
      e.event_id = absl::StrCat("e", u, "-", k);
      e.user_id = absl::StrCat("u", u);
      e.item_id = absl::StrCat("i", (u < 40 ? 0 : 10) + (u * 3 + k) % 10);
      e.type = EventType::kPurchase;
      e.timestamp_ms = 1'700'000'000'000 + k;
      events.push_back(e);
    }
  }
  engine.ApplyEvents(events);
  TrainingOptions options;
  options.als.factors = 4;
  options.als.regularization = 0.1f;
  options.als.iterations = 10;
  options.als.threads = 1;
  options.validate_fraction = 0.34;  // 2 of each user's 6
  options.version = "v1";
  options.extra_parameters = {{"source", "test"}};
  std::vector<std::string> phases;
  absl::StatusOr<TrainedModel> trained =
      TrainModelVersion(engine.ExportTrainingData(), options, ModelOptions{},
                        [&phases](std::string_view phase, const AlsProgress&) {
                          if (phases.empty() || phases.back() != phase) {
                            phases.emplace_back(phase);
                          }
                        });
  ASSERT_OK(trained);
  EXPECT_EQ(phases, (std::vector<std::string>{"validation", "train"}));
  const ModelMetadata& m = trained->model->metadata();
  EXPECT_EQ(m.version, "v1");
  EXPECT_EQ(m.users, 80);
  EXPECT_EQ(m.items, 20);
  EXPECT_EQ(m.interactions, 480);
  EXPECT_EQ(trained->holdout_users, 80);
  // The held-out items are in the user's own cluster of 10, 4 unseen
  // ones remain: a model that learnt the clusters ranks them first.
  EXPECT_GT(m.metrics.at("holdout_recall@10"), 0.9);
  EXPECT_GT(m.metrics.at("holdout_ndcg@10"), 0.5);
  EXPECT_EQ(m.parameters.at("source"), "test");
  EXPECT_EQ(m.parameters.at("factors"), "4");
  EXPECT_EQ(m.parameters.at("validate_fraction"), "0.34");

  options.validate_fraction = 0;
  trained =
      TrainModelVersion(engine.ExportTrainingData(), options, ModelOptions{});
  ASSERT_OK(trained);
  // No holdout figures; the segments' figures remain (default segments).
  for (const auto& [name, value] : trained->model->metadata().metrics) {
    EXPECT_FALSE(name.starts_with("holdout_")) << name;
  }
  EXPECT_FALSE(trained->model->segments().empty());
  EXPECT_TRUE(
      trained->model->metadata().metrics.contains("segments_silhouette"));
  EXPECT_EQ(trained->holdout_users, 0);

  Engine empty{EngineOptions{}};
  EXPECT_THAT(
      TrainModelVersion(empty.ExportTrainingData(), options, ModelOptions{}),
      StatusIs(absl::StatusCode::kInvalidArgument, _));
}

}  // namespace
}  // namespace aisle::core
