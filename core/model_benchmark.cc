// Memory and load time of a served model: a FactorModel with N items (and
// N/10 users) at 64 factors, shaped like trained factors
// (core/test_vectors.h), is serialized, then loaded the way a server
// loads it (Deserialize, then the ANN index), and the process's resident
// memory is read before and after.
//
//   model_benchmark [--benchmark_filter=/1000000]
//
// Counters: raw_MB = the item and user vectors as float32; index_MB = the
// HNSW graph with its own copy of the item vectors; rss_MB = growth of
// resident memory from before the load to after it (the blob freed);
// rss/(raw+index) is the figure the brief bounds at 1.5.
// Set AISLE_BENCH_MAX_ITEMS=100000 to skip the 1M case (its index takes
// minutes to build on 2 cores).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/model.h"
#include "core/test_vectors.h"

namespace aisle::core {
namespace {

constexpr int kFactors = 64;

// Resident set size in bytes, from /proc/self/statm.
double RssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<double>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

std::vector<std::string> Ids(const char* prefix, int64_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (int64_t i = 0; i < n; ++i) ids.push_back(absl::StrCat(prefix, i));
  return ids;
}

void BM_ModelLoad(benchmark::State& state) {
  const int64_t items = state.range(0);
  const int64_t users = items / 10;
  std::string blob;
  {
    ModelMetadata meta;
    meta.version = "bench";
    meta.factors = kFactors;
    meta.users = users;
    meta.items = items;
    ModelOptions no_index;
    no_index.defer_ann = true;
    auto model = FactorModel::Create(
        meta, Ids("i", items), test_vectors::ModelLikeVectors(items, 1),
        Ids("u", users), test_vectors::ModelLikeVectors(users, 2), no_index);
    if (!model.ok()) {
      state.SkipWithError(model.status().ToString().c_str());
      return;
    }
    blob = (*model)->Serialize();
  }
  malloc_trim(0);
  ModelOptions options;
  options.ann_min_items = 1;
  double rss = 0, load_s = 0, raw = 0, index = 0, total = 0;
  for (auto _ : state) {
    const double before = RssBytes();
    const auto start = SteadyClock::now();
    auto model = FactorModel::Deserialize(blob, options);
    load_s = SecondsSince(start);
    if (!model.ok() || (*model)->ann() == nullptr) {
      state.SkipWithError("load failed");
      return;
    }
    malloc_trim(0);
    rss = RssBytes() - before;
    raw = static_cast<double>((*model)->item_factors().size() +
                              (*model)->user_factors().size()) *
          sizeof(float);
    index = static_cast<double>((*model)->ann()->MemoryBytes());
    total = static_cast<double>((*model)->MemoryBytes());
  }
  state.counters["load_s"] = load_s;
  state.counters["blob_MB"] = static_cast<double>(blob.size()) / 1e6;
  state.counters["raw_MB"] = raw / 1e6;
  state.counters["index_MB"] = index / 1e6;
  state.counters["model_MB"] = total / 1e6;
  state.counters["rss_MB"] = rss / 1e6;
  state.counters["rss/(raw+index)"] = rss / (raw + index);
}

void Sizes(benchmark::internal::Benchmark* b) {
  const char* env = std::getenv("AISLE_BENCH_MAX_ITEMS");
  const int64_t max_items = env ? std::atoll(env) : 1'000'000;
  for (int64_t n : {100'000, 1'000'000}) {
    if (n <= max_items) b->Arg(n);
  }
}

BENCHMARK(BM_ModelLoad)
    ->Apply(Sizes)
    ->ArgName("items")
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace aisle::core

BENCHMARK_MAIN();
