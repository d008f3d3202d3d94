// Implicit-feedback alternating least squares (Hu, Koren & Volinsky 2008).
//
// For user u and item i with observed weight r_ui >= 0 the preference is
// p_ui = 1 if r_ui > 0 else 0 and the confidence c_ui = 1 + alpha * r_ui.
// Training minimises
//   sum_ui c_ui (p_ui - x_u . y_i)^2 + reg * (|X|^2 + |Y|^2)
// by alternating exact (Cholesky) or approximate, warm-started conjugate
// gradient solves of each side. Only the observed entries are visited; the
// unobserved ones enter through the Gramian Y^T Y (the standard trick).
//
// Thread safety: all functions are pure apart from their output arguments
// and may be called concurrently on distinct outputs. Training uses
// `AlsOptions::threads` threads internally.
#ifndef AISLE_CORE_ALS_H_
#define AISLE_CORE_ALS_H_

#include <Eigen/Dense>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace aisle::core {

using RowMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One observed (row, column, weight) entry.
struct Triplet {
  int32_t row = 0;
  int32_t col = 0;
  float weight = 0;
};

// Sparse matrix in compressed-row form. Rows are users (or items for the
// transposed matrix); entries within a row are sorted by column, unique.
struct SparseRows {
  int32_t rows = 0;
  int32_t cols = 0;
  std::vector<int64_t> row_ptr;  // size rows + 1
  std::vector<int32_t> col;      // size nnz
  std::vector<float> weight;     // size nnz, r_ui (not yet scaled by alpha)

  int64_t nnz() const { return static_cast<int64_t>(col.size()); }
  // Builds from triplets; duplicate (row, col) weights are summed; triplets
  // with weight <= 0 after summing are dropped. REQUIRES: indices in range.
  static SparseRows FromTriplets(int32_t rows, int32_t cols,
                                 std::vector<Triplet> triplets);
  SparseRows Transposed() const;
};

enum class AlsSolver { kConjugateGradient, kCholesky };

// Defaults were chosen by a grid search on the MovieLens-100K per-user 75/25
// split (../shared/data/ml-100k-split-by-user, top-10 protocol of its
// README) with r_ui = the rating value (1..5): factors {32..200}, alpha
// {0.3..30}, regularization {1..200}, iterations {15, 30}, CG vs Cholesky.
// The winner reaches nDCG@10 0.490, P@10 0.429, R@10 0.228, MAP 0.153
// (seeds 1..5 all within 0.490 +- 0.001; most-popular gives 0.250). Binary
// r_ui = 1 peaks slightly lower (about 0.488 at alpha 1.5, reg 25). Large
// regularization matters most (the old default 0.1 with alpha 10 gives
// 0.306). It is an absolute L2 weight: on much larger data sets it may
// deserve scaling up with the number of interactions, and on toy data sets
// of a few users it shrinks the factors strongly (scores stay ordered but
// tiny), so tests on toy data should set their own values.
struct AlsOptions {
  // Latent dimension. Default: 64 (32 loses 0.002 nDCG, 200 gains 0.001).
  int factors = 64;
  // Confidence scale: c_ui = 1 + alpha * r_ui. Default: 1.
  float alpha = 1.0f;
  // L2 weight on both sides. Default: 40.
  float regularization = 40.0f;
  // Full iterations (users then items). Default: 15.
  int iterations = 15;
  // Default: kConjugateGradient; with 3 steps it matches Cholesky's ranking
  // quality at a fraction of the cost (1 step loses 0.03 nDCG).
  AlsSolver solver = AlsSolver::kConjugateGradient;
  int cg_steps = 3;  // CG steps per solve (warm-started from last value)
  uint64_t seed = 42;
  int threads = 0;           // 0 = std::thread::hardware_concurrency()
  float init_scale = 0.01f;  // factors start ~ N(0, init_scale^2)
};

struct AlsFactors {
  RowMatrix users;  // rows x factors
  RowMatrix items;  // cols x factors
};

struct AlsProgress {
  int iteration = 0;  // 1-based
  int iterations = 0;
  double seconds = 0;  // wall time of this iteration
  double loss = -1;    // training loss if compute_loss, else -1
};

// Trains from scratch. Returns InvalidArgument for non-positive factors,
// iterations, alpha or cg_steps (CG solver), negative regularization,
// threads or init_scale, or a matrix without rows, columns or entries.
// The result depends only on the data and options.seed, not on the thread
// count: each row's solve reads only the fixed side.
// `on_iteration`, if set, is called after each full iteration (both sides).
absl::StatusOr<AlsFactors> TrainAls(
    const SparseRows& user_items, const AlsOptions& options,
    const std::function<void(const AlsProgress&)>& on_iteration = {},
    bool compute_loss = false);

// Y^T Y (factors x factors) of `factors` (n x k).
Eigen::MatrixXf Gramian(const RowMatrix& factors);

// One half-iteration: re-solves every row of `solved` against `fixed`.
// `gramian` must be Gramian(fixed). The CG solver warm-starts from the
// current contents of `solved`; Cholesky ignores them. Options are not
// validated here. REQUIRES: solved is rows.rows x fixed.cols(), fixed has
// rows.cols rows. Exposed for benchmarks and tests.
void SolveSide(const SparseRows& rows, const RowMatrix& fixed,
               const Eigen::MatrixXf& gramian, const AlsOptions& options,
               RowMatrix* solved);

// Training objective (see file comment) for reporting.
double AlsLoss(const SparseRows& user_items, const AlsFactors& factors,
               const AlsOptions& options);

// What every fold-in against one set of item factors shares: Y^T Y + reg I
// and, when that is positive definite (always when reg > 0), its inverse;
// optionally also every item row times that inverse. Building one costs
// O(k^3), O(items k^2) with the rows; a model version builds it once.
// Immutable after construction and safe to share between threads.
class FoldInSystem {
 public:
  // `gramian` must be Gramian(item_factors) of the factors folded against;
  // alpha and regularization come from `options`.
  FoldInSystem(const Eigen::MatrixXf& gramian, const AlsOptions& options);
  // The same, with item_factors * inverse() kept (as much memory as the
  // factors again): a fold-in of few items then gathers those rows
  // instead of multiplying its rows by the inverse (O(n^2 k) instead of
  // O(n k^2); BM_FoldIn against BM_FoldInInverseOnly).
  FoldInSystem(const Eigen::MatrixXf& gramian, const AlsOptions& options,
               const RowMatrix& item_factors);

  float alpha() const { return alpha_; }
  const Eigen::MatrixXf& regularized_gramian() const { return yty_reg_; }
  // (Y^T Y + reg I)^-1, or an empty matrix when it is not positive definite.
  const Eigen::MatrixXf& inverse() const { return inverse_; }
  // Y * inverse(), row i for item i; empty unless built with the factors
  // and the inverse exists.
  const RowMatrix& solved_rows() const { return solved_rows_; }

 private:
  float alpha_;
  Eigen::MatrixXf yty_reg_;
  Eigen::MatrixXf inverse_;
  RowMatrix solved_rows_;
};

// Fold-in: the least-squares user vector for the given (item index, r_ui)
// pairs against fixed item factors, solved exactly. Duplicate items are
// summed and items out of range or with a non-positive sum ignored, as
// SparseRows::FromTriplets does, so the result matches the row training
// solves for the same events (to float rounding). A user with few distinct
// items (n <= k/2) is solved through the Woodbury identity from the
// system's inverse, O(n k^2) (O(n^2 k) with its solved rows); others by
// Cholesky of the k x k system, O(n k^2 + k^3). Returns a zero vector when no
// interaction has positive weight. REQUIRES: `system` was built from
// Gramian(item_factors).
Eigen::VectorXf FoldIn(const RowMatrix& item_factors,
                       const FoldInSystem& system,
                       std::span<const int32_t> items,
                       std::span<const float> weights);

// The same, building the system for this one call (O(k^3) more): for tests
// and one-off solves.
Eigen::VectorXf FoldIn(const RowMatrix& item_factors,
                       const Eigen::MatrixXf& gramian,
                       std::span<const int32_t> items,
                       std::span<const float> weights,
                       const AlsOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_ALS_H_
