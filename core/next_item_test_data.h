// Ratings for the next-item tests (core/eval_next_item*_test.cc): each user
// walks a cycle through the catalog from their own start, one item a
// minute, so every item has exactly one successor.
#ifndef AISLE_CORE_NEXT_ITEM_TEST_DATA_H_
#define AISLE_CORE_NEXT_ITEM_TEST_DATA_H_

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/eval.h"

namespace aisle::core {

// `users` users ("u0".."), each with `length` ratings of 4 on items
// "i<(u + k) % items>", k = 0..length-1, in time order.
inline std::vector<Rating> Cycles(int users, int items, int length) {
  std::vector<Rating> ratings;
  for (int u = 0; u < users; ++u) {
    for (int k = 0; k < length; ++k) {
      Rating r;
      r.user_id = absl::StrCat("u", u);
      r.item_id = absl::StrCat("i", (u + k) % items);
      r.rating = 4;
      r.timestamp_ms = 1'000'000'000'000 + (u * 100 + k) * 60'000;
      ratings.push_back(r);
    }
  }
  return ratings;
}

}  // namespace aisle::core

#endif  // AISLE_CORE_NEXT_ITEM_TEST_DATA_H_
