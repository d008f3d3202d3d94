#include "core/huge_pages.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace aisle::core {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

TEST(HugePagesTest, LargeAllocationsAreAlignedToAHugePageAndWritable) {
  const size_t bytes = 3 * kHugePage + 12345;
  auto* p = static_cast<unsigned char*>(AllocateOnHugePages(bytes));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePage, 0u);
  std::memset(p, 0xab, bytes);
  EXPECT_EQ(p[bytes - 1], 0xab);
  std::free(p);
}

TEST(HugePagesTest, SmallAllocationsAreOrdinary) {
  auto* p = static_cast<unsigned char*>(AllocateOnHugePages(100));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  std::memset(p, 1, 100);
  std::free(p);
}

TEST(HugePagesTest, MoveKeepsEveryByte) {
  const size_t bytes = kHugePage + 4096 + 7;
  char* buffer = static_cast<char*>(std::malloc(bytes));
  ASSERT_NE(buffer, nullptr);
  for (size_t i = 0; i < bytes; ++i) buffer[i] = static_cast<char>(i * 31);
  std::vector<char> copy(buffer, buffer + bytes);
  char* before = buffer;
  ASSERT_TRUE(MoveToHugePages(&buffer, bytes));
  EXPECT_NE(buffer, before);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer) % kHugePage, 0u);
  EXPECT_EQ(std::memcmp(buffer, copy.data(), bytes), 0);
  std::free(buffer);
}

TEST(HugePagesTest, BuffersBelowAHugePageStayWhereTheyAre) {
  char* buffer = static_cast<char*>(std::malloc(kHugePage - 1));
  ASSERT_NE(buffer, nullptr);
  char* before = buffer;
  EXPECT_FALSE(MoveToHugePages(&buffer, kHugePage - 1));
  EXPECT_EQ(buffer, before);
  std::free(buffer);
  char* none = nullptr;
  EXPECT_FALSE(MoveToHugePages(&none, 4 * kHugePage));
  EXPECT_EQ(none, nullptr);
}

}  // namespace
}  // namespace aisle::core
