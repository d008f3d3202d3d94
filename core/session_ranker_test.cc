// FitSessionRanker: it learns which feature marks the item taken next,
// deterministically, and rejects what it cannot fit.
#include "core/session_ranker.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

// 400 queries of 20 candidates: the positive has the largest value of
// kRankerTransLast plus noise; kRankerLogUsers is pure noise.
std::vector<SessionRankerQuery> Queries() {
  std::vector<SessionRankerQuery> out;
  uint64_t state = 12345;
  const auto uniform = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int q = 0; q < 400; ++q) {
    SessionRankerQuery query;
    double best = -1;
    for (int r = 0; r < 20; ++r) {
      std::array<double, kSessionRankerFeatures> f{};
      f[kRankerTransLast] = uniform();
      f[kRankerLogUsers] = uniform();
      const double noisy = f[kRankerTransLast] + 0.1 * uniform();
      if (noisy > best) {
        best = noisy;
        query.positive = r;
      }
      query.rows.push_back(f);
    }
    out.push_back(std::move(query));
  }
  return out;
}

TEST(SessionRankerTest, LearnsTheFeatureThatMarksThePositive) {
  const std::vector<SessionRankerQuery> queries = Queries();
  ASSERT_OK_AND_ASSIGN(SessionRankerFit fit, FitSessionRanker(queries, {}));
  ASSERT_EQ(fit.weights.size(), static_cast<size_t>(kSessionRankerFeatures));
  EXPECT_EQ(fit.queries, 400);
  EXPECT_GT(fit.weights[kRankerTransLast], 5.0);
  EXPECT_LT(std::abs(fit.weights[kRankerLogUsers]),
            0.2 * fit.weights[kRankerTransLast]);
  EXPECT_EQ(fit.weights[kRankerBlend], 0.0) << "a constant feature";
  // Far below log(20), the loss of ranking at random.
  EXPECT_LT(fit.loss, 0.5 * std::log(20.0));

  ASSERT_OK_AND_ASSIGN(SessionRankerFit again, FitSessionRanker(queries, {}));
  EXPECT_EQ(again.weights, fit.weights) << "deterministic";

  SessionRankerFitOptions masked;
  masked.feature_mask = 1u << kRankerLogUsers;
  ASSERT_OK_AND_ASSIGN(SessionRankerFit noise,
                       FitSessionRanker(queries, masked));
  EXPECT_EQ(noise.weights[kRankerTransLast], 0.0) << "masked out";
  EXPECT_GT(noise.loss, fit.loss);
}

TEST(SessionRankerTest, RejectsWhatItCannotFit) {
  std::vector<SessionRankerQuery> queries = Queries();
  SessionRankerFitOptions o;
  o.l2 = -1;
  EXPECT_FALSE(FitSessionRanker(queries, o).ok());
  queries[0].positive = 20;
  EXPECT_FALSE(FitSessionRanker(queries, {}).ok());
  std::vector<SessionRankerQuery> unusable(3);  // no positive
  EXPECT_FALSE(FitSessionRanker(unusable, {}).ok());
}

}  // namespace
}  // namespace aisle::core
