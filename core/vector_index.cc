#include "core/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "core/hnsw_layout.h"
#include "core/search_cache.h"
#include "core/simd_distance.h"

namespace aisle::core {
namespace {

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Bytes of the upper-layer link lists, which hnswlib allocates per node.
size_t UpperLinkBytes(const hnswlib::HierarchicalNSW<float>& g) {
  size_t bytes = 0;
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    const int level = g.element_levels_[i];
    if (level > 0) bytes += g.size_links_per_element_ * level + 1;
  }
  return bytes;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return absl::NotFoundError(absl::StrCat("no ", path));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", path));
  return std::move(out).str();
}

// A file's length and CRC32C, read in 1 MiB pieces (an index file is
// hundreds of MB at 1M items; it is never held whole in memory).
struct FileDigest {
  uint64_t bytes = 0;
  uint32_t crc = 0;
};

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return absl::NotFoundError(absl::StrCat("no ", path));
  FileDigest digest;
  std::string piece(1 << 20, '\0');
  while (in) {
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    const auto n = static_cast<size_t>(in.gcount());
    digest.crc = Crc32cExtend(digest.crc, std::string_view(piece.data(), n));
    digest.bytes += n;
  }
  if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", path));
  return digest;
}

// Index files' versions. v2 graphs are numbered in insertion order; v3
// graphs, as Relayout numbers them (a v2 graph is renumbered when loaded).
constexpr int kIndexVersion = 3;
constexpr int kInsertionOrderVersion = 2;

// The checksum file's content for an index file of `version` over rows x
// dim vectors, with its cosine graph's file (zero bytes without one).
std::string IndexSum(int version, int32_t rows, int dim,
                     const FileDigest& graph, const FileDigest& cosine) {
  return absl::StrCat("aisle-ann-v", version, " rows=", rows, " dim=", dim,
                      " bytes=", graph.bytes, " crc32c=", graph.crc,
                      " cosine_bytes=", cosine.bytes,
                      " cosine_crc32c=", cosine.crc, "\n");
}

// `row` (dim floats) scaled to unit length into `out`; a zero row stays
// zero. Build and Load both go through here, so a loaded cosine graph
// compares bit for bit.
void UnitRow(const float* row, int dim, float* out) {
  const Eigen::Map<const Eigen::VectorXf> in(row, dim);
  Eigen::Map<Eigen::VectorXf> unit(out, dim);
  const float norm = in.norm();
  if (norm > 0) {
    unit = in / norm;
  } else {
    unit = in;
  }
}

RowMatrix UnitRows(const RowMatrix& vectors) {
  RowMatrix unit(vectors.rows(), vectors.cols());
  const int dim = static_cast<int>(vectors.cols());
  for (int64_t i = 0; i < vectors.rows(); ++i) {
    UnitRow(vectors.data() + i * dim, dim, unit.data() + i * dim);
  }
  return unit;
}

}  // namespace

namespace {

// hnswlib's inner-product space with the distance function this CPU runs
// fastest (core/simd_distance.h); the same distance either way.
class InnerProductSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit InnerProductSpace(size_t dim) : dim_(dim), fallback_(dim) {
    func_ = FastInnerProductDistance();
    if (func_ == nullptr) func_ = fallback_.get_dist_func();
    distances_ = FastInnerProductDistances();
  }
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return func_; }
  // The batch form of the same distance, or null (then one by one).
  DistancesFunction distances() const { return distances_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  hnswlib::InnerProductSpace fallback_;
  hnswlib::DISTFUNC<float> func_;
  DistancesFunction distances_ = nullptr;
};

using Graph = hnswlib::HierarchicalNSW<float>;

// Asks for every cache line of node `id`'s vector. hnswlib prefetches only
// the first line of the next neighbour's vector; a 64-factor vector spans
// four, and the rest then miss one after the other inside the distance.
inline void PrefetchVector(const Graph& g, hnswlib::tableint id) {
  const char* p = g.getDataByInternalId(id);
  for (size_t b = 0; b < g.data_size_; b += 64) {
    __builtin_prefetch(p + b, 0, 3);
  }
}

// One node of a beam: its distance to the query, and whether its
// neighbours were visited.
struct BeamNode {
  float distance;
  hnswlib::tableint id;
  bool expanded;
};

// Nearer first; at equal distances the lower node id first, so that ties
// are cut the same way in every search (hnswlib's heaps cut them in no
// defined order).
inline bool Nearer(const BeamNode& a, const BeamNode& b) {
  return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
}

// hnswlib's searchBaseLayerST<false> (0.6.2), the same beam search with the
// same visiting order and the same result (but among nodes at exactly the
// same distance, which Nearer orders), kept differently and
// memory-parallel:
// - hnswlib keeps the ef best nodes met in a max-heap and the ones still
//   to expand in a min-heap that only grows; the nodes it expands are the
//   nearest not yet expanded among the ef best, until none is left. Here
//   the ef best are one array, nearest first, each marked when expanded:
//   the next node to expand is the first unmarked one.
// - For each expanded node, first its unvisited neighbours are marked and
//   all their vectors requested, then their distances computed together
//   (`distances`, when not null; else the graph's function one by one) and
//   taken in the list's order.
// Returns the beam, nearest first: at most ef nodes.
std::vector<BeamNode> SearchBaseLayer(const Graph& g, hnswlib::tableint entry,
                                      const float* query, size_t ef,
                                      DistancesFunction distances) {
  hnswlib::VisitedList* visited = g.visited_list_pool_->getFreeVisitedList();
  hnswlib::vl_type* mark = visited->mass;
  const hnswlib::vl_type tag = visited->curV;
  std::vector<BeamNode> beam;
  beam.reserve(ef);
  beam.push_back(
      {g.fstdistfunc_(query, g.getDataByInternalId(entry), g.dist_func_param_),
       entry, false});
  mark[entry] = tag;
  absl::InlinedVector<hnswlib::tableint, 64> fresh;
  absl::InlinedVector<const float*, 64> rows;
  absl::InlinedVector<float, 64> d;
  size_t next = 0;  // every node before it is expanded
  while (next < beam.size()) {
    BeamNode& node = beam[next];
    node.expanded = true;
    hnswlib::linklistsizeint* list = g.get_linklist0(node.id);
    const size_t count = g.getListCount(list);
    const auto* links = reinterpret_cast<const hnswlib::tableint*>(list);
    fresh.clear();
    rows.clear();
    for (size_t j = 1; j <= count; ++j) {
      const hnswlib::tableint id = links[j];
      if (mark[id] == tag) continue;
      mark[id] = tag;
      fresh.push_back(id);
      rows.push_back(reinterpret_cast<const float*>(g.getDataByInternalId(id)));
      PrefetchVector(g, id);
    }
    d.resize(fresh.size());
    if (distances != nullptr) {
      distances(query, rows.data(), rows.size(), g.data_size_ / sizeof(float),
                d.data());
    } else {
      for (size_t j = 0; j < rows.size(); ++j) {
        d[j] = g.fstdistfunc_(query, rows[j], g.dist_func_param_);
      }
    }
    size_t first_new = beam.size();
    for (size_t j = 0; j < fresh.size(); ++j) {
      const BeamNode met{d[j], fresh[j], false};
      if (beam.size() >= ef && !Nearer(met, beam.back())) continue;
      // Into place from the far end, as in an insertion sort; a full
      // beam drops its farthest node, which `met` is nearer than.
      if (beam.size() < ef) beam.push_back(met);
      size_t at = beam.size() - 1;
      for (; at > 0 && Nearer(met, beam[at - 1]); --at) beam[at] = beam[at - 1];
      beam[at] = met;
      first_new = std::min(first_new, at);
    }
    next = std::min(next + 1, first_new);
    while (next < beam.size() && beam[next].expanded) ++next;
  }
  g.visited_list_pool_->releaseVisitedList(visited);
  return beam;
}

// One hnswlib graph and what MemoryBytes needs to know about it.
struct GraphHolder {
  std::unique_ptr<Graph> hnsw;
  size_t upper_link_bytes = 0;
};

// Searches one graph: hnswlib's searchKnn reads a mutable member ef_
// (setEf is not thread-safe), so this replays its greedy descent through
// the upper layers and then runs the base-layer beam search with the
// per-call width; everything it touches is const.
std::vector<SearchHit> SearchGraph(const Graph& g, const float* query, int k,
                                   size_t beam, DistancesFunction distances) {
  std::vector<SearchHit> hits;
  try {
    hnswlib::tableint current = g.enterpoint_node_;
    float best = g.fstdistfunc_(query, g.getDataByInternalId(current),
                                g.dist_func_param_);
    for (int level = g.maxlevel_; level > 0; --level) {
      bool changed = true;
      while (changed) {
        changed = false;
        hnswlib::linklistsizeint* links = g.get_linklist(current, level);
        const int count = g.getListCount(links);
        const hnswlib::tableint* neighbours =
            reinterpret_cast<const hnswlib::tableint*>(links + 1);
        for (int i = 0; i < count; ++i) {
          const float d = g.fstdistfunc_(
              query, g.getDataByInternalId(neighbours[i]), g.dist_func_param_);
          if (d < best) {
            best = d;
            current = neighbours[i];
            changed = true;
          }
        }
      }
    }
    const std::vector<BeamNode> nearest =
        SearchBaseLayer(g, current, query, beam, distances);
    // hnswlib's inner-product distance is 1 - dot.
    hits.resize(std::min(nearest.size(), static_cast<size_t>(k)));
    for (size_t i = 0; i < hits.size(); ++i) {
      hits[i].index = static_cast<int32_t>(g.getExternalLabel(nearest[i].id));
      hits[i].score = 1.0f - nearest[i].distance;
    }
  } catch (const std::exception&) {
    // Only allocation failure can reach here; an empty answer lets the
    // caller fall back to exact search.
    hits.clear();
  }
  return hits;
}

// Bytes of one graph, with `searchers` visited lists.
size_t GraphBytes(const GraphHolder& holder, size_t searchers) {
  const Graph& g = *holder.hnsw;
  const size_t n = g.max_elements_;
  // Label map: one hash node (key, value, next pointer, malloc header) per
  // element plus the bucket array.
  const size_t label_map =
      g.label_lookup_.size() * 32 + g.label_lookup_.bucket_count() * 8;
  const size_t visited_lists = searchers * n * sizeof(hnswlib::vl_type);
  return n * g.size_data_per_element_ + holder.upper_link_bytes +
         n * sizeof(char*) + g.element_levels_.capacity() * sizeof(int) +
         g.link_list_locks_.size() * sizeof(std::mutex) +
         g.link_list_update_locks_.size() * sizeof(std::mutex) + label_map +
         visited_lists;
}

// Inserts every row of `vectors` into a new graph, on options.threads
// threads. hnswlib's addPoint is meant for concurrent use. The graph it
// builds depends on insertion interleaving, so multi-threaded builds are
// not bit-for-bit reproducible (searches on a built index are). Known wart
// of 0.6.2: addPoint draws the node level from a shared generator without
// a lock, so concurrent builds race on that word (a thread sanitizer
// reports it); the worst outcome is a repeated level draw.
absl::StatusOr<GraphHolder> BuildGraph(hnswlib::SpaceInterface<float>* space,
                                       const RowMatrix& vectors,
                                       const AnnOptions& options, int threads) {
  GraphHolder holder;
  try {
    holder.hnsw =
        std::make_unique<Graph>(space, vectors.rows(), options.m,
                                options.ef_construction, options.seed);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("HNSW allocation failed: ", e.what()));
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> cancelled{false};
  std::mutex error_mu;
  std::string error;
  auto worker = [&] {
    constexpr int64_t kChunk = 256;
    for (;;) {
      if (options.cancel != nullptr &&
          options.cancel->load(std::memory_order_relaxed)) {
        cancelled = true;
        return;
      }
      const int64_t begin = next.fetch_add(kChunk);
      if (begin >= vectors.rows()) return;
      const int64_t end = std::min<int64_t>(vectors.rows(), begin + kChunk);
      try {
        for (int64_t i = begin; i < end; ++i) {
          holder.hnsw->addPoint(vectors.data() + i * vectors.cols(),
                                static_cast<hnswlib::labeltype>(i));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (error.empty()) error = e.what();
        next.store(vectors.rows());
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& th : pool) th.join();
  if (!error.empty()) {
    return absl::InternalError(absl::StrCat("HNSW build failed: ", error));
  }
  if (cancelled) return absl::CancelledError("HNSW build cancelled");
  Relayout(holder.hnsw.get());
  holder.upper_link_bytes = UpperLinkBytes(*holder.hnsw);
  return holder;
}

// Loads the graph in `path` and checks that it holds exactly the rows of
// `vectors`, scaled to unit length when `unit` (DataLoss otherwise, naming
// `path`). Scales row by row: no second copy of the vectors at a start.
// Renumbers the graph (Relayout) when `relayout`: a file saved before
// graphs were.
absl::StatusOr<GraphHolder> LoadGraph(hnswlib::SpaceInterface<float>* space,
                                      const std::string& path,
                                      const RowMatrix& vectors, bool unit,
                                      bool relayout) {
  GraphHolder holder;
  try {
    holder.hnsw = std::make_unique<Graph>(space, path, false, vectors.rows());
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("loading the ANN index ", path, ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::DataLossError(
        absl::StrCat("loading the ANN index ", path, ": ", e.what()));
  }
  // The checksum proves the file is what Save wrote; this proves it was
  // written for these vectors (every row, as stored in the graph).
  const Graph& g = *holder.hnsw;
  if (g.cur_element_count != static_cast<size_t>(vectors.rows())) {
    return absl::DataLossError(absl::StrCat(path, " indexes ",
                                            g.cur_element_count,
                                            " vectors, "
                                            "the model has ",
                                            vectors.rows()));
  }
  const int dim = static_cast<int>(vectors.cols());
  const size_t row_bytes = static_cast<size_t>(dim) * sizeof(float);
  std::vector<float> scaled(unit ? dim : 0);
  for (int64_t i = 0; i < vectors.rows(); ++i) {
    const float* row = vectors.data() + i * dim;
    if (unit) {
      UnitRow(row, dim, scaled.data());
      row = scaled.data();
    }
    auto it = g.label_lookup_.find(static_cast<hnswlib::labeltype>(i));
    if (it == g.label_lookup_.end() ||
        std::memcmp(g.getDataByInternalId(it->second), row, row_bytes) != 0) {
      return absl::DataLossError(absl::StrCat(
          path, " is an index of other vectors than this model's (row ", i,
          " differs)"));
    }
  }
  // Checked before a renumbering reads the links, and after it.
  if (absl::Status graph = CheckGraph(g, path); !graph.ok()) return graph;
  if (relayout) {
    Relayout(holder.hnsw.get());
    if (absl::Status graph = CheckGraph(g, path); !graph.ok()) return graph;
  }
  holder.upper_link_bytes = UpperLinkBytes(g);
  return holder;
}

}  // namespace

struct AnnIndex::Impl {
  int dim = 0;
  int32_t size = 0;
  int ef_search = 0;
  int build_threads = 1;
  std::unique_ptr<InnerProductSpace> space;
  GraphHolder inner_product;
  GraphHolder cosine;  // hnsw is null without the cosine graph
  // hnswlib keeps one visited-list (2 bytes per element) per concurrent
  // search ever seen; tracking the peak keeps MemoryBytes honest.
  mutable std::atomic<int> active_searches{0};
  mutable std::atomic<int> peak_searches{0};
  // Recent answers of both graphs (graph 0: inner product, 1: cosine).
  std::unique_ptr<SearchCache<SearchHit>> cache;

  // An index over `vectors`' shape, without graphs yet.
  static std::unique_ptr<Impl> New(const RowMatrix& vectors,
                                   const AnnOptions& options, int ef_search,
                                   int build_threads) {
    auto impl = std::make_unique<Impl>();
    impl->dim = static_cast<int>(vectors.cols());
    impl->size = static_cast<int32_t>(vectors.rows());
    impl->ef_search = ef_search;
    impl->build_threads = build_threads;
    impl->space = std::make_unique<InnerProductSpace>(impl->dim);
    impl->cache =
        std::make_unique<SearchCache<SearchHit>>(options.cached_searches);
    return impl;
  }

  std::vector<SearchHit> Search(int graph, const Graph& g, const float* query,
                                int k, int ef) const {
    if (k <= 0) return {};
    const size_t beam =
        static_cast<size_t>(std::max({k, ef > 0 ? ef : ef_search, 1}));
    const SearchCache<SearchHit>::Key key{
        std::string_view(reinterpret_cast<const char*>(query),
                         static_cast<size_t>(dim) * sizeof(float)),
        {graph, k, static_cast<int64_t>(beam), 0}};
    std::vector<SearchHit> kept;
    if (cache->Find(key, &kept)) return kept;
    const int active = active_searches.fetch_add(1) + 1;
    int peak = peak_searches.load();
    while (active > peak &&
           !peak_searches.compare_exchange_weak(peak, active)) {
    }
    std::vector<SearchHit> hits =
        SearchGraph(g, query, k, beam, space->distances());
    active_searches.fetch_sub(1);
    // An empty answer is a failed search (allocation): not kept.
    if (!hits.empty()) cache->Put(key, hits);
    return hits;
  }
};

AnnIndex::AnnIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AnnIndex::~AnnIndex() = default;

absl::StatusOr<std::unique_ptr<AnnIndex>> AnnIndex::Build(
    const RowMatrix& vectors, const AnnOptions& options) {
  if (vectors.rows() == 0 || vectors.cols() == 0) {
    return absl::InvalidArgumentError("cannot index an empty matrix");
  }
  if (options.m < 2 || options.ef_construction <= 0 || options.ef_search <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid HNSW options: m=", options.m, " ef_construction=",
        options.ef_construction, " ef_search=", options.ef_search));
  }
  std::unique_ptr<Impl> impl = Impl::New(vectors, options, options.ef_search,
                                         ResolveThreads(options.threads));
  absl::StatusOr<GraphHolder> graph =
      BuildGraph(impl->space.get(), vectors, options, impl->build_threads);
  if (!graph.ok()) return graph.status();
  impl->inner_product = *std::move(graph);
  if (options.cosine) {
    graph = BuildGraph(impl->space.get(), UnitRows(vectors), options,
                       impl->build_threads);
    if (!graph.ok()) return graph.status();
    impl->cosine = *std::move(graph);
  }
  return std::unique_ptr<AnnIndex>(new AnnIndex(std::move(impl)));
}

namespace {

// hnswlib's saveIndex to `path`, read back: hnswlib does not report write
// errors, so the file read back is what counts.
// (hnswlib 0.6's saveIndex only reads the graph but is not const.)
absl::StatusOr<FileDigest> SaveGraph(Graph& g, const std::string& path) {
  try {
    g.saveIndex(path);
  } catch (const std::exception& e) {
    std::remove(path.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write the ANN index to ", path, ": ", e.what()));
  }
  absl::StatusOr<FileDigest> digest = DigestFile(path);
  if (!digest.ok() || digest->bytes == 0) {
    std::remove(path.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write the ANN index to ", path));
  }
  return digest;
}

}  // namespace

absl::Status AnnIndex::Save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  const std::string cosine_path = path + ".cosine";
  const std::string cosine_tmp = cosine_path + ".tmp";
  const std::string sum_tmp = path + ".sum.tmp";
  absl::StatusOr<FileDigest> graph = SaveGraph(*impl_->inner_product.hnsw, tmp);
  if (!graph.ok()) return graph.status();
  FileDigest cosine;
  if (impl_->cosine.hnsw != nullptr) {
    absl::StatusOr<FileDigest> c = SaveGraph(*impl_->cosine.hnsw, cosine_tmp);
    if (!c.ok()) {
      std::remove(tmp.c_str());
      return c.status();
    }
    cosine = *c;
  }
  const std::string sum =
      IndexSum(kIndexVersion, impl_->size, impl_->dim, *graph, cosine);
  {
    std::ofstream out(sum_tmp, std::ios::binary | std::ios::trunc);
    out << sum;
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      std::remove(cosine_tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", sum_tmp));
    }
  }
  // The checksum file goes last: until it is renamed, a reader finds the
  // old one, which does not match the new files.
  bool renamed = std::rename(tmp.c_str(), path.c_str()) == 0;
  if (impl_->cosine.hnsw != nullptr) {
    renamed =
        renamed && std::rename(cosine_tmp.c_str(), cosine_path.c_str()) == 0;
  } else {
    std::remove(cosine_path.c_str());  // an older save's graph, if any
  }
  renamed =
      renamed && std::rename(sum_tmp.c_str(), (path + ".sum").c_str()) == 0;
  if (!renamed) {
    return absl::InternalError(absl::StrCat("cannot rename into ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AnnIndex>> AnnIndex::Load(
    const std::string& path, const RowMatrix& vectors,
    const AnnOptions& options) {
  // The cosine graph is read and loaded on a second thread meanwhile: at
  // a start, this is inside the time to SERVING. (A future made by
  // std::async waits for its thread when destroyed, early returns too.)
  const std::string cosine_path = path + ".cosine";
  std::future<absl::StatusOr<FileDigest>> cosine_digest;
  if (options.cosine) {
    cosine_digest = std::async(
        std::launch::async, [&cosine_path] { return DigestFile(cosine_path); });
  }
  absl::StatusOr<std::string> sum = ReadWholeFile(path + ".sum");
  absl::StatusOr<FileDigest> graph_digest = DigestFile(path);
  absl::StatusOr<FileDigest> cosine = FileDigest();
  if (options.cosine) cosine = cosine_digest.get();
  if (!sum.ok()) return sum.status();
  if (!graph_digest.ok()) return graph_digest.status();
  if (!cosine.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, " has no cosine graph (", cosine_path,
                     "): saved without one, or before cosine graphs existed"));
  }
  const auto sum_of = [&](int version) {
    return IndexSum(version, static_cast<int32_t>(vectors.rows()),
                    static_cast<int>(vectors.cols()), *graph_digest, *cosine);
  };
  const bool insertion_order = *sum == sum_of(kInsertionOrderVersion);
  if (*sum != sum_of(kIndexVersion) && !insertion_order) {
    return absl::DataLossError(absl::StrCat(
        path,
        " does not match its checksum or is not an index of this model's ",
        vectors.rows(), "x", vectors.cols(), " item vectors",
        options.cosine ? " with a cosine graph" : " without a cosine graph"));
  }
  std::unique_ptr<Impl> impl = Impl::New(
      vectors, options, options.ef_search > 0 ? options.ef_search : 64, 1);
  std::future<absl::StatusOr<GraphHolder>> cosine_graph;
  if (options.cosine) {
    cosine_graph = std::async(std::launch::async, [&] {
      return LoadGraph(impl->space.get(), cosine_path, vectors, true,
                       insertion_order);
    });
  }
  absl::StatusOr<GraphHolder> graph =
      LoadGraph(impl->space.get(), path, vectors, false, insertion_order);
  absl::StatusOr<GraphHolder> unit = GraphHolder();
  if (options.cosine) unit = cosine_graph.get();
  if (!graph.ok()) return graph.status();
  if (!unit.ok()) return unit.status();
  impl->inner_product = *std::move(graph);
  impl->cosine = *std::move(unit);
  return std::unique_ptr<AnnIndex>(new AnnIndex(std::move(impl)));
}

std::vector<SearchHit> AnnIndex::Search(const float* query, int k,
                                        int ef) const {
  return impl_->Search(0, *impl_->inner_product.hnsw, query, k, ef);
}

bool AnnIndex::has_cosine() const { return impl_->cosine.hnsw != nullptr; }

std::vector<SearchHit> AnnIndex::SearchCosine(const float* query, int k,
                                              int ef) const {
  if (impl_->cosine.hnsw == nullptr) return {};
  return impl_->Search(1, *impl_->cosine.hnsw, query, k, ef);
}

int32_t AnnIndex::size() const { return impl_->size; }

int AnnIndex::dim() const { return impl_->dim; }

size_t AnnIndex::MemoryBytes() const {
  const size_t searchers = static_cast<size_t>(
      std::max({1, impl_->build_threads, impl_->peak_searches.load()}));
  size_t bytes = GraphBytes(impl_->inner_product, searchers) + sizeof(*impl_);
  if (impl_->cosine.hnsw != nullptr) {
    bytes += GraphBytes(impl_->cosine, searchers);
  }
  return bytes + impl_->cache->stats().bytes;
}

AnnIndex::CacheStats AnnIndex::cache_stats() const {
  const SearchCacheStats s = impl_->cache->stats();
  return {s.hits, s.misses, s.entries};
}

}  // namespace aisle::core
