#include "core/small_int_set.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace aisle::core {
namespace {

TEST(SmallIntSetTest, KeepsFirstMetOrderAndRefusesRepeats) {
  SmallIntSet set;
  EXPECT_TRUE(set.Insert(7));
  EXPECT_TRUE(set.Insert(3));
  EXPECT_FALSE(set.Insert(7));
  EXPECT_TRUE(set.Insert(-1));
  EXPECT_FALSE(set.Insert(3));
  EXPECT_EQ(set.size(), 3u);
  const std::vector<int32_t> values(set.values().begin(), set.values().end());
  EXPECT_EQ(values, (std::vector<int32_t>{7, 3, -1}));
}

// Past kLinear values the hash set answers: it must know every value
// inserted before it took over, and every one after.
TEST(SmallIntSetTest, RefusesRepeatsOnBothSidesOfTheSwitch) {
  SmallIntSet set;
  const int32_t n = static_cast<int32_t>(3 * SmallIntSet::kLinear);
  for (int32_t v = 0; v < n; ++v) EXPECT_TRUE(set.Insert(v * 5)) << v;
  for (int32_t v = 0; v < n; ++v) EXPECT_FALSE(set.Insert(v * 5)) << v;
  EXPECT_TRUE(set.Insert(1));
  EXPECT_EQ(set.size(), static_cast<size_t>(n) + 1);
  EXPECT_EQ(set.values().front(), 0);
  EXPECT_EQ(set.values().back(), 1);
}

}  // namespace
}  // namespace aisle::core
