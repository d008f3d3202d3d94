// The sequence-model part of the next-item protocol, with a small real
// model (counts of what followed each item) in place of SASRec, which
// needs libtorch (seqmodel/ has its own tests): the split, the input
// sequence (training part + live item), the exclusion of seen items and
// the rank fusion with the blend.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/eval_next_item.h"
#include "core/next_item_test_data.h"
#include "core/sequence_model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

// First-order "what followed the last item"; with `echo`, the last item
// itself scores above everything, so only the exclusion of seen items
// lets its successor through.
class SuccessorModel final : public SequenceModel {
 public:
  explicit SuccessorModel(bool echo = false) : echo_(echo) {}
  std::string_view name() const override { return "successor"; }
  absl::Status Train(std::span<const std::vector<int32_t>> sequences,
                     int32_t num_items, int epochs) override {
    num_items_ = num_items;
    epochs_ += epochs;
    for (const auto& s : sequences) {
      for (size_t i = 1; i < s.size(); ++i) ++follows_[{s[i - 1], s[i]}];
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<float>> Score(
      std::span<const int32_t> sequence) const override {
    std::vector<float> scores(num_items_, 0);
    for (int32_t i = 0; i < num_items_; ++i) {
      const auto it = follows_.find({sequence.back(), i});
      if (it != follows_.end()) scores[i] = static_cast<float>(it->second);
    }
    if (echo_) scores[sequence.back()] = 1e9;
    return scores;
  }
  int epochs() const { return epochs_; }

 private:
  bool echo_;
  int32_t num_items_ = 0;
  int epochs_ = 0;
  absl::flat_hash_map<std::pair<int32_t, int32_t>, int> follows_;
};

TEST(NextItemSequenceTest, ScoresAfterTheLiveItemWithSeenItemsExcluded) {
  const std::vector<Rating> ratings = Cycles(60, 30, 6);
  SuccessorModel echo(/*echo=*/true);
  NextItemOptions options;
  options.k = 1;
  options.variant = NextItemVariant::kSequence;
  options.sequence_model = &echo;
  options.sequence_epochs = {0, 3};
  ASSERT_OK_AND_ASSIGN(NextItemReport report,
                       EvaluateNextItem(ratings, options));
  EXPECT_EQ(report.variant, "sasrec");
  EXPECT_EQ(echo.epochs(), 3) << "one run, continued to each checkpoint";
  ASSERT_EQ(report.points.size(), 2u);
  EXPECT_EQ(report.points[0].epochs, 0);
  EXPECT_EQ(report.points[1].epochs, 3);
  // The live item scores highest but is seen; its successor comes next.
  EXPECT_EQ(report.hit_rate, 1.0);
  EXPECT_EQ(report.ndcg, 1.0);
}

TEST(NextItemSequenceTest, FusionEndsAreTheBlendAndTheModel) {
  const std::vector<Rating> ratings = Cycles(60, 30, 6);
  NextItemOptions options;
  options.k = 3;
  options.als.factors = 8;
  options.als.threads = 1;
  options.variant = NextItemVariant::kBlend;
  ASSERT_OK_AND_ASSIGN(NextItemReport blend,
                       EvaluateNextItem(ratings, options));
  SuccessorModel alone_model, fused_model;
  options.variant = NextItemVariant::kSequence;
  options.sequence_model = &alone_model;
  ASSERT_OK_AND_ASSIGN(NextItemReport alone,
                       EvaluateNextItem(ratings, options));
  options.variant = NextItemVariant::kBlendSequence;
  options.sequence_model = &fused_model;
  options.fusion_weights = {0, 0.5, 1};
  ASSERT_OK_AND_ASSIGN(NextItemReport fused,
                       EvaluateNextItem(ratings, options));
  ASSERT_EQ(fused.points.size(), 3u);
  EXPECT_EQ(fused.points[0].fusion_weight, 0);
  EXPECT_DOUBLE_EQ(fused.points[0].hit_rate, blend.hit_rate);
  EXPECT_DOUBLE_EQ(fused.points[0].ndcg, blend.ndcg);
  EXPECT_DOUBLE_EQ(fused.points[2].hit_rate, alone.hit_rate);
  EXPECT_DOUBLE_EQ(fused.points[2].ndcg, alone.ndcg);
  EXPECT_EQ(alone.hit_rate, 1.0);
}

TEST(NextItemSequenceTest, RejectsBadSequenceOptions) {
  const std::vector<Rating> ratings = Cycles(4, 5, 4);
  SuccessorModel model;
  NextItemOptions options;
  options.variant = NextItemVariant::kSequence;
  EXPECT_THAT(EvaluateNextItem(ratings, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sequence_model")));
  options.sequence_model = &model;
  options.sequence_epochs = {10, 10};
  EXPECT_THAT(EvaluateNextItem(ratings, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sequence_epochs")));
  options.sequence_epochs = {10};
  options.variant = NextItemVariant::kBlendSequence;
  options.fusion_weights = {1.5};
  EXPECT_THAT(EvaluateNextItem(ratings, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("fusion_weights")));
  options.fusion_weights = {0.5};
  options.fusion_depth = 0;
  EXPECT_THAT(
      EvaluateNextItem(ratings, options),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fusion_depth")));
}

}  // namespace
}  // namespace aisle::core
