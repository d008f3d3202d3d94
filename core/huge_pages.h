// Large arrays read at random (an ANN graph's base layer, the item factor
// matrix) on 2 MiB pages. With 4 KiB pages, a search over a 100k-item
// graph (about 40 MB) misses the TLB on nearly every node it visits; with
// 2 MiB pages the whole graph fits in the TLB. Measured with
// scripts/ab_server.sh (server CPU per FOR_YOU call, 100k items): x0.94.
//
// The kernel is asked (madvise MADV_HUGEPAGE, then MADV_COLLAPSE where the
// kernel has it, 6.1 and later) to back the whole 2 MiB pages inside the
// array with huge pages. Where transparent huge pages are off ("never"),
// the kernel is older or has no huge page to give, the array stays on
// ordinary pages: the advice is a hint and its failure is not an error.
// Contents never change.
//
// Thread safety: keeps no state; the array must not be freed meanwhile.
#ifndef AISLE_CORE_HUGE_PAGES_H_
#define AISLE_CORE_HUGE_PAGES_H_

#include <cstddef>

namespace aisle::core {

// Advises the 2 MiB pages that lie wholly inside [data, data + bytes).
// Returns how many bytes the advice covered (0 below 2 MiB or when the
// kernel refused it).
size_t AdviseHugePages(const void* data, size_t bytes);

}  // namespace aisle::core

#endif  // AISLE_CORE_HUGE_PAGES_H_
