// ALS throughput and fold-in latency.
//
// The synthetic set has AISLE_BENCH_NNZ interactions (default 10,000,000)
// spread over nnz / 100 users (20..180 distinct items each) and nnz / 200
// items; item popularity follows a power law (Zipf exponent 0.9), weights
// are ratings 1..5. Every figure comes
// with a same-run Eigen SGEMM GFLOP/s for scale.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/als.h"
#include "core/test_vectors.h"

namespace aisle::core {
namespace {

constexpr int kFactors = 64;

int64_t BenchNnz() {
  const char* env = std::getenv("AISLE_BENCH_NNZ");
  const int64_t n = env ? std::atoll(env) : 10'000'000;
  return n > 1000 ? n : 1000;
}

struct Dataset {
  SparseRows user_items;
  SparseRows item_users;
};

const Dataset& Data() {
  static const Dataset* data = [] {
    const int64_t nnz = BenchNnz();
    const int32_t users = static_cast<int32_t>(nnz / 100);
    const int32_t items = static_cast<int32_t>(nnz / 200);
    std::mt19937_64 rng(1);
    // Zipf-like popularity via the inverse CDF of a continuous power law,
    // cheaper than a discrete_distribution over every item.
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const double s = 0.9;
    const double span = std::pow(items + 1.0, 1 - s) - 1;
    // Users have 20..180 distinct items (mean 100), drawn by popularity
    // with repeats redrawn, so the set has nnz distinct entries.
    std::uniform_int_distribution<int> activity(20, 180);
    std::uniform_int_distribution<int> rating(1, 5);
    std::vector<Triplet> t;
    t.reserve(nnz);
    std::vector<int32_t> picked;
    for (int32_t u = 0; u < users; ++u) {
      const int64_t left = nnz - static_cast<int64_t>(t.size());
      const int n = static_cast<int>(
          u + 1 == users ? std::min<int64_t>(left, items / 2)
                         : std::min<int64_t>(left, activity(rng)));
      picked.clear();
      while (static_cast<int>(picked.size()) < n) {
        const double x = std::pow(1 + unit(rng) * span, 1 / (1 - s)) - 1;
        const int32_t item =
            std::min<int32_t>(items - 1, static_cast<int32_t>(x));
        if (std::find(picked.begin(), picked.end(), item) == picked.end()) {
          picked.push_back(item);
        }
      }
      for (int32_t item : picked) {
        t.push_back({u, item, static_cast<float>(rating(rng))});
      }
    }
    auto* d = new Dataset;
    d->user_items = SparseRows::FromTriplets(users, items, std::move(t));
    d->item_users = d->user_items.Transposed();
    return d;
  }();
  return *data;
}

// Flops of one SolveSide with the CG solver, as implemented: per row the
// residual costs a k x k GEMV plus two n_u x k GEMVs over the gathered
// rows; each CG step costs the same again plus O(k) vector updates.
double CgSideFlops(const SparseRows& m, int k, int steps) {
  const double passes = 1 + steps;
  return passes * (m.rows * 2.0 * k * k + m.nnz() * 4.0 * k) +
         m.rows * steps * 10.0 * k;
}

// Flops of the Cholesky solver: rank-n_u update, k^3/3 factorisation, two
// triangular solves.
double CholeskySideFlops(const SparseRows& m, int k) {
  return m.nnz() * (1.0 * k * (k + 1) + 4.0 * k) +
         m.rows * (k * k * k / 3.0 + 2.0 * k * k);
}

double GramianFlops(int64_t rows, int k) { return rows * 1.0 * k * (k + 1); }

void BM_AlsIteration(benchmark::State& state) {
  const Dataset& d = Data();
  AlsOptions o;
  o.factors = kFactors;
  o.solver = static_cast<AlsSolver>(state.range(0));
  RowMatrix users =
      test_vectors::Gaussian(d.user_items.rows, kFactors, 0.1f, 2);
  RowMatrix items =
      test_vectors::Gaussian(d.user_items.cols, kFactors, 0.1f, 3);
  for (auto _ : state) {
    SolveSide(d.user_items, items, Gramian(items), o, &users);
    SolveSide(d.item_users, users, Gramian(users), o, &items);
    benchmark::ClobberMemory();
  }
  double flops = GramianFlops(users.rows(), kFactors) +
                 GramianFlops(items.rows(), kFactors);
  if (o.solver == AlsSolver::kCholesky) {
    flops += CholeskySideFlops(d.user_items, kFactors) +
             CholeskySideFlops(d.item_users, kFactors);
  } else {
    flops += CgSideFlops(d.user_items, kFactors, o.cg_steps) +
             CgSideFlops(d.item_users, kFactors, o.cg_steps);
  }
  state.counters["nnz"] = static_cast<double>(d.user_items.nnz());
  state.counters["users"] = d.user_items.rows;
  state.counters["items"] = d.user_items.cols;
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(o.solver == AlsSolver::kCholesky ? "cholesky" : "cg, 3 steps");
}
BENCHMARK(BM_AlsIteration)
    ->Arg(static_cast<int>(AlsSolver::kConjugateGradient))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);
// The exact solver is several times slower; one iteration gives the ratio.
BENCHMARK(BM_AlsIteration)
    ->Arg(static_cast<int>(AlsSolver::kCholesky))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

void BM_EigenSgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n);
  const Eigen::MatrixXf b = Eigen::MatrixXf::Random(n, n);
  Eigen::MatrixXf c(n, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * n * n * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("single thread");
}
BENCHMARK(BM_EigenSgemm)->Arg(1024)->Unit(benchmark::kMillisecond);

// `solved_rows`: the system keeps Y (Y^T Y + reg I)^-1, as a served model's
// does (FactorModel); without, each fold-in multiplies by the inverse.
void FoldInBenchmark(benchmark::State& state, bool solved_rows) {
  const int events = static_cast<int>(state.range(0));
  const int32_t n_items = 50'000;
  const RowMatrix items = test_vectors::Gaussian(n_items, kFactors, 0.1f, 4);
  const Eigen::MatrixXf g = Gramian(items);
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int32_t> item(0, n_items - 1);
  std::vector<int32_t> ids(events);
  std::vector<float> weights(events, 1.0f);
  for (int32_t& id : ids) id = item(rng);
  // As a served model does: the system is built once per version.
  const FoldInSystem system = solved_rows ? FoldInSystem(g, AlsOptions(), items)
                                          : FoldInSystem(g, AlsOptions());
  for (auto _ : state) {
    Eigen::VectorXf x = FoldIn(items, system, ids, weights);
    benchmark::DoNotOptimize(x.data());
  }
  state.counters["factors"] = kFactors;
}
void BM_FoldIn(benchmark::State& state) { FoldInBenchmark(state, true); }
void BM_FoldInInverseOnly(benchmark::State& state) {
  FoldInBenchmark(state, false);
}
BENCHMARK(BM_FoldIn)
    ->Arg(5)
    ->Arg(10)
    ->Arg(20)
    ->Arg(32)
    ->Arg(50)
    ->Arg(500)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FoldInInverseOnly)
    ->Arg(5)
    ->Arg(10)
    ->Arg(20)
    ->Arg(32)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace aisle::core

BENCHMARK_MAIN();
