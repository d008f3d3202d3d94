#include "core/als.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <random>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"

namespace aisle::core {
namespace {

using VecMap = Eigen::Map<Eigen::VectorXf>;
using ConstVecMap = Eigen::Map<const Eigen::VectorXf>;

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Runs fn(thread_index, begin, end) over [0, n) in chunks handed out
// dynamically: item rows follow a power law, so static blocks would leave one
// thread with all the popular items. Each row's result depends only on that
// row, so the schedule never changes the output.
template <typename Fn>
void ParallelChunks(int64_t n, int threads, int64_t chunk, const Fn& fn) {
  threads = static_cast<int>(std::min<int64_t>(
      threads, std::max<int64_t>(1, (n + chunk - 1) / chunk)));
  std::atomic<int64_t> next{0};
  auto worker = [&](int t) {
    for (;;) {
      const int64_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= n) return;
      fn(t, begin, std::min(n, begin + chunk));
    }
  };
  if (threads <= 1) {
    worker(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (std::thread& th : pool) th.join();
}

// Per-thread buffers, sized once per half-iteration so that the per-row
// solves never allocate.
struct Scratch {
  RowMatrix gathered;        // fixed-side rows of the current row's entries
  Eigen::VectorXf extra;     // c - 1 = alpha * r per entry
  Eigen::VectorXf d;         // per-entry products in the CG solve
  Eigen::VectorXf r, p, ap;  // CG state
  Eigen::MatrixXf a;         // Cholesky system, sized at its first use
  Eigen::VectorXf b;

  Scratch(int64_t max_len, int k)
      : gathered(max_len, k),
        extra(max_len),
        d(max_len),
        r(k),
        p(k),
        ap(k),
        b(k) {}
};

// Copies the fixed-side rows of row `u` into contiguous scratch; the CG
// steps then stream over them from cache instead of chasing pointers.
int64_t Gather(const SparseRows& rows, const RowMatrix& fixed, float alpha,
               int64_t u, Scratch* s) {
  const int64_t begin = rows.row_ptr[u];
  const int64_t n = rows.row_ptr[u + 1] - begin;
  const int k = static_cast<int>(fixed.cols());
  for (int64_t j = 0; j < n; ++j) {
    const int32_t c = rows.col[begin + j];
    std::copy_n(fixed.data() + static_cast<int64_t>(c) * k, k,
                s->gathered.data() + j * k);
    s->extra[j] = alpha * rows.weight[begin + j];
  }
  return n;
}

// Conjugate gradient on A x = b with
//   A = YtY + reg I + sum_i (c_i - 1) y_i y_i^T,  b = sum_i c_i y_i,
// never forming A (the `implicit` library's formulation). `yty_reg` is
// YtY + reg I. Warm-starts from the current x.
void SolveRowCg(const Eigen::MatrixXf& yty_reg, int64_t n, int steps,
                Scratch* s, float* x_data) {
  const int k = static_cast<int>(yty_reg.rows());
  VecMap x(x_data, k);
  Eigen::VectorXf& r = s->r;
  Eigen::VectorXf& p = s->p;
  Eigen::VectorXf& ap = s->ap;

  // Two GEMVs over the gathered block per product instead of a dot and an
  // axpy per entry: Eigen's GEMV kernels keep several rows in flight.
  const auto g = s->gathered.topRows(n);
  const auto e = s->extra.head(n).array();
  auto d = s->d.head(n);
  // r = b - A x = Y_u^T (c - (c - 1) Y_u x) - (YtY + reg I) x, c = 1 + e.
  d.noalias() = g * x;
  d.array() = 1.0f + e * (1.0f - d.array());
  r.noalias() = g.transpose() * d;
  r.noalias() -= yty_reg * x;
  p = r;
  float rsold = r.squaredNorm();
  if (rsold < 1e-20f) return;
  for (int step = 0; step < steps; ++step) {
    d.noalias() = g * p;
    d.array() *= e;
    ap.noalias() = yty_reg * p;
    ap.noalias() += g.transpose() * d;
    const float pap = p.dot(ap);
    if (!(pap > 0)) return;
    const float step_size = rsold / pap;
    x += step_size * p;
    r -= step_size * ap;
    const float rsnew = r.squaredNorm();
    if (rsnew < 1e-20f) return;
    p = r + (rsnew / rsold) * p;
    rsold = rsnew;
  }
}

// Exact solve of the same system. Both the batch solver and FoldIn go
// through here so that they agree to rounding.
void SolveRowCholesky(const Eigen::MatrixXf& yty_reg, int64_t n, Scratch* s,
                      float* x_data) {
  const int k = static_cast<int>(yty_reg.rows());
  VecMap x(x_data, k);
  s->a = yty_reg;
  s->b.setZero();
  for (int64_t j = 0; j < n; ++j) {
    ConstVecMap y(s->gathered.data() + j * k, k);
    const float e = s->extra[j];
    s->b += (1.0f + e) * y;
    // Scale rows in place by sqrt(c - 1) for one symmetric rank-n update.
    s->gathered.row(j) *= std::sqrt(e);
  }
  if (n > 0) {
    s->a.selfadjointView<Eigen::Lower>().rankUpdate(
        s->gathered.topRows(n).transpose());
  }
  Eigen::LLT<Eigen::MatrixXf, Eigen::Lower> llt(s->a);
  if (llt.info() == Eigen::Success) {
    x = llt.solve(s->b);
  } else {
    // Only reachable with reg == 0 and a rank-deficient system.
    Eigen::MatrixXf full = s->a.selfadjointView<Eigen::Lower>();
    x = full.ldlt().solve(s->b);
  }
}

Eigen::MatrixXf WithRegularization(const Eigen::MatrixXf& gramian, float reg) {
  Eigen::MatrixXf m = gramian;
  m.diagonal().array() += reg;
  return m;
}

absl::Status ValidateOptions(const AlsOptions& o) {
  if (o.factors <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("factors must be positive, got ", o.factors));
  }
  if (o.iterations <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("iterations must be positive, got ", o.iterations));
  }
  if (!(o.alpha > 0) || !std::isfinite(o.alpha)) {
    return absl::InvalidArgumentError(
        absl::StrCat("alpha must be positive, got ", o.alpha));
  }
  if (!(o.regularization >= 0) || !std::isfinite(o.regularization)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "regularization must be non-negative, got ", o.regularization));
  }
  if (o.solver == AlsSolver::kConjugateGradient && o.cg_steps <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cg_steps must be positive, got ", o.cg_steps));
  }
  if (o.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be >= 0, got ", o.threads));
  }
  if (!(o.init_scale >= 0) || !std::isfinite(o.init_scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("init_scale must be non-negative, got ", o.init_scale));
  }
  return absl::OkStatus();
}

}  // namespace

SparseRows SparseRows::FromTriplets(int32_t rows, int32_t cols,
                                    std::vector<Triplet> triplets) {
  std::sort(triplets.begin(), triplets.end(),
            [](const Triplet& a, const Triplet& b) {
              return a.row != b.row ? a.row < b.row : a.col < b.col;
            });
  SparseRows m;
  m.rows = rows;
  m.cols = cols;
  m.row_ptr.assign(static_cast<size_t>(rows) + 1, 0);
  m.col.reserve(triplets.size());
  m.weight.reserve(triplets.size());
  size_t i = 0;
  while (i < triplets.size()) {
    const Triplet& t = triplets[i];
    float sum = 0;
    size_t j = i;
    for (; j < triplets.size() && triplets[j].row == t.row &&
           triplets[j].col == t.col;
         ++j) {
      sum += triplets[j].weight;
    }
    if (sum > 0) {
      m.col.push_back(t.col);
      m.weight.push_back(sum);
      ++m.row_ptr[static_cast<size_t>(t.row) + 1];
    }
    i = j;
  }
  for (int32_t r = 0; r < rows; ++r) m.row_ptr[r + 1] += m.row_ptr[r];
  return m;
}

SparseRows SparseRows::Transposed() const {
  SparseRows t;
  t.rows = cols;
  t.cols = rows;
  t.row_ptr.assign(static_cast<size_t>(cols) + 1, 0);
  for (int32_t c : col) ++t.row_ptr[static_cast<size_t>(c) + 1];
  for (int32_t c = 0; c < cols; ++c) t.row_ptr[c + 1] += t.row_ptr[c];
  t.col.resize(col.size());
  t.weight.resize(weight.size());
  std::vector<int64_t> next(t.row_ptr.begin(), t.row_ptr.end() - 1);
  // Visiting rows in order keeps each transposed row sorted by column.
  for (int32_t r = 0; r < rows; ++r) {
    for (int64_t e = row_ptr[r]; e < row_ptr[r + 1]; ++e) {
      const int64_t dst = next[col[e]]++;
      t.col[dst] = r;
      t.weight[dst] = weight[e];
    }
  }
  return t;
}

Eigen::MatrixXf Gramian(const RowMatrix& factors) {
  Eigen::MatrixXf g = Eigen::MatrixXf::Zero(factors.cols(), factors.cols());
  g.selfadjointView<Eigen::Lower>().rankUpdate(factors.transpose());
  return g.selfadjointView<Eigen::Lower>();
}

void SolveSide(const SparseRows& rows, const RowMatrix& fixed,
               const Eigen::MatrixXf& gramian, const AlsOptions& options,
               RowMatrix* solved) {
  const int k = static_cast<int>(fixed.cols());
  const Eigen::MatrixXf yty_reg =
      WithRegularization(gramian, options.regularization);
  int64_t max_len = 0;
  for (int32_t u = 0; u < rows.rows; ++u) {
    max_len = std::max(max_len, rows.row_ptr[u + 1] - rows.row_ptr[u]);
  }
  const int threads = ResolveThreads(options.threads);
  std::vector<std::unique_ptr<Scratch>> scratch(threads);
  ParallelChunks(rows.rows, threads, 64,
                 [&](int t, int64_t begin, int64_t end) {
                   if (!scratch[t])
                     scratch[t] = std::make_unique<Scratch>(max_len, k);
                   Scratch* s = scratch[t].get();
                   for (int64_t u = begin; u < end; ++u) {
                     const int64_t n = Gather(rows, fixed, options.alpha, u, s);
                     float* x = solved->data() + u * k;
                     if (options.solver == AlsSolver::kCholesky) {
                       SolveRowCholesky(yty_reg, n, s, x);
                     } else {
                       SolveRowCg(yty_reg, n, options.cg_steps, s, x);
                     }
                   }
                 });
}

absl::StatusOr<AlsFactors> TrainAls(
    const SparseRows& user_items, const AlsOptions& options,
    const std::function<void(const AlsProgress&)>& on_iteration,
    bool compute_loss) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (user_items.rows <= 0 || user_items.cols <= 0 || user_items.nnz() == 0) {
    return absl::InvalidArgumentError(
        "interaction matrix is empty (no rows, columns or entries)");
  }
  const int k = options.factors;
  AlsFactors f;
  f.users.resize(user_items.rows, k);
  f.items.resize(user_items.cols, k);
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<float> normal(0.0f, options.init_scale);
  for (int64_t i = 0; i < f.users.size(); ++i) f.users.data()[i] = normal(rng);
  for (int64_t i = 0; i < f.items.size(); ++i) f.items.data()[i] = normal(rng);

  const SparseRows item_users = user_items.Transposed();
  for (int it = 1; it <= options.iterations; ++it) {
    const auto start = SteadyClock::now();
    SolveSide(user_items, f.items, Gramian(f.items), options, &f.users);
    SolveSide(item_users, f.users, Gramian(f.users), options, &f.items);
    const double seconds = SecondsSince(start);
    if (on_iteration) {
      AlsProgress progress;
      progress.iteration = it;
      progress.iterations = options.iterations;
      progress.seconds = seconds;
      if (compute_loss) progress.loss = AlsLoss(user_items, f, options);
      on_iteration(progress);
    }
  }
  return f;
}

double AlsLoss(const SparseRows& user_items, const AlsFactors& factors,
               const AlsOptions& options) {
  // Every (u, i) pair contributes (x_u . y_i)^2 as an unobserved entry;
  // summed over all pairs that is <XtX, YtY>. Observed entries then swap
  // their unobserved term for c (1 - s)^2.
  const Eigen::MatrixXd xtx = Gramian(factors.users).cast<double>();
  const Eigen::MatrixXd yty = Gramian(factors.items).cast<double>();
  double loss = (xtx.array() * yty.array()).sum();
  for (int32_t u = 0; u < user_items.rows; ++u) {
    for (int64_t e = user_items.row_ptr[u]; e < user_items.row_ptr[u + 1];
         ++e) {
      const double s =
          factors.users.row(u).dot(factors.items.row(user_items.col[e]));
      const double c =
          1.0 + static_cast<double>(options.alpha) * user_items.weight[e];
      loss += c * (1.0 - s) * (1.0 - s) - s * s;
    }
  }
  loss += options.regularization * (factors.users.cast<double>().squaredNorm() +
                                    factors.items.cast<double>().squaredNorm());
  return loss;
}

FoldInSystem::FoldInSystem(const Eigen::MatrixXf& gramian,
                           const AlsOptions& options)
    : alpha_(options.alpha),
      yty_reg_(WithRegularization(gramian, options.regularization)) {
  // In double: the inverse is built once and used by every fold-in.
  const Eigen::MatrixXd a = yty_reg_.cast<double>();
  Eigen::LLT<Eigen::MatrixXd> llt(a);
  if (llt.info() == Eigen::Success) {
    inverse_ =
        llt.solve(Eigen::MatrixXd::Identity(a.rows(), a.cols())).cast<float>();
  }
}

FoldInSystem::FoldInSystem(const Eigen::MatrixXf& gramian,
                           const AlsOptions& options,
                           const RowMatrix& item_factors)
    : FoldInSystem(gramian, options) {
  if (inverse_.size() > 0) solved_rows_.noalias() = item_factors * inverse_;
}

namespace {

// Woodbury: with B = YtY + reg I, U = Y_u^T (k x n) and C = diag(c - 1),
//   (B + U C U^T)^-1 = B^-1 - B^-1 U (C^-1 + U^T B^-1 U)^-1 U^T B^-1,
// so x = x0 - M^T S^-1 (Y_u x0) with M = Y_u B^-1 (n x k), x0 = B^-1 b =
// M^T c (B symmetric, b = sum_i c_i y_i) and S = C^-1 + M Y_u^T (n x n).
// M's rows are the system's solved rows of the items `cols` when it keeps
// them (O(n^2 k + n^3) in all), else Y_u times the inverse (O(n k^2)
// more); either way no k x k solve. False (x untouched) when S is not
// numerically positive definite; the caller then solves the k x k system.
bool SolveRowWoodbury(const FoldInSystem& system, bool solved_rows,
                      std::span<const int32_t> cols, const Scratch& s,
                      Eigen::VectorXf* x) {
  const int64_t n = static_cast<int64_t>(cols.size());
  const auto g = s.gathered.topRows(n);
  const auto e = s.extra.head(n);
  RowMatrix m;
  if (solved_rows) {
    const RowMatrix& solved = system.solved_rows();
    const int64_t k = solved.cols();
    m.resize(n, k);
    for (int64_t j = 0; j < n; ++j) {
      std::copy_n(solved.data() + cols[j] * k, k, m.data() + j * k);
    }
  } else {
    m.noalias() = g * system.inverse();
  }
  Eigen::VectorXf x0 = m.transpose() * (e.array() + 1.0f).matrix();
  Eigen::MatrixXf small = m * g.transpose();
  small.diagonal() += e.cwiseInverse();
  Eigen::LLT<Eigen::MatrixXf> llt(small);
  if (llt.info() != Eigen::Success) return false;
  const Eigen::VectorXf t = g * x0;
  x0.noalias() -= m.transpose() * llt.solve(t);
  *x = std::move(x0);
  return true;
}

}  // namespace

Eigen::VectorXf FoldIn(const RowMatrix& item_factors,
                       const FoldInSystem& system,
                       std::span<const int32_t> items,
                       std::span<const float> weights) {
  const int k = static_cast<int>(item_factors.cols());
  Eigen::VectorXf x = Eigen::VectorXf::Zero(k);
  // Merge duplicates the way FromTriplets does, so a folded-in user matches
  // the row training would give for the same events.
  std::vector<std::pair<int32_t, float>> events;
  events.reserve(items.size());
  const size_t n_in = std::min(items.size(), weights.size());
  for (size_t j = 0; j < n_in; ++j) {
    if (items[j] >= 0 && items[j] < item_factors.rows()) {
      events.emplace_back(items[j], weights[j]);
    }
  }
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  SparseRows row;
  row.rows = 1;
  row.cols = static_cast<int32_t>(item_factors.rows());
  row.row_ptr = {0, 0};
  for (size_t j = 0; j < events.size();) {
    float sum = 0;
    size_t e = j;
    for (; e < events.size() && events[e].first == events[j].first; ++e) {
      sum += events[e].second;
    }
    if (sum > 0) {
      row.col.push_back(events[j].first);
      row.weight.push_back(sum);
    }
    j = e;
  }
  row.row_ptr[1] = row.nnz();
  if (row.nnz() == 0) return x;
  Scratch s(row.nnz(), k);
  const int64_t n = Gather(row, item_factors, system.alpha(), 0, &s);
  const RowMatrix& solved = system.solved_rows();
  const bool solved_rows =
      solved.rows() == item_factors.rows() && solved.cols() == k;
  if (system.inverse().size() > 0 && 2 * n <= k &&
      SolveRowWoodbury(system, solved_rows, row.col, s, &x)) {
    return x;
  }
  SolveRowCholesky(system.regularized_gramian(), n, &s, x.data());
  return x;
}

Eigen::VectorXf FoldIn(const RowMatrix& item_factors,
                       const Eigen::MatrixXf& gramian,
                       std::span<const int32_t> items,
                       std::span<const float> weights,
                       const AlsOptions& options) {
  return FoldIn(item_factors, FoldInSystem(gramian, options), items, weights);
}

}  // namespace aisle::core
