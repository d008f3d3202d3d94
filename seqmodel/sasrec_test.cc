#include "seqmodel/sasrec.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::seqmodel {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int32_t kItems = 12;

SasRecOptions SmallOptions() {
  SasRecOptions o;
  o.max_length = 20;
  o.hidden = 16;
  o.dropout = 0.1;
  o.learning_rate = 1e-2;
  o.batch_size = 16;
  o.seed = 7;
  return o;
}

// Users who walk a fixed cycle 0 -> 1 -> ... -> 11 -> 0, each from their
// own start: the next item is a function of the last one.
std::vector<std::vector<int32_t>> CycleSequences() {
  std::vector<std::vector<int32_t>> sequences;
  for (int user = 0; user < 48; ++user) {
    std::vector<int32_t>& s = sequences.emplace_back();
    const int length = 5 + user % 11;
    for (int t = 0; t < length; ++t) s.push_back((user + t) % kItems);
  }
  return sequences;
}

TEST(SasRecTest, LearnsADeterministicCycle) {
  ASSERT_OK_AND_ASSIGN(auto model, NewSasRec(SmallOptions()));
  const auto sequences = CycleSequences();
  ASSERT_OK(model->Train(sequences, kItems, 30));
  int hits = 0;
  for (int32_t last = 0; last < kItems; ++last) {
    const std::vector<int32_t> input = {(last + kItems - 2) % kItems,
                                        (last + kItems - 1) % kItems, last};
    ASSERT_OK_AND_ASSIGN(std::vector<float> scores, model->Score(input));
    ASSERT_EQ(scores.size(), static_cast<size_t>(kItems));
    const auto best = std::max_element(scores.begin(), scores.end());
    if (best - scores.begin() == (last + 1) % kItems) ++hits;
  }
  // HR@1 over every position of the cycle; untrained it is about 1/12.
  EXPECT_GE(hits, kItems - 1);
}

TEST(SasRecTest, UntrainedModelDoesNotScore) {
  ASSERT_OK_AND_ASSIGN(auto model, NewSasRec(SmallOptions()));
  const std::vector<int32_t> input = {1, 2};
  EXPECT_THAT(model->Score(input),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("before Train")));
}

TEST(SasRecTest, RejectsIndicesOutOfRange) {
  ASSERT_OK_AND_ASSIGN(auto model, NewSasRec(SmallOptions()));
  const std::vector<std::vector<int32_t>> bad = {{0, kItems}};
  EXPECT_THAT(
      model->Train(bad, kItems, 1),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("item index 12")));
  ASSERT_OK(model->Train(CycleSequences(), kItems, 1));
  const std::vector<int32_t> input = {-1};
  EXPECT_THAT(model->Score(input), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("item index -1")));
  EXPECT_THAT(model->Score({}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(
      model->Train(CycleSequences(), kItems + 1, 1),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_items")));
}

TEST(SasRecTest, RejectsBadOptions) {
  SasRecOptions o = SmallOptions();
  o.dropout = 1;
  EXPECT_THAT(NewSasRec(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("dropout")));
  o = SmallOptions();
  o.max_length = 0;
  EXPECT_THAT(NewSasRec(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("max_length")));
}

TEST(SasRecTest, SameSeedSameScores) {
  const auto sequences = CycleSequences();
  const std::vector<int32_t> input = {3, 4, 5};
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    ASSERT_OK_AND_ASSIGN(auto model, NewSasRec(SmallOptions()));
    ASSERT_OK(model->Train(sequences, kItems, 2));
    ASSERT_OK_AND_ASSIGN(std::vector<float> scores, model->Score(input));
    if (run == 0) {
      first = scores;
    } else {
      EXPECT_THAT(scores,
                  ::testing::Pointwise(::testing::FloatNear(1e-4), first));
    }
  }
}

}  // namespace
}  // namespace aisle::seqmodel
