// Store throughput: AppendEvents for both durability modes with concurrent
// writers (kMachine shows RocksDB group commit: writers share fsyncs), and
// a full ScanEvents over 1M events (what start-up recovery reads).
//
//   store_benchmark [--benchmark_filter=...]
// Data goes to a fresh directory under $TMPDIR (default /tmp), removed
// afterwards. Figures are items_per_second = events/s over all threads.
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "storage/store.h"

namespace aisle::storage {
namespace {

std::string MakeTempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/aisle_store_bench_XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return tmpl;
}

core::Event MakeEvent(std::string event_id, uint64_t n) {
  core::Event e;
  e.event_id = std::move(event_id);
  e.user_id = absl::StrCat("user", n * 2654435761u % 100000);
  e.item_id = absl::StrCat("item", n * 40503u % 20000);
  e.type = core::EventType::kView;
  e.value = 1;
  e.timestamp_ms = 1732500000000 + static_cast<int64_t>(n);
  return e;
}

// Opens a store in `dir`/data; on failure marks the benchmark skipped and
// returns null.
std::unique_ptr<Store> OpenOrSkip(
    benchmark::State& state, const std::string& dir,
    Durability durability = Durability::kProcess) {
  StoreOptions options;
  options.data_dir = dir + "/data";
  options.durability = durability;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return nullptr;
  }
  return *std::move(store);
}

// Shared by the threads of one benchmark run; thread 0 sets it up before
// the timed loop (whose start is a barrier) and tears it down after.
std::unique_ptr<Store> g_store;
std::string g_dir;
std::atomic<uint64_t> g_run{0};

// Args: {durability (0 = kProcess, 1 = kMachine), batch size}.
void BM_AppendEvents(benchmark::State& state) {
  const Durability durability =
      state.range(0) == 0 ? Durability::kProcess : Durability::kMachine;
  const int batch_size = static_cast<int>(state.range(1));
  if (state.thread_index() == 0) {
    g_dir = MakeTempDir();
    g_store = OpenOrSkip(state, g_dir, durability);
    ++g_run;
  }
  const std::string id_prefix =
      absl::StrCat("r", g_run.load(), "t", state.thread_index(), "-");
  uint64_t n = 0;
  std::vector<core::Event> batch(batch_size);
  for (auto _ : state) {
    if (g_store == nullptr) break;
    for (int i = 0; i < batch_size; ++i, ++n) {
      batch[i] = MakeEvent(absl::StrCat(id_prefix, n), n);
    }
    absl::StatusOr<AppendResult> r = g_store->AppendEvents(batch);
    if (!r.ok() || r->accepted != batch_size) {
      state.SkipWithError("append failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  if (state.thread_index() == 0) {
    g_store.reset();
    std::filesystem::remove_all(g_dir);
  }
}

void AppendArgs(benchmark::internal::Benchmark* b) {
  for (int durability : {0, 1}) {
    for (int batch : {1, 100}) b->Args({durability, batch});
  }
  b->ArgNames({"machine", "batch"});
}

BENCHMARK(BM_AppendEvents)
    ->Apply(AppendArgs)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16)
    ->UseRealTime()
    ->MinTime(1.0);

// A store of 1M events, flushed to SSTs, built once for the scan.
constexpr int kScanEvents = 1'000'000;

void BM_ScanEvents(benchmark::State& state) {
  const std::string dir = MakeTempDir();
  {
    std::unique_ptr<Store> store = OpenOrSkip(state, dir);
    if (store == nullptr) return;
    std::vector<core::Event> batch;
    for (int n = 0; n < kScanEvents; ++n) {
      batch.push_back(MakeEvent(absl::StrCat("e", n), n));
      if (batch.size() == 1000) {
        if (!store->AppendEvents(batch).ok()) {
          state.SkipWithError("loading failed");
          return;
        }
        batch.clear();
      }
    }
    if (!store->Flush().ok()) state.SkipWithError("flush failed");
  }
  std::unique_ptr<Store> store = OpenOrSkip(state, dir);
  if (store == nullptr) return;
  int64_t scanned = 0;
  for (auto _ : state) {
    int64_t seen = 0;
    absl::Status s = store->ScanEvents([&](std::span<const core::Event> b) {
      seen += static_cast<int64_t>(b.size());
      return absl::OkStatus();
    });
    if (!s.ok() || seen != kScanEvents) {
      state.SkipWithError("scan failed");
      break;
    }
    scanned += seen;
  }
  state.SetItemsProcessed(scanned);
  store.reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_ScanEvents)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace aisle::storage

BENCHMARK_MAIN();
