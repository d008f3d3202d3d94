#include "server/cli_data.h"

#include <regex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::cli {
namespace {

core::SparseRows Matrix(int32_t rows, int32_t cols,
                        std::vector<core::Triplet> triplets) {
  return core::SparseRows::FromTriplets(rows, cols, std::move(triplets));
}

TEST(SplitHoldoutTest, PartitionsEveryUsersEntries) {
  std::vector<core::Triplet> t;
  // User u has u + 1 items (user 0 has one: it must be kept).
  for (int32_t u = 0; u < 6; ++u) {
    for (int32_t i = 0; i <= u; ++i) t.push_back({u, i, 1.0f + i});
  }
  const core::SparseRows rows = Matrix(6, 6, t);
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
  core::AlsFactors f;
  f.users = core::RowMatrix(1, 1);
  f.users << 1;
  f.items = core::RowMatrix(4, 1);
  f.items << 4, 3, 2, 1;
  int64_t users = 0;
  // Train item 0 is skipped: the ranking is 1, 2, 3, so the held-out item 2
  // is at rank 2: nDCG = (1 / log2 3) / 1, precision@2 = 1/2.
  core::RankingScores s = HoldoutScores(split, f, 2, 10, 1, &users);
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

TEST(SentLinesTest, MapsServerErrorsToFileLines) {
  SentLines lines;
  // Header on line 1; rows 2..4 sent, row 5 rejected locally, rows 6..9
  // sent, a blank line, rows 11..12 sent: 9 events.
  for (int64_t line : {2, 3, 4, 6, 7, 8, 9, 11, 12}) lines.Add(line);
  EXPECT_EQ(lines.LineOf(0), 2);
  EXPECT_EQ(lines.LineOf(2), 4);
  EXPECT_EQ(lines.LineOf(3), 6);
  EXPECT_EQ(lines.LineOf(6), 9);
  EXPECT_EQ(lines.LineOf(7), 11);
  EXPECT_EQ(lines.LineOf(8), 12);
  EXPECT_EQ(lines.LineOf(9), -1);
  EXPECT_EQ(lines.LineOf(-1), -1);
  // Batches of 4: batch 1, events[3] is event 7 (0-based): line 11.
  EXPECT_EQ(lines.Locate("batch 1: events[3].value: must be finite", 4),
            "line 11: value: must be finite");
  EXPECT_EQ(lines.Locate("batch 0: events[0].user_id: bad", 4),
            "line 2: user_id: bad");
  EXPECT_EQ(lines.Locate("batch 9: events[0].user_id: bad", 4),
            "batch 9: events[0].user_id: bad");
  EXPECT_EQ(lines.Locate("something else", 4), "something else");
}

}  // namespace
}  // namespace aisle::cli
