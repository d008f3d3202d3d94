// Inner-product distance (1 - <a, b>, as hnswlib's inner-product space
// defines it) compiled for AVX2 with FMA and picked at run time, so that
// the build stays portable (no -march) while a CPU that has the
// instructions uses them. hnswlib's own choice is fixed when it is
// compiled: SSE in a portable build.
//
// Thread safety: the functions are pure. PRIVATE to core/ (vector_index.cc
// plugs it into its hnswlib space; hnswlib's headers can be included by
// one translation unit only).
#ifndef AISLE_CORE_SIMD_DISTANCE_H_
#define AISLE_CORE_SIMD_DISTANCE_H_

#include <cstddef>

namespace aisle::core {

// hnswlib's DISTFUNC<float>: (a, b, pointer to the dimension as size_t).
using DistanceFunction = float (*)(const void*, const void*, const void*);

// Distances from one query to n rows: out[j] = 1 - <query, rows[j]>, each
// over `dim` floats. Every out[j] is bit for bit what the DistanceFunction
// below gives for (query, rows[j]); rows are taken four at a time, so the
// query is loaded once per four and the four sums overlap in the pipeline.
// rows and out hold n entries; they must not overlap.
using DistancesFunction = void (*)(const float* query, const float* const* rows,
                                   size_t n, size_t dim, float* out);

// The AVX2+FMA inner-product distance when this CPU has both, else null.
DistanceFunction FastInnerProductDistance();

// Its batch form, under the same condition, else null.
DistancesFunction FastInnerProductDistances();

}  // namespace aisle::core

#endif  // AISLE_CORE_SIMD_DISTANCE_H_
