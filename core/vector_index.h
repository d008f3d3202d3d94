// Maximum-inner-product (and cosine) top-k search over item vectors.
//
// Two paths: ExactTopK (Eigen, brute force, exact; batched for throughput)
// and AnnIndex (hnswlib HNSW graphs in inner-product space, one over the
// rows and optionally one over the rows scaled to unit length for cosine;
// approximate, sub-linear). The engine picks: exact for small catalogs and for
// selective filters, ANN otherwise, over-fetching so that filtered-out items do
// not shorten the list.
//
// Thread safety: concurrent searches on a const index are safe; an index is
// built once and never mutated afterwards (a new model builds a new index).
#ifndef AISLE_CORE_VECTOR_INDEX_H_
#define AISLE_CORE_VECTOR_INDEX_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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
  // HNSW graph degree (2m links on the base layer). Default: 16.
  int m = 16;
  // Beam width while inserting; higher builds slower, searches better.
  // Default: 200.
  int ef_construction = 200;
  // Search beam width when Search() gets ef = 0; raised to k when k is
  // larger. Default: 64 (recall@10 ~0.99 at 100k model-like vectors, see
  // vector_index_benchmark).
  int ef_search = 64;
  // Build threads; 0 = hardware concurrency. With more than one thread the
  // graph depends on insertion interleaving, so it is not bit-for-bit
  // reproducible (searches on a given index are). Default: 0.
  int threads = 0;
  // Also build a second graph over the rows scaled to unit length, for
  // cosine searches (SearchCosine). A cosine ranking re-ordering the
  // inner-product graph's hits misses the short rows (items with few
  // events) that are an item's nearest neighbours by angle. Costs about
  // as much memory and build time again. Default: true.
  bool cosine = true;
  // Answers to this many recent distinct searches are kept and given again
  // for the same query, k and ef without searching (core/search_cache.h:
  // the same hits, bit for bit; about 600 bytes each at 64 dimensions).
  // 0 keeps none. A serving option like ef_search, not part of the saved
  // index. Default: 8192.
  size_t cached_searches = 8192;
  // Seed of hnswlib's level generator. Default: 100.
  uint64_t seed = 100;
  // If set, Build checks it between chunks of 256 insertions and returns
  // Cancelled once it is true (a build of 1M items takes minutes; a
  // shutting-down server should not wait for it). Not owned. Default: null.
  const std::atomic<bool>* cancel = nullptr;
};

class AnnIndex {
 public:
  // Builds an HNSW index over the rows of `vectors` (copied into the
  // index), and with options.cosine a second one over the rows scaled to
  // unit length (zero rows stay zero). Returns InvalidArgument for an empty
  // matrix or m < 2 or non-positive ef values, ResourceExhausted if hnswlib
  // cannot allocate, Cancelled when options.cancel became true, Internal for
  // any other hnswlib failure.
  static absl::StatusOr<std::unique_ptr<AnnIndex>> Build(
      const RowMatrix& vectors, const AnnOptions& options);

  // Writes the index to `path` (hnswlib's format), its cosine graph if it
  // has one to `path`.cosine, and a checksum file `path`.sum covering both
  // (rows, dim, bytes, CRC32C), each written under a temporary name and
  // renamed, so a reader never takes a half-written file for an index.
  // Internal on any I/O failure.
  absl::Status Save(const std::string& path) const;

  // Loads an index that Save wrote for exactly these `vectors` (a model's
  // item factors), instead of building it again. Errors: NotFound when
  // `path` or its checksum file is absent; DataLoss when the file does not
  // match its checksum, or is an index of other vectors (other rows, dim
  // or values: another model's), or has a cosine graph where
  // options.cosine asks for none or the other way round (an index saved
  // before cosine graphs existed is such a file); ResourceExhausted if
  // hnswlib cannot allocate. options.ef_search applies to searches; the
  // build options are those the index was built with.
  static absl::StatusOr<std::unique_ptr<AnnIndex>> Load(
      const std::string& path, const RowMatrix& vectors,
      const AnnOptions& options);

  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Approximate top-k by inner product, best first; at most k hits (fewer
  // only if the index is smaller). `ef` (0 = options.ef_search) trades
  // speed for recall. Safe to call concurrently with any mix of ef values:
  // the beam width is a per-call argument, never shared state (hnswlib's
  // own setEf is not used). Scores are exact inner products.
  std::vector<SearchHit> Search(const float* query, int k, int ef = 0) const;
  // Whether the index has the cosine graph (AnnOptions::cosine).
  bool has_cosine() const;
  // Approximate top-k by cosine with `query`, best first, from the cosine
  // graph (empty without one; see has_cosine). Scores are inner products
  // of `query` with the unit-length rows: the cosine times |query|. Same
  // contract as Search otherwise.
  std::vector<SearchHit> SearchCosine(const float* query, int k,
                                      int ef = 0) const;

  int32_t size() const;
  int dim() const;
  // Bytes held by the graphs, their vector copies, locks and label maps,
  // the per-concurrent-search visited lists (2 bytes per element each) and
  // the kept answers (AnnOptions::cached_searches).
  size_t MemoryBytes() const;
  struct CacheStats {
    uint64_t hits = 0;    // searches answered from the kept answers
    uint64_t misses = 0;  // searches searched (with the cache on)
    size_t entries = 0;   // answers kept now
  };
  CacheStats cache_stats() const;

 private:
  struct Impl;
  explicit AnnIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_VECTOR_INDEX_H_
