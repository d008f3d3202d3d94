// The next-item protocol on generated data where what comes next is fully
// determined by the previous item (a cycle through the catalog): the
// first-order Markov baseline must find it, popularity must not.
#include "core/eval_next_item.h"

#include <string>
#include <vector>

#include "core/next_item_test_data.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

TEST(NextItemEvalTest, MarkovFindsADeterministicSuccessorPopularityDoesNot) {
  const std::vector<Rating> ratings = Cycles(60, 30, 6);
  NextItemOptions options;
  options.k = 1;
  options.variant = NextItemVariant::kMarkov;
  ASSERT_OK_AND_ASSIGN(NextItemReport markov,
                       EvaluateNextItem(ratings, options));
  options.variant = NextItemVariant::kPopular;
  ASSERT_OK_AND_ASSIGN(NextItemReport popular,
                       EvaluateNextItem(ratings, options));
  EXPECT_EQ(markov.users_evaluated, 60);
  EXPECT_EQ(markov.train_ratings, 60 * 4);
  EXPECT_EQ(markov.hit_rate, 1.0) << "every successor was seen in training";
  EXPECT_EQ(markov.ndcg, 1.0);
  EXPECT_LT(popular.hit_rate, 0.5);
}

TEST(NextItemEvalTest, BlendRunsThroughTheFactorModel) {
  const std::vector<Rating> ratings = Cycles(60, 30, 6);
  NextItemOptions options;
  options.k = 3;
  options.variant = NextItemVariant::kBlend;
  options.als.factors = 8;
  options.als.threads = 1;
  ASSERT_OK_AND_ASSIGN(NextItemReport blend,
                       EvaluateNextItem(ratings, options));
  EXPECT_EQ(blend.variant, "blend");
  EXPECT_GT(blend.hit_rate, 0.9) << "the session signal carries the cycle";
}

// The learned re-scoring, fitted on the training part (the cycle one
// step back), learns to follow the cycle too.
TEST(NextItemEvalTest, SessionRankerIsFittedOnTheTrainingPart) {
  const std::vector<Rating> ratings = Cycles(60, 30, 8);
  NextItemOptions options;
  options.k = 3;
  options.variant = NextItemVariant::kBlend;
  options.als.factors = 8;
  options.als.threads = 1;
  options.ranker_fit_steps = 2;
  ASSERT_OK_AND_ASSIGN(NextItemReport learned,
                       EvaluateNextItem(ratings, options));
  ASSERT_EQ(learned.ranker_weights.size(),
            static_cast<size_t>(kSessionRankerFeatures));
  EXPECT_EQ(learned.ranker_fit_users, 2 * 60) << "one query per user and step";
  EXPECT_GT(learned.ranker_queries, 60);
  EXPECT_GT(learned.hit_rate, 0.9);
  options.ranker_fit.l2 = -1;
  EXPECT_FALSE(EvaluateNextItem(ratings, options).ok());
}

TEST(NextItemEvalTest, ValidationScoresTheSecondToLastWithoutTheLast) {
  const std::vector<Rating> ratings = Cycles(60, 30, 6);
  NextItemOptions options;
  options.k = 1;
  options.variant = NextItemVariant::kMarkov;
  options.validation = true;
  ASSERT_OK_AND_ASSIGN(NextItemReport markov,
                       EvaluateNextItem(ratings, options));
  EXPECT_EQ(markov.users_evaluated, 60);
  EXPECT_EQ(markov.train_ratings, 60 * 3) << "the last rating is never seen";
  EXPECT_EQ(markov.hit_rate, 1.0);
  EXPECT_FALSE(EvaluateNextItem(Cycles(2, 5, 3), options).ok())
      << "nobody has 3 ratings once the last is dropped";
}

TEST(NextItemEvalTest, RejectsBadInput) {
  NextItemOptions options;
  options.k = 0;
  EXPECT_FALSE(EvaluateNextItem(Cycles(2, 5, 4), options).ok());
  options.k = 10;
  EXPECT_FALSE(EvaluateNextItem(Cycles(2, 5, 2), options).ok())
      << "nobody has 3 ratings";
}

}  // namespace
}  // namespace aisle::core
