// Paired comparison of two recommenders scored on the same users: how
// much better is B than A per user, and is the difference real?
//
// Given a metric per user for A and for B (same users, same order):
//   mean_difference  mean over users of (B - A)
//   standard_error   standard deviation of the differences / sqrt(n)
//   t                mean_difference / standard_error (paired t)
//   t_p_value        two-sided, from the normal distribution: with the
//                    hundreds of users of an evaluation the t distribution
//                    is within 1% of it (n < 30 overstates significance)
//   better/worse/tied  users for whom B scored above/below/equal to A
//   sign_p_value     two-sided exact sign test over better vs worse (ties
//                    left out): significance without assuming the
//                    differences are normal (they are not: nDCG per user
//                    is bounded and lumpy)
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_PAIRED_COMPARISON_H_
#define AISLE_CORE_PAIRED_COMPARISON_H_

#include <cstdint>
#include <span>

namespace aisle::core {

struct PairedComparison {
  int64_t users = 0;
  double mean_a = 0, mean_b = 0;
  double mean_difference = 0;  // B - A
  double standard_error = 0;   // 0 for fewer than 2 users
  double t = 0;                // 0 when standard_error is 0
  double t_p_value = 1;
  int64_t better = 0, worse = 0, tied = 0;
  double sign_p_value = 1;
};

// REQUIRES: a.size() == b.size(). Empty input gives the defaults above.
PairedComparison ComparePaired(std::span<const double> a,
                               std::span<const double> b);

// Two-sided p-value of the sign test: the probability, with n = better +
// worse fair coin flips, of a split at least as uneven. 1 for n = 0.
double SignTestPValue(int64_t better, int64_t worse);

}  // namespace aisle::core

#endif  // AISLE_CORE_PAIRED_COMPARISON_H_
