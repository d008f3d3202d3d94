// SmallIntSet: the distinct values a loop over a user's history meets, in
// the order first met. Such loops stop after a few dozen distinct items,
// where a hash set's allocation and hashing cost more than looking through
// the values so far; past kLinear values it keeps a hash set as well, so a
// wide window (evaluation reads whole histories) stays linear in time.
//
//   SmallIntSet seen;
//   for (...) {
//     if (!seen.Insert(item)) continue;  // met before
//     ...
//   }
//   for (int32_t item : seen.values()) ...  // first-met order
//
// Thread safety: an object is used by one thread.
#ifndef AISLE_CORE_SMALL_INT_SET_H_
#define AISLE_CORE_SMALL_INT_SET_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"

namespace aisle::core {

class SmallIntSet {
 public:
  // Values looked through linearly before the hash set takes over.
  static constexpr size_t kLinear = 64;

  // Adds `v`; false if it was already in.
  bool Insert(int32_t v) {
    if (values_.size() <= kLinear) {
      if (std::find(values_.begin(), values_.end(), v) != values_.end()) {
        return false;
      }
    } else {
      if (hashed_.empty()) hashed_.insert(values_.begin(), values_.end());
      if (!hashed_.insert(v).second) return false;
    }
    values_.push_back(v);
    return true;
  }

  size_t size() const { return values_.size(); }
  // Every value inserted, in first-met order.
  std::span<const int32_t> values() const { return values_; }

 private:
  absl::InlinedVector<int32_t, kLinear> values_;
  absl::flat_hash_set<int32_t> hashed_;  // all of values_, once past kLinear
};

}  // namespace aisle::core

#endif  // AISLE_CORE_SMALL_INT_SET_H_
