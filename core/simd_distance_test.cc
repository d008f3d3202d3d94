#include "core/simd_distance.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace aisle::core {
namespace {

uint32_t Bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof(b));
  return b;
}

TEST(SimdDistanceTest, BatchGivesTheSingleDistanceBitForBit) {
  const DistanceFunction one = FastInnerProductDistance();
  const DistancesFunction many = FastInnerProductDistances();
  ASSERT_EQ(one == nullptr, many == nullptr);
  if (one == nullptr) GTEST_SKIP() << "this CPU has no AVX2 with FMA";
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0, 1);
  // Dimensions around the 16- and 8-float steps and their tails; counts
  // around the batch of four.
  for (size_t dim : {1, 7, 8, 9, 15, 16, 17, 24, 33, 64, 100}) {
    std::vector<float> query(dim);
    for (float& x : query) x = normal(rng);
    for (size_t n = 0; n <= 9; ++n) {
      std::vector<std::vector<float>> rows(n, std::vector<float>(dim));
      std::vector<const float*> pointers;
      for (auto& row : rows) {
        for (float& x : row) x = normal(rng);
        pointers.push_back(row.data());
      }
      std::vector<float> out(n, -7.0f);
      many(query.data(), pointers.data(), n, dim, out.data());
      for (size_t j = 0; j < n; ++j) {
        const float expected = one(query.data(), rows[j].data(), &dim);
        EXPECT_EQ(Bits(out[j]), Bits(expected))
            << "dim " << dim << " n " << n << " row " << j;
        double dot = 0;
        for (size_t t = 0; t < dim; ++t) dot += query[t] * rows[j][t];
        EXPECT_NEAR(out[j], 1.0 - dot, 1e-4 * (1 + std::abs(dot)));
      }
    }
  }
}

}  // namespace
}  // namespace aisle::core
