// Deterministic test vectors for core's tests and benchmarks: plain
// Gaussian noise, and vectors shaped like trained factors (isotropic 64-d
// vectors are far harder for HNSW than real item factors, and nothing like
// them, so benchmarks use the latter).
#ifndef AISLE_CORE_TEST_VECTORS_H_
#define AISLE_CORE_TEST_VECTORS_H_

#include <cstdint>
#include <random>

#include "core/als.h"

namespace aisle::core::test_vectors {

// `rows` vectors of `dim` floats, each entry N(0, stddev^2), filled in
// row-major order from a generator seeded with `seed`.
inline RowMatrix Gaussian(int64_t rows, int dim, float stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  RowMatrix m(rows, dim);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// `rows` vectors of `dim` floats: a rank-16 signal in a basis shared by
// every call (items and users live in one latent space) plus noise, with a
// log-normal per-row scale standing in for popularity-driven norms.
inline RowMatrix ModelLikeVectors(int64_t rows, uint64_t seed, int dim = 64) {
  constexpr int kRank = 16;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::mt19937_64 basis_rng(77);
  std::normal_distribution<float> n(0.0f, 0.25f);
  RowMatrix basis(kRank, dim);
  for (int64_t i = 0; i < basis.size(); ++i) basis.data()[i] = n(basis_rng);
  std::lognormal_distribution<float> scale(0.0f, 0.5f);
  RowMatrix coef(rows, kRank);
  for (int64_t i = 0; i < coef.size(); ++i) coef.data()[i] = normal(rng);
  RowMatrix v = coef * basis;
  for (int64_t r = 0; r < rows; ++r) {
    const float s = scale(rng);
    for (int d = 0; d < dim; ++d) v(r, d) = s * (v(r, d) + 0.1f * normal(rng));
  }
  return v;
}

}  // namespace aisle::core::test_vectors

#endif  // AISLE_CORE_TEST_VECTORS_H_
