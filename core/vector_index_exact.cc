// Exact search (vector_index.h: ExactTopK, ExactTopKBatch): a scan of
// every row, or a blocked GEMM for many queries, with a bounded heap.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/vector_index.h"

namespace aisle::core {
namespace {

// Strict "ranks before": higher score first, lower index on ties, so that
// results are reproducible.
bool Better(const SearchHit& a, const SearchHit& b) {
  return a.score != b.score ? a.score > b.score : a.index < b.index;
}

// Keeps the best k hits seen so far in a heap whose top is the worst kept.
class TopK {
 public:
  explicit TopK(int k) : k_(static_cast<size_t>(std::max(k, 0))) {
    heap_.reserve(k_);
  }

  void Push(int32_t index, float score) {
    const SearchHit hit{index, score};
    if (heap_.size() < k_) {
      heap_.push_back(hit);
      std::push_heap(heap_.begin(), heap_.end(), Better);
    } else if (k_ > 0 && Better(hit, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), Better);
      heap_.back() = hit;
      std::push_heap(heap_.begin(), heap_.end(), Better);
    }
  }

  // Cheap pre-check so the hot loop skips most candidates without touching
  // the heap.
  float Threshold() const {
    return heap_.size() < k_ ? -std::numeric_limits<float>::infinity()
                             : heap_.front().score;
  }

  std::vector<SearchHit> Take() && {
    std::sort_heap(heap_.begin(), heap_.end(), Better);
    return std::move(heap_);
  }

 private:
  size_t k_;
  std::vector<SearchHit> heap_;
};

void Scan(const float* scores, int32_t offset, int64_t n, const RowFilter& keep,
          TopK* top) {
  for (int64_t j = 0; j < n; ++j) {
    // >= lets an equal score with a lower index reach Push's tie-break.
    if (scores[j] >= top->Threshold()) {
      const int32_t index = offset + static_cast<int32_t>(j);
      if (!keep || keep(index)) top->Push(index, scores[j]);
    }
  }
}

}  // namespace

std::vector<SearchHit> ExactTopK(const RowMatrix& vectors, const float* query,
                                 int k, const RowFilter& keep) {
  if (k <= 0 || vectors.rows() == 0) return {};
  const Eigen::Map<const Eigen::VectorXf> q(query, vectors.cols());
  const Eigen::VectorXf scores = vectors * q;
  TopK top(static_cast<int>(std::min<int64_t>(k, vectors.rows())));
  Scan(scores.data(), 0, scores.size(), keep, &top);
  return std::move(top).Take();
}

std::vector<std::vector<SearchHit>> ExactTopKBatch(const RowMatrix& vectors,
                                                   const RowMatrix& queries,
                                                   int k) {
  std::vector<std::vector<SearchHit>> out(queries.rows());
  if (k <= 0 || vectors.rows() == 0) return out;
  // Blocks keep the score tile (64 x 4096 floats = 1 MiB) in cache while
  // the GEMM still runs at full width.
  constexpr int64_t kQueryBlock = 64;
  constexpr int64_t kItemBlock = 4096;
  const int kk = static_cast<int>(std::min<int64_t>(k, vectors.rows()));
  RowMatrix tile;
  for (int64_t q0 = 0; q0 < queries.rows(); q0 += kQueryBlock) {
    const int64_t qn = std::min(kQueryBlock, queries.rows() - q0);
    std::vector<TopK> tops(qn, TopK(kk));
    for (int64_t i0 = 0; i0 < vectors.rows(); i0 += kItemBlock) {
      const int64_t in = std::min(kItemBlock, vectors.rows() - i0);
      tile.noalias() =
          queries.middleRows(q0, qn) * vectors.middleRows(i0, in).transpose();
      for (int64_t q = 0; q < qn; ++q) {
        Scan(tile.data() + q * in, static_cast<int32_t>(i0), in, nullptr,
             &tops[q]);
      }
    }
    for (int64_t q = 0; q < qn; ++q) out[q0 + q] = std::move(tops[q]).Take();
  }
  return out;
}

}  // namespace aisle::core
