#include "core/paired_comparison.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace aisle::core {
namespace {

TEST(PairedComparisonTest, MeanDifferenceStandardErrorAndT) {
  // Differences 1, 2, 3: mean 2, sample sd 1, so se = 1/sqrt(3).
  const std::vector<double> a = {1, 2, 3}, b = {2, 4, 6};
  const PairedComparison c = ComparePaired(a, b);
  EXPECT_EQ(c.users, 3);
  EXPECT_DOUBLE_EQ(c.mean_a, 2);
  EXPECT_DOUBLE_EQ(c.mean_b, 4);
  EXPECT_DOUBLE_EQ(c.mean_difference, 2);
  EXPECT_NEAR(c.standard_error, 1 / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(c.t, 2 * std::sqrt(3.0), 1e-12);
  EXPECT_EQ(c.better, 3);
  EXPECT_EQ(c.worse, 0);
  // The normal two-sided tail at t = 3.46 is about 0.0005.
  EXPECT_LT(c.t_p_value, 0.001);
  EXPECT_GT(c.t_p_value, 0.0001);
  // Three wins of three: 2 * (1/2)^3.
  EXPECT_DOUBLE_EQ(c.sign_p_value, 0.25);
}

TEST(PairedComparisonTest, SwappingTheSidesFlipsTheSign) {
  const std::vector<double> a = {0.5, 0.1, 0.9, 0.3}, b = {0.6, 0.1, 0.4, 0.7};
  const PairedComparison ab = ComparePaired(a, b);
  const PairedComparison ba = ComparePaired(b, a);
  EXPECT_DOUBLE_EQ(ab.mean_difference, -ba.mean_difference);
  EXPECT_DOUBLE_EQ(ab.standard_error, ba.standard_error);
  EXPECT_DOUBLE_EQ(ab.t_p_value, ba.t_p_value);
  EXPECT_EQ(ab.better, ba.worse);
  EXPECT_EQ(ab.tied, 1);
}

TEST(PairedComparisonTest, SignTestAgainstTheBinomial) {
  EXPECT_DOUBLE_EQ(SignTestPValue(10, 0), 2.0 / 1024);
  // P(X <= 1) for n = 10 is 11/1024.
  EXPECT_NEAR(SignTestPValue(9, 1), 22.0 / 1024, 1e-12);
  EXPECT_NEAR(SignTestPValue(1, 9), 22.0 / 1024, 1e-12);
  EXPECT_DOUBLE_EQ(SignTestPValue(5, 5), 1);
  EXPECT_DOUBLE_EQ(SignTestPValue(0, 0), 1);
  // Large n stays finite: 3000 vs 2000 is far beyond chance.
  const double p = SignTestPValue(3000, 2000);
  EXPECT_GT(p, 0);
  EXPECT_LT(p, 1e-20);
}

TEST(PairedComparisonTest, EqualScoresAreNoDifference) {
  const std::vector<double> a = {0.2, 0.4}, b = {0.2, 0.4};
  const PairedComparison c = ComparePaired(a, b);
  EXPECT_EQ(c.tied, 2);
  EXPECT_EQ(c.standard_error, 0);
  EXPECT_EQ(c.t, 0);
  EXPECT_EQ(c.t_p_value, 1);
  EXPECT_EQ(c.sign_p_value, 1);
  EXPECT_EQ(ComparePaired({}, {}).users, 0);
}

}  // namespace
}  // namespace aisle::core
