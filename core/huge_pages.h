// Memory for large arrays that are read at random (an ANN graph's base
// layer, factor matrices): the kernel is asked (madvise MADV_HUGEPAGE) to
// back it with 2 MiB pages. With 4 KiB pages, a search over a 100k-item
// graph (about 40 MB) misses the TLB on nearly every node it visits; with
// 2 MiB pages the whole graph fits in the TLB. Where transparent huge
// pages are off ("never") or the kernel has none to give, the memory is
// ordinary memory: the advice is a hint and its failure is not an error.
//
// Thread safety: the functions keep no state.
#ifndef AISLE_CORE_HUGE_PAGES_H_
#define AISLE_CORE_HUGE_PAGES_H_

#include <cstddef>

namespace aisle::core {

// Allocates `bytes` (rounded up to whole 2 MiB pages when at least one),
// aligned to 2 MiB, advised for huge pages, not initialised. Returns null
// when out of memory. The caller releases it with std::free.
void* AllocateOnHugePages(size_t bytes);

// Replaces *buffer (of `bytes`, allocated with malloc and released with
// free) by a copy on memory from AllocateOnHugePages, and frees the old
// one. Below 2 MiB, or when the allocation fails, *buffer is left as it
// is. Returns whether it moved.
bool MoveToHugePages(char** buffer, size_t bytes);

}  // namespace aisle::core

#endif  // AISLE_CORE_HUGE_PAGES_H_
