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

}  // namespace

DistanceFunction FastInnerProductDistance() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return &InnerProductDistanceAvx2;
  }
  return nullptr;
}

}  // namespace aisle::core
