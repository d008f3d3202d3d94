// Recommend and Feedback cost inside the engine (no gRPC, no storage), on
// the demo store (20k items, 5k users, 300k events) with a trained model,
// and on a 200k-item store where FOR_YOU goes through the ANN index.
//
//   engine_benchmark [--benchmark_filter=...]
//
// Times are per call on one thread; the server adds gRPC and, for
// Feedback, the durable write (store_benchmark).
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/als.h"
#include "core/demo_data.h"
#include "core/engine.h"
#include "core/model.h"

namespace aisle::core {
namespace {

struct Store {
  std::unique_ptr<Engine> engine;
  int users = 0;
  int items = 0;
};

// The learned session re-scoring's weights as fitted on ML-100K (README
// "A learned re-scoring"): only their cost matters here.
const std::vector<double>& RankerWeights() {
  static const std::vector<double> w = {
      0.155372473, 1.42320618,    0.0664351118,  -4.36806692, 11.8152218,
      2.64244674,  2.15509596,    0.774195821,   0.307441691, -0.0786780408,
      -1.07404773, -0.0418046101, 0.00231214505, 0.06226104,  -0.0365629439,
      0.874676055, 0.0441863412,  1.29846588,    0.197147112};
  return w;
}

// Stores: the default options, or with every session fresh (a session
// never goes stale), with the hand blend or the learned re-scoring.
enum class Sessions { kDefault, kFreshHand, kFreshRanker };

// Built once per catalog size and options and shared by the benchmarks.
Store& Get(int items, Sessions sessions = Sessions::kDefault) {
  static std::map<std::pair<int, Sessions>, std::unique_ptr<Store>> cache;
  auto& slot = cache[{items, sessions}];
  if (slot) return *slot;
  slot = std::make_unique<Store>();
  DemoOptions demo;
  demo.items = items;
  demo.users = items == 20000 ? 5000 : 20000;
  demo.events = items == 20000 ? 300000 : 2000000;
  DemoData data = GenerateDemoData(demo);
  slot->users = demo.users;
  slot->items = demo.items;
  EngineOptions options;
  if (sessions != Sessions::kDefault) {
    options.session.fresh_half_life_seconds = 0;
  }
  if (sessions == Sessions::kFreshRanker) {
    options.session.ranker_weights = RankerWeights();
  }
  slot->engine = std::make_unique<Engine>(options);
  Engine& engine = *slot->engine;
  engine.UpsertItems(data.items);
  engine.ReplayEvents(data.events);
  Engine::TrainingData training = engine.ExportTrainingData();
  AlsOptions als;
  auto factors = TrainAls(training.user_items, als);
  if (!factors.ok()) return *slot;
  // Users repeat round the loop without new events: kept ANN answers
  // would time the cache, not the search.
  ModelOptions model_options;
  model_options.ann.cached_searches = 0;
  ModelMetadata meta;
  meta.version = "bench";
  meta.factors = als.factors;
  auto model = FactorModel::Create(
      meta, std::move(training.item_ids), std::move(factors->items),
      std::move(training.user_ids), std::move(factors->users), model_options);
  if (model.ok()) engine.SwapModel(*model);
  return *slot;
}

void Run(benchmark::State& state, Scenario scenario, bool with_user,
         int context_items, bool session = true,
         Sessions sessions = Sessions::kDefault) {
  Store& s = Get(static_cast<int>(state.range(0)), sessions);
  if (s.engine->model() == nullptr) {
    state.SkipWithError("no model");
    return;
  }
  RecommendRequest request;
  request.scenario = scenario;
  request.count = 10;
  request.sources.session = session;
  int n = 0;
  int64_t fallbacks = 0;
  for (auto _ : state) {
    request.user_id = with_user ? absl::StrCat("u", n % s.users) : "";
    request.context_item_ids.clear();
    for (int c = 0; c < context_items; ++c) {
      request.context_item_ids.push_back(
          absl::StrCat("i", (n * 7919 + c * 104729) % s.items));
    }
    auto r = s.engine->Recommend(request);
    if (r.ok() && r->fallback) ++fallbacks;
    benchmark::DoNotOptimize(r);
    ++n;
  }
  state.counters["fallback"] =
      static_cast<double>(fallbacks) / std::max<int64_t>(1, state.iterations());
  state.counters["ann"] = s.engine->model()->ann() != nullptr;
}

void BM_ForYou(benchmark::State& state) {
  Run(state, Scenario::kForYou, true, 0);
}
// FOR_YOU without the session signal: the cost it adds is BM_ForYou's
// time minus this (run both interleaved: --benchmark_filter=ForYou
// --benchmark_repetitions=4 --benchmark_enable_random_interleaving=true).
void BM_ForYouNoSession(benchmark::State& state) {
  Run(state, Scenario::kForYou, true, 0, /*session=*/false);
}
// Every user's session fresh: the hand blend against the learned
// re-scoring of its candidates (run interleaved, as above).
void BM_ForYouFreshHand(benchmark::State& state) {
  Run(state, Scenario::kForYou, true, 0, true, Sessions::kFreshHand);
}
void BM_ForYouFreshRanker(benchmark::State& state) {
  Run(state, Scenario::kForYou, true, 0, true, Sessions::kFreshRanker);
}
void BM_SimilarItems(benchmark::State& state) {
  Run(state, Scenario::kSimilarItems, false, 1);
}
void BM_FrequentlyBoughtTogether(benchmark::State& state) {
  Run(state, Scenario::kFrequentlyBoughtTogether, false, 2);
}
void BM_Trending(benchmark::State& state) {
  Run(state, Scenario::kTrending, false, 0);
}

// One event applied with fold-in (what Feedback does after the write).
void BM_ApplyEvent(benchmark::State& state) {
  Store& s = Get(static_cast<int>(state.range(0)));
  int n = 0;
  for (auto _ : state) {
    Event e;
    e.event_id = absl::StrCat("bench", n);
    e.user_id = absl::StrCat("u", n % s.users);
    e.item_id = absl::StrCat("i", (n * 7919) % s.items);
    e.type = EventType::kClick;
    e.timestamp_ms = 1793491200000 + n;
    s.engine->ApplyEvents(std::span<const Event>(&e, 1));
    ++n;
  }
}

BENCHMARK(BM_ForYou)->Arg(20000)->Arg(200000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ForYouNoSession)
    ->Arg(20000)
    ->Arg(200000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ForYouFreshHand)->Arg(20000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ForYouFreshRanker)->Arg(20000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SimilarItems)
    ->Arg(20000)
    ->Arg(200000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FrequentlyBoughtTogether)
    ->Arg(20000)
    ->Arg(200000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Trending)->Arg(20000)->Arg(200000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ApplyEvent)
    ->Arg(20000)
    ->Arg(200000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace aisle::core

BENCHMARK_MAIN();
