// Top-10 inner-product search: HNSW (AnnIndex) against exact brute force.
//
// Item and query vectors are 64-dimensional and shaped like trained
// factors (core/test_vectors.h).
// Sizes: 100k and 1M items; set AISLE_BENCH_MAX_ITEMS=100000 to skip the 1M
// case (its index takes minutes to build on 2 cores).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/clock.h"
#include "core/test_vectors.h"
#include "core/vector_index.h"

namespace aisle::core {
namespace {

constexpr int kQueries = 500;
constexpr int kTopK = 10;

using test_vectors::ModelLikeVectors;

struct Fixture {
  RowMatrix items;
  RowMatrix queries;
  std::vector<std::vector<SearchHit>> truth;
  std::unique_ptr<AnnIndex> index;
  double build_seconds = 0;
};

// Built once per size and shared by every benchmark of that size.
Fixture& Get(int64_t n) {
  static std::map<int64_t, std::unique_ptr<Fixture>> cache;
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<Fixture>();
    slot->items = ModelLikeVectors(n, 1);
    slot->queries = ModelLikeVectors(kQueries, 2);
    slot->truth = ExactTopKBatch(slot->items, slot->queries, kTopK);
    const auto start = SteadyClock::now();
    // Searches repeat the same queries: keeping answers would time the
    // cache, not the search.
    AnnOptions options;
    options.cached_searches = 0;
    auto index = AnnIndex::Build(slot->items, options);
    slot->build_seconds = SecondsSince(start);
    if (index.ok()) slot->index = *std::move(index);
  }
  return *slot;
}

double Recall(const Fixture& f, int q, const std::vector<SearchHit>& hits) {
  int found = 0;
  for (const SearchHit& h : hits) {
    for (const SearchHit& t : f.truth[q]) found += h.index == t.index;
  }
  return static_cast<double>(found) / kTopK;
}

void BM_AnnBuild(benchmark::State& state) {
  Fixture& f = Get(state.range(0));
  if (!f.index) {
    state.SkipWithError("index build failed");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.index.get());
  }
  const double raw = static_cast<double>(f.items.size()) * sizeof(float);
  state.counters["build_s"] = f.build_seconds;
  state.counters["index_MB"] = f.index->MemoryBytes() / 1e6;
  state.counters["raw_MB"] = raw / 1e6;
  state.counters["index/raw"] = f.index->MemoryBytes() / raw;
}

void BM_AnnSearch(benchmark::State& state) {
  Fixture& f = Get(state.range(0));
  if (!f.index) {
    state.SkipWithError("index build failed");
    return;
  }
  const int ef = static_cast<int>(state.range(1));
  int q = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        f.index->Search(f.queries.row(q).data(), kTopK, ef).data());
    q = (q + 1) % kQueries;
  }
  double recall = 0;
  for (int i = 0; i < kQueries; ++i) {
    recall += Recall(f, i, f.index->Search(f.queries.row(i).data(), kTopK, ef));
  }
  state.counters["recall@10"] = recall / kQueries;
}

void BM_ExactTopK(benchmark::State& state) {
  Fixture& f = Get(state.range(0));
  int q = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ExactTopK(f.items, f.queries.row(q).data(), kTopK).data());
    q = (q + 1) % kQueries;
  }
}

// Per-query cost when 64 queries are scored together by GEMM.
void BM_ExactTopKBatch64(benchmark::State& state) {
  Fixture& f = Get(state.range(0));
  const RowMatrix batch = f.queries.topRows(64);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ExactTopKBatch(f.items, batch, kTopK).data());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}

void Sizes(benchmark::internal::Benchmark* b, bool with_ef) {
  const char* env = std::getenv("AISLE_BENCH_MAX_ITEMS");
  const int64_t max_items = env ? std::atoll(env) : 1'000'000;
  for (int64_t n : {100'000, 1'000'000}) {
    if (n > max_items) continue;
    if (with_ef) {
      for (int ef : {16, 32, 64, 128, 256}) b->Args({n, ef});
    } else {
      b->Arg(n);
    }
  }
}

BENCHMARK(BM_AnnBuild)
    ->Apply([](auto* b) { Sizes(b, false); }) -> Iterations(1);
BENCHMARK(BM_AnnSearch)
    ->Apply([](auto* b) { Sizes(b, true); }) -> ArgNames({"items", "ef"})
        -> Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExactTopK)
    ->Apply([](auto* b) { Sizes(b, false); }) -> Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExactTopKBatch64)
    ->Apply([](auto* b) { Sizes(b, false); }) -> Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace aisle::core

BENCHMARK_MAIN();
