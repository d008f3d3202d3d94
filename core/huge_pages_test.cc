#include "core/huge_pages.h"

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace aisle::core {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

TEST(HugePagesTest, AdvisesTheWholeHugePagesInsideAndKeepsTheContents) {
  // Five huge pages' worth starting mid-page: the advice covers the whole
  // pages inside it, at most four.
  std::vector<uint32_t> data(5 * kHugePage / sizeof(uint32_t));
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint32_t>(i);
  const size_t bytes = data.size() * sizeof(uint32_t);
  const size_t covered = AdviseHugePages(data.data(), bytes);
  // The kernel may refuse (transparent huge pages "never"): then nothing.
  if (covered != 0) {
    EXPECT_EQ(covered % kHugePage, 0u);
    EXPECT_GE(covered, 4 * kHugePage);
    EXPECT_LE(covered, bytes);
  }
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_EQ(data[i], static_cast<uint32_t>(i)) << "at " << i;
  }
  data.back() = 7;  // still writable
  EXPECT_EQ(data.back(), 7u);
}

TEST(HugePagesTest, ArraysWithoutAWholeHugePageAreLeftAlone) {
  std::vector<char> small(kHugePage - 1, 'x');
  EXPECT_EQ(AdviseHugePages(small.data(), small.size()), 0u);
  EXPECT_EQ(AdviseHugePages(nullptr, 0), 0u);
  EXPECT_EQ(small.front(), 'x');
}

}  // namespace
}  // namespace aisle::core
