// Maximum-inner-product top-k search over item vectors.
//
// Two paths: ExactTopK (Eigen, brute force, exact; batched for throughput)
// and AnnIndex (hnswlib HNSW graph in inner-product space, approximate,
// sub-linear). The engine picks: exact for small catalogs and for selective
// filters, ANN otherwise, over-fetching so that filtered-out items do not
// shorten the list.
//
// Thread safety: concurrent searches on a const index are safe; an index is
// built once and never mutated afterwards (a new model builds a new index).
#ifndef AISLE_CORE_VECTOR_INDEX_H_
#define AISLE_CORE_VECTOR_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/als.h"

namespace aisle::core {

struct SearchHit {
  int32_t index = -1;  // row in the vector matrix
  float score = 0;     // inner product
};

// Keep-predicate for filtered search: true = the row may be returned.
using RowFilter = std::function<bool(int32_t)>;

// Exact top-k rows of `vectors` by inner product with `query` (length
// vectors.cols()), best first. Rows rejected by `keep` (if set) are skipped.
// Returns min(k, eligible rows) hits.
std::vector<SearchHit> ExactTopK(const RowMatrix& vectors, const float* query,
                                 int k, const RowFilter& keep = nullptr);

// Batched exact search: one result list per row of `queries`. Uses a GEMM
// per block of queries; the fastest way to score many users at once.
std::vector<std::vector<SearchHit>> ExactTopKBatch(const RowMatrix& vectors,
                                                   const RowMatrix& queries,
                                                   int k);

struct AnnOptions {
  int m = 16;                // HNSW graph degree
  int ef_construction = 200;
  int ef_search = 64;        // raised to k automatically when k is larger
  int threads = 0;           // build threads; 0 = hardware concurrency
  uint64_t seed = 100;
};

class AnnIndex {
 public:
  // Builds an HNSW index over the rows of `vectors` (copied into the
  // index). Returns InvalidArgument for an empty matrix.
  static absl::StatusOr<std::unique_ptr<AnnIndex>> Build(
      const RowMatrix& vectors, const AnnOptions& options);

  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Approximate top-k by inner product, best first; at most k hits. `ef`
  // (0 = the built-in default) trades speed for recall.
  std::vector<SearchHit> Search(const float* query, int k, int ef = 0) const;

  int32_t size() const;
  int dim() const;
  // Bytes held by the graph and its vector copy.
  size_t MemoryBytes() const;

 private:
  struct Impl;
  explicit AnnIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_VECTOR_INDEX_H_
