#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

namespace aisle::core {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

void* AllocateOnHugePages(size_t bytes) {
  const size_t rounded = bytes < kHugePage
                             ? bytes
                             : (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(bytes < kHugePage ? 64 : kHugePage,
                               (rounded + 63) / 64 * 64);
  if (p != nullptr && bytes >= kHugePage) {
    // Before the first touch: the pages are then faulted in as huge pages
    // instead of waiting for the kernel's background collapse.
    madvise(p, rounded, MADV_HUGEPAGE);
  }
  return p;
}

bool MoveToHugePages(char** buffer, size_t bytes) {
  if (*buffer == nullptr || bytes < kHugePage) return false;
  void* p = AllocateOnHugePages(bytes);
  if (p == nullptr) return false;
  std::memcpy(p, *buffer, bytes);
  std::free(*buffer);
  *buffer = static_cast<char*>(p);
  return true;
}

}  // namespace aisle::core
