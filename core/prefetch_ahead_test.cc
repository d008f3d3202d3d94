#include "core/prefetch_ahead.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::core {
namespace {

using ::testing::ElementsAre;

TEST(PrefetchAheadTest, FetchesEachKeyOnceAndKDistanceAheadOfTheLoop) {
  std::map<int32_t, float> pairs;
  for (int32_t k = 0; k < 12; ++k) pairs[k * 10] = 1;
  std::vector<int32_t> fetched;
  PrefetchAhead ahead(pairs, [&](int32_t key) { fetched.push_back(key); });
  EXPECT_EQ(fetched.size(), 8u);  // kDistance ahead before the loop
  size_t read = 0;
  for (const auto& [key, value] : pairs) {
    ahead.Step();
    ++read;
    // The loop reads element `read - 1`; the keys up to `read - 1 + 8`
    // were asked for (or all of them, near the end).
    EXPECT_EQ(fetched.size(), std::min(pairs.size(), read + 8)) << key;
    EXPECT_EQ(fetched[read - 1], key);
  }
  EXPECT_THAT(fetched,
              ElementsAre(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110));
}

TEST(PrefetchAheadTest, AnEmptyOrShortContainerIsFine) {
  std::map<int32_t, float> empty, two{{3, 1}, {5, 2}};
  int calls = 0;
  PrefetchAhead none(empty, [&](int32_t) { ++calls; });
  none.Step();
  EXPECT_EQ(calls, 0);
  PrefetchAhead both(two, [&](int32_t) { ++calls; });
  both.Step();
  both.Step();
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace aisle::core
