#include "core/simd_distance.h"

#include <immintrin.h>

#include <cstddef>

namespace aisle::core {
namespace {

// 1 - <a, b> over *dim floats: two 8-wide FMA accumulators, then the tail.
__attribute__((target("avx2,fma"))) float InnerProductDistanceAvx2(
    const void* a, const void* b, const void* dim_ptr) {
  const auto* x = static_cast<const float*>(a);
  const auto* y = static_cast<const float*>(b);
  const size_t dim = *static_cast<const size_t*>(dim_ptr);
  __m256 s0 = _mm256_setzero_ps();
  __m256 s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8),
                         s1);
  }
  for (; i + 8 <= dim; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
  }
  const __m256 s = _mm256_add_ps(s0, s1);
  __m128 sum =
      _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  sum = _mm_hadd_ps(sum, sum);
  sum = _mm_hadd_ps(sum, sum);
  float dot = _mm_cvtss_f32(sum);
  for (; i < dim; ++i) dot += x[i] * y[i];
  return 1.0f - dot;
}

// The sum of one row's two accumulators, halved to four lanes: the first
// step of InnerProductDistanceAvx2's reduction.
__attribute__((target("avx2,fma"))) inline __m128 Halve(__m256 s0, __m256 s1) {
  const __m256 s = _mm256_add_ps(s0, s1);
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

// InnerProductDistanceAvx2 for four rows at once, with the same
// accumulators, the same order of additions and the same tail, so the same
// bits: hadd(hadd(a, b), hadd(c, d)) gives each row the two pairwise sums
// that hadd(hadd(a, a), ...) gives it alone.
__attribute__((target("avx2,fma"))) void InnerProductDistancesAvx2(
    const float* query, const float* const* rows, size_t n, size_t dim,
    float* out) {
  size_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float* y0 = rows[r];
    const float* y1 = rows[r + 1];
    const float* y2 = rows[r + 2];
    const float* y3 = rows[r + 3];
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
    __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
      const __m256 q0 = _mm256_loadu_ps(query + i);
      const __m256 q1 = _mm256_loadu_ps(query + i + 8);
      a0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y0 + i), a0);
      a1 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(y0 + i + 8), a1);
      b0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y1 + i), b0);
      b1 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(y1 + i + 8), b1);
      c0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y2 + i), c0);
      c1 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(y2 + i + 8), c1);
      d0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y3 + i), d0);
      d1 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(y3 + i + 8), d1);
    }
    for (; i + 8 <= dim; i += 8) {
      const __m256 q0 = _mm256_loadu_ps(query + i);
      a0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y0 + i), a0);
      b0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y1 + i), b0);
      c0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y2 + i), c0);
      d0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(y3 + i), d0);
    }
    const __m128 sums = _mm_hadd_ps(_mm_hadd_ps(Halve(a0, a1), Halve(b0, b1)),
                                    _mm_hadd_ps(Halve(c0, c1), Halve(d0, d1)));
    float dots[4];
    _mm_storeu_ps(dots, sums);
    for (size_t j = 0; j < 4; ++j) {
      const float* y = rows[r + j];
      float dot = dots[j];
      for (size_t t = i; t < dim; ++t) dot += query[t] * y[t];
      out[r + j] = 1.0f - dot;
    }
  }
  for (; r < n; ++r) out[r] = InnerProductDistanceAvx2(query, rows[r], &dim);
}

}  // namespace

DistancesFunction FastInnerProductDistances() {
  return FastInnerProductDistance() != nullptr ? &InnerProductDistancesAvx2
                                               : nullptr;
}

DistanceFunction FastInnerProductDistance() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return &InnerProductDistanceAvx2;
  }
  return nullptr;
}

}  // namespace aisle::core
