// Inner-product distance (1 - <a, b>, as hnswlib's inner-product space
// defines it) compiled for AVX2 with FMA and picked at run time, so that
// the build stays portable (no -march) while a CPU that has the
// instructions uses them. hnswlib's own choice is fixed when it is
// compiled: SSE in a portable build.
//
// Thread safety: the function is pure. PRIVATE to core/ (vector_index.cc
// plugs it into its hnswlib space; hnswlib's headers can be included by
// one translation unit only).
#ifndef AISLE_CORE_SIMD_DISTANCE_H_
#define AISLE_CORE_SIMD_DISTANCE_H_

namespace aisle::core {

// hnswlib's DISTFUNC<float>: (a, b, pointer to the dimension as size_t).
using DistanceFunction = float (*)(const void*, const void*, const void*);

// The AVX2+FMA inner-product distance when this CPU has both, else null.
DistanceFunction FastInnerProductDistance();

}  // namespace aisle::core

#endif  // AISLE_CORE_SIMD_DISTANCE_H_
