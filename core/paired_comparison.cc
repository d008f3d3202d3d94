#include "core/paired_comparison.h"

#include <algorithm>
#include <cmath>

namespace aisle::core {

double SignTestPValue(int64_t better, int64_t worse) {
  const int64_t n = better + worse;
  if (n <= 0) return 1;
  const int64_t k = std::min(better, worse);
  // P(X <= k) for X ~ Binomial(n, 1/2), summed in logs: n reaches the
  // tens of thousands (users x seeds), where 2^-n underflows.
  const double log_half_n = static_cast<double>(n) * std::log(0.5);
  const double log_n_fact = std::lgamma(static_cast<double>(n) + 1);
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i) {
    tail += std::exp(log_n_fact - std::lgamma(static_cast<double>(i) + 1) -
                     std::lgamma(static_cast<double>(n - i) + 1) + log_half_n);
  }
  return std::min(1.0, 2 * tail);
}

PairedComparison ComparePaired(std::span<const double> a,
                               std::span<const double> b) {
  PairedComparison c;
  const size_t n = std::min(a.size(), b.size());
  c.users = static_cast<int64_t>(n);
  if (n == 0) return c;
  double sum_a = 0, sum_b = 0;
  for (size_t i = 0; i < n; ++i) {
    sum_a += a[i];
    sum_b += b[i];
    // Exact ties only: equal lists score bit-identically.
    if (b[i] > a[i]) {
      ++c.better;
    } else if (b[i] < a[i]) {
      ++c.worse;
    } else {
      ++c.tied;
    }
  }
  const double count = static_cast<double>(n);
  c.mean_a = sum_a / count;
  c.mean_b = sum_b / count;
  c.mean_difference = c.mean_b - c.mean_a;
  if (n >= 2) {
    double ss = 0;
    for (size_t i = 0; i < n; ++i) {
      const double d = (b[i] - a[i]) - c.mean_difference;
      ss += d * d;
    }
    c.standard_error = std::sqrt(ss / (count - 1) / count);
  }
  if (c.standard_error > 0) {
    c.t = c.mean_difference / c.standard_error;
    c.t_p_value = std::erfc(std::abs(c.t) / std::sqrt(2.0));
  }
  c.sign_p_value = SignTestPValue(c.better, c.worse);
  return c;
}

}  // namespace aisle::core
