#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

// Linux 6.1's synchronous collapse; glibc 2.36's headers predate it.
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace aisle::core {

size_t AdviseHugePages(const void* data, size_t bytes) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t begin = (start + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (start + bytes) & ~(kHugePage - 1);
  if (end <= begin) return 0;
  void* p = reinterpret_cast<void*>(begin);
  const size_t length = end - begin;
  // MADV_HUGEPAGE: pages faulted in later (and khugepaged) use huge pages;
  // MADV_COLLAPSE: the pages already there are copied into huge pages now.
  if (madvise(p, length, MADV_HUGEPAGE) != 0) return 0;
  madvise(p, length, MADV_COLLAPSE);
  return length;
}

}  // namespace aisle::core
