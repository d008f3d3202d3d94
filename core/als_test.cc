#include "core/als.h"

#include <algorithm>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "core/test_vectors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;

// A small random interaction matrix: each user picks `per_user` distinct
// items with weights in [1, 5].
SparseRows RandomMatrix(int users, int items, int per_user, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> item(0, items - 1);
  std::uniform_int_distribution<int> rating(1, 5);
  std::vector<Triplet> t;
  for (int u = 0; u < users; ++u) {
    std::set<int> chosen;
    while (static_cast<int>(chosen.size()) < per_user) chosen.insert(item(rng));
    for (int i : chosen) {
      t.push_back({u, i, static_cast<float>(rating(rng))});
    }
  }
  return SparseRows::FromTriplets(users, items, std::move(t));
}

AlsOptions SmallOptions(AlsSolver solver) {
  AlsOptions o;
  o.factors = 8;
  o.alpha = 2.0f;
  o.regularization = 0.5f;
  o.iterations = 10;
  o.solver = solver;
  o.threads = 1;
  o.init_scale = 0.1f;
  return o;
}

TEST(SparseRowsTest, FromTripletsSumsDuplicatesAndDropsNonPositive) {
  const SparseRows m = SparseRows::FromTriplets(
      3, 4,
      {{0, 2, 1.0f},
       {0, 1, 2.0f},
       {0, 2, 3.5f},   // duplicate of (0, 2): summed to 4.5
       {1, 0, 0.0f},   // zero: dropped
       {1, 3, -1.0f},  // negative: dropped
       {2, 1, 2.0f},
       {2, 1, -2.0f},  // sums to zero: dropped
       {2, 3, 0.5f}});
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 4);
  EXPECT_THAT(m.row_ptr, ::testing::ElementsAre(0, 2, 2, 3));
  EXPECT_THAT(m.col, ::testing::ElementsAre(1, 2, 3));
  EXPECT_THAT(m.weight, ::testing::ElementsAre(2.0f, 4.5f, 0.5f));
}

TEST(SparseRowsTest, TransposedSwapsRowsAndColumnsAndRoundTrips) {
  const SparseRows m = RandomMatrix(20, 15, 4, 7);
  const SparseRows t = m.Transposed();
  ASSERT_EQ(t.rows, 15);
  ASSERT_EQ(t.cols, 20);
  ASSERT_EQ(t.nnz(), m.nnz());
  for (int32_t r = 0; r < t.rows; ++r) {
    for (int64_t e = t.row_ptr[r]; e < t.row_ptr[r + 1]; ++e) {
      if (e > t.row_ptr[r]) {
        EXPECT_LT(t.col[e - 1], t.col[e]);
      }
      // Find (col, r) in the original.
      const int32_t u = t.col[e];
      auto begin = m.col.begin() + m.row_ptr[u];
      auto end = m.col.begin() + m.row_ptr[u + 1];
      auto it = std::find(begin, end, r);
      ASSERT_NE(it, end);
      EXPECT_EQ(m.weight[it - m.col.begin()], t.weight[e]);
    }
  }
  const SparseRows back = t.Transposed();
  EXPECT_EQ(back.row_ptr, m.row_ptr);
  EXPECT_EQ(back.col, m.col);
  EXPECT_EQ(back.weight, m.weight);
}

TEST(AlsTest, GramianMatchesNaiveProduct) {
  const RowMatrix y = test_vectors::Gaussian(50, 6, 0.3f, 3);
  const Eigen::MatrixXf g = Gramian(y);
  for (int a = 0; a < 6; ++a) {
    for (int b = 0; b < 6; ++b) {
      double sum = 0;
      for (int i = 0; i < 50; ++i) sum += double{y(i, a)} * y(i, b);
      EXPECT_NEAR(g(a, b), sum, 1e-4);
    }
  }
}

TEST(AlsTest, LossMatchesDefinitionOverAllPairs) {
  const SparseRows m = RandomMatrix(12, 9, 3, 11);
  AlsFactors f{test_vectors::Gaussian(12, 4, 0.3f, 1),
               test_vectors::Gaussian(9, 4, 0.3f, 2)};
  AlsOptions o = SmallOptions(AlsSolver::kCholesky);
  double expected = 0;
  for (int u = 0; u < 12; ++u) {
    for (int i = 0; i < 9; ++i) {
      float r = 0;
      for (int64_t e = m.row_ptr[u]; e < m.row_ptr[u + 1]; ++e) {
        if (m.col[e] == i) r = m.weight[e];
      }
      const double p = r > 0 ? 1 : 0;
      const double c = 1 + o.alpha * r;
      const double s = f.users.row(u).dot(f.items.row(i));
      expected += c * (p - s) * (p - s);
    }
  }
  expected +=
      o.regularization * (f.users.squaredNorm() + f.items.squaredNorm());
  EXPECT_NEAR(AlsLoss(m, f, o), expected, 1e-4 * expected);
}

// The exact solve must zero the gradient of the objective with respect to
// each solved row, computed here naively over every (user, item) pair.
TEST(AlsTest, CholeskySolveZeroesTheGradient) {
  const SparseRows m = RandomMatrix(15, 20, 5, 19);
  const RowMatrix items = test_vectors::Gaussian(20, 6, 0.3f, 23);
  AlsOptions o = SmallOptions(AlsSolver::kCholesky);
  o.alpha = 3.0f;
  o.regularization = 0.7f;
  RowMatrix users = RowMatrix::Zero(15, 6);
  SolveSide(m, items, Gramian(items), o, &users);
  for (int u = 0; u < 15; ++u) {
    Eigen::VectorXd grad = o.regularization * users.row(u).cast<double>();
    for (int i = 0; i < 20; ++i) {
      float r = 0;
      for (int64_t e = m.row_ptr[u]; e < m.row_ptr[u + 1]; ++e) {
        if (m.col[e] == i) r = m.weight[e];
      }
      const double p = r > 0 ? 1 : 0;
      const double c = 1 + o.alpha * r;
      const double s = users.row(u).dot(items.row(i));
      grad += c * (s - p) * items.row(i).cast<double>().transpose();
    }
    EXPECT_LT(grad.norm(), 1e-4) << "user " << u;
  }
}

// With as many CG steps as unknowns, CG reaches the exact solution (up to
// rounding), so one half-iteration must match Cholesky row by row.
TEST(AlsTest, ConvergedConjugateGradientMatchesCholesky) {
  const SparseRows m = RandomMatrix(40, 30, 6, 5);
  const RowMatrix items = test_vectors::Gaussian(30, 8, 0.3f, 9);
  const Eigen::MatrixXf g = Gramian(items);
  AlsOptions chol = SmallOptions(AlsSolver::kCholesky);
  AlsOptions cg = SmallOptions(AlsSolver::kConjugateGradient);
  cg.cg_steps = 30;
  RowMatrix exact = RowMatrix::Zero(40, 8);
  RowMatrix approx =
      test_vectors::Gaussian(40, 8, 0.3f, 4);  // arbitrary warm start
  SolveSide(m, items, g, chol, &exact);
  SolveSide(m, items, g, cg, &approx);
  EXPECT_LT((exact - approx).norm(), 1e-3 * exact.norm());
}

TEST(AlsTest, ConjugateGradientTrainingReachesCholeskyObjective) {
  const SparseRows m = RandomMatrix(80, 50, 8, 21);
  AlsOptions chol = SmallOptions(AlsSolver::kCholesky);
  AlsOptions cg = SmallOptions(AlsSolver::kConjugateGradient);
  chol.iterations = cg.iterations = 20;
  cg.cg_steps = 3;
  auto exact = TrainAls(m, chol);
  auto approx = TrainAls(m, cg);
  ASSERT_OK(exact);
  ASSERT_OK(approx);
  const double exact_loss = AlsLoss(m, *exact, chol);
  const double approx_loss = AlsLoss(m, *approx, cg);
  EXPECT_NEAR(approx_loss, exact_loss, 0.02 * exact_loss);
  // The factors are only defined up to a rotation; the predictions are not.
  const RowMatrix p_exact = exact->users * exact->items.transpose();
  const RowMatrix p_approx = approx->users * approx->items.transpose();
  EXPECT_LT((p_exact - p_approx).norm(), 0.1 * p_exact.norm());
}

TEST(AlsTest, LossDecreasesOverIterations) {
  const SparseRows m = RandomMatrix(80, 50, 8, 33);
  for (AlsSolver solver :
       {AlsSolver::kCholesky, AlsSolver::kConjugateGradient}) {
    AlsOptions o = SmallOptions(solver);
    std::vector<double> losses;
    auto f = TrainAls(
        m, o, [&](const AlsProgress& p) { losses.push_back(p.loss); },
        /*compute_loss=*/true);
    ASSERT_OK(f);
    ASSERT_EQ(losses.size(), static_cast<size_t>(o.iterations));
    if (solver == AlsSolver::kCholesky) {
      // Exact alternating minimisation never increases the objective.
      for (size_t i = 1; i < losses.size(); ++i) {
        EXPECT_LE(losses[i], losses[i - 1] * (1 + 1e-5)) << "iteration " << i;
      }
    }
    EXPECT_LT(losses.back(), 0.8 * losses.front());
  }
}

TEST(AlsTest, DeterministicForSeedAndThreadCount) {
  const SparseRows m = RandomMatrix(300, 120, 10, 8);
  AlsOptions o = SmallOptions(AlsSolver::kConjugateGradient);
  o.threads = 1;
  auto a = TrainAls(m, o);
  auto b = TrainAls(m, o);
  o.threads = 2;
  auto c = TrainAls(m, o);
  o.threads = 3;
  auto d = TrainAls(m, o);
  o.seed = 43;
  auto other_seed = TrainAls(m, o);
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(c);
  ASSERT_OK(d);
  ASSERT_OK(other_seed);
  EXPECT_EQ(a->users, b->users);
  EXPECT_EQ(a->items, b->items);
  EXPECT_EQ(a->users, c->users);
  EXPECT_EQ(a->items, c->items);
  EXPECT_EQ(a->users, d->users);
  EXPECT_EQ(a->items, d->items);
  EXPECT_NE(a->users, other_seed->users);
}

TEST(AlsTest, FoldInEqualsExactSolveOfThatUser) {
  const SparseRows m = RandomMatrix(30, 40, 7, 13);
  AlsOptions o = SmallOptions(AlsSolver::kCholesky);
  auto f = TrainAls(m, o);
  ASSERT_OK(f);
  const Eigen::MatrixXf g = Gramian(f->items);
  RowMatrix solved = RowMatrix::Zero(30, o.factors);
  SolveSide(m, f->items, g, o, &solved);
  for (int32_t u = 0; u < m.rows; ++u) {
    std::vector<int32_t> items(m.col.begin() + m.row_ptr[u],
                               m.col.begin() + m.row_ptr[u + 1]);
    std::vector<float> weights(m.weight.begin() + m.row_ptr[u],
                               m.weight.begin() + m.row_ptr[u + 1]);
    const Eigen::VectorXf x = FoldIn(f->items, g, items, weights, o);
    EXPECT_LT((x - solved.row(u).transpose()).norm(), 1e-4 * (1 + x.norm()))
        << "user " << u;
  }
}

// The fold-in system solved in double precision, for reference. REQUIRES:
// distinct items with positive weights.
Eigen::VectorXd ExactFoldIn(const RowMatrix& items,
                            const std::vector<int32_t>& ids,
                            const std::vector<float>& weights,
                            const AlsOptions& o) {
  const Eigen::MatrixXd y = items.cast<double>();
  Eigen::MatrixXd a = y.transpose() * y;
  a.diagonal().array() += o.regularization;
  Eigen::VectorXd b = Eigen::VectorXd::Zero(y.cols());
  for (size_t j = 0; j < ids.size(); ++j) {
    const Eigen::VectorXd yi = y.row(ids[j]).transpose();
    const double e = static_cast<double>(o.alpha) * weights[j];
    a += e * yi * yi.transpose();
    b += (1 + e) * yi;
  }
  return a.llt().solve(b);
}

// Short histories (n <= k/2) take the Woodbury path (from the inverse, or
// from the solved rows a served model keeps), longer ones the Cholesky
// path; all must agree with the exact solve, with the served defaults and
// with a strong confidence and weak regularization, over trained
// (correlated) factors and random ones.
TEST(AlsTest, FoldInMatchesADoublePrecisionSolveForShortAndLongHistories) {
  AlsOptions served;  // alpha 1, regularization 40
  served.factors = 32;
  served.iterations = 5;
  served.threads = 1;
  AlsOptions sharp = served;
  sharp.alpha = 40.0f;
  sharp.regularization = 0.5f;
  const SparseRows m = RandomMatrix(150, 300, 40, 21);
  for (const AlsOptions& o : {served, sharp}) {
    auto trained = TrainAls(m, o);
    ASSERT_OK(trained);
    const RowMatrix random = test_vectors::Gaussian(300, 32, 0.3f, 23);
    for (const RowMatrix* items : {&std::as_const(trained->items), &random}) {
      for (bool solved_rows : {false, true}) {
        const FoldInSystem system =
            solved_rows ? FoldInSystem(Gramian(*items), o, *items)
                        : FoldInSystem(Gramian(*items), o);
        ASSERT_EQ(system.solved_rows().rows(), solved_rows ? items->rows() : 0);
        std::mt19937_64 rng(29);
        for (int n : {1, 2, 5, 12, 16, 17, 30, 60}) {
          std::set<int32_t> chosen;
          while (static_cast<int>(chosen.size()) < n) {
            chosen.insert(static_cast<int32_t>(rng() % 300));
          }
          const std::vector<int32_t> ids(chosen.begin(), chosen.end());
          std::vector<float> weights;
          for (size_t j = 0; j < ids.size(); ++j) {
            weights.push_back(static_cast<float>(1 + rng() % 5));
          }
          const Eigen::VectorXd expected = ExactFoldIn(*items, ids, weights, o);
          const Eigen::VectorXd x =
              FoldIn(*items, system, ids, weights).cast<double>();
          EXPECT_LT((x - expected).norm(), 1e-4 * expected.norm())
              << "n " << n << " alpha " << o.alpha << " items "
              << (items == &random ? "random" : "trained") << " solved rows "
              << solved_rows;
        }
      }
    }
  }
}

// Without regularization a catalog smaller than the factor count has a
// singular Gramian: no inverse, and every fold-in goes the k x k way.
TEST(AlsTest, FoldInWithoutAnInverseStillSolves) {
  const RowMatrix items = test_vectors::Gaussian(3, 8, 0.5f, 31);
  AlsOptions o = SmallOptions(AlsSolver::kCholesky);
  o.regularization = 0;
  const FoldInSystem system(Gramian(items), o, items);
  EXPECT_EQ(system.inverse().size(), 0);
  EXPECT_EQ(system.solved_rows().size(), 0);
  const std::vector<int32_t> ids = {0, 2};
  const std::vector<float> weights = {1.0f, 3.0f};
  const Eigen::VectorXf x = FoldIn(items, system, ids, weights);
  // Any solution of the singular system reproduces b = sum_i c_i y_i.
  Eigen::MatrixXf a = Gramian(items);
  Eigen::VectorXf b = Eigen::VectorXf::Zero(8);
  for (size_t j = 0; j < ids.size(); ++j) {
    const Eigen::VectorXf yi = items.row(ids[j]).transpose();
    a += o.alpha * weights[j] * yi * yi.transpose();
    b += (1 + o.alpha * weights[j]) * yi;
  }
  EXPECT_LT((a * x - b).norm(), 1e-3 * b.norm());
}

TEST(AlsTest, FoldInMergesDuplicatesAndIgnoresOutOfRangeItems) {
  const RowMatrix items = test_vectors::Gaussian(10, 4, 0.3f, 17);
  const Eigen::MatrixXf g = Gramian(items);
  const AlsOptions o = SmallOptions(AlsSolver::kCholesky);
  const std::vector<int32_t> merged_items = {2, 5};
  const std::vector<float> merged_weights = {3.0f, 1.0f};
  const Eigen::VectorXf expected =
      FoldIn(items, g, merged_items, merged_weights, o);
  const std::vector<int32_t> raw_items = {5, 2, -1, 2, 10, 7, 7};
  const std::vector<float> raw_weights = {1.0f, 1.0f, 4.0f, 2.0f,
                                          1.0f, 1.0f, -1.0f};
  const Eigen::VectorXf x = FoldIn(items, g, raw_items, raw_weights, o);
  EXPECT_LT((x - expected).norm(), 1e-5 * (1 + expected.norm()));
  EXPECT_GT(expected.norm(), 0);
}

TEST(AlsTest, FoldInWithoutPositiveWeightsIsZero) {
  const RowMatrix items = test_vectors::Gaussian(10, 4, 0.3f, 17);
  const Eigen::MatrixXf g = Gramian(items);
  const AlsOptions o = SmallOptions(AlsSolver::kCholesky);
  const std::vector<int32_t> ids = {1, 3};
  const std::vector<float> weights = {0.0f, -2.0f};
  EXPECT_EQ(FoldIn(items, g, ids, weights, o), Eigen::VectorXf::Zero(4));
  EXPECT_EQ(FoldIn(items, g, {}, {}, o), Eigen::VectorXf::Zero(4));
}

TEST(AlsTest, RejectsInvalidOptions) {
  const SparseRows m = RandomMatrix(5, 5, 2, 1);
  struct Case {
    const char* name;
    void (*mutate)(AlsOptions&);
  };
  const Case cases[] = {
      {"zero factors", [](AlsOptions& o) { o.factors = 0; }},
      {"negative factors", [](AlsOptions& o) { o.factors = -3; }},
      {"zero iterations", [](AlsOptions& o) { o.iterations = 0; }},
      {"zero alpha", [](AlsOptions& o) { o.alpha = 0; }},
      {"negative alpha", [](AlsOptions& o) { o.alpha = -1; }},
      {"negative regularization",
       [](AlsOptions& o) { o.regularization = -0.1f; }},
      {"zero cg steps", [](AlsOptions& o) { o.cg_steps = 0; }},
      {"negative threads", [](AlsOptions& o) { o.threads = -1; }},
      {"negative init scale", [](AlsOptions& o) { o.init_scale = -1; }},
  };
  for (const Case& c : cases) {
    AlsOptions o = SmallOptions(AlsSolver::kConjugateGradient);
    c.mutate(o);
    auto f = TrainAls(m, o);
    EXPECT_THAT(f, StatusIs(absl::StatusCode::kInvalidArgument, _)) << c.name;
  }
}

TEST(AlsTest, RejectsEmptyMatrix) {
  const AlsOptions o = SmallOptions(AlsSolver::kConjugateGradient);
  EXPECT_THAT(TrainAls(SparseRows::FromTriplets(0, 0, {}), o),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(TrainAls(SparseRows::FromTriplets(4, 4, {}), o),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
}

// Users and items fall into three planted taste clusters; users mostly
// interact inside their own cluster. A working model must recommend unseen
// items from the user's cluster.
TEST(AlsTest, RecoversPlantedClusters) {
  constexpr int kClusters = 3;
  constexpr int kUsersPerCluster = 60;
  constexpr int kItemsPerCluster = 30;
  constexpr int kUsers = kClusters * kUsersPerCluster;
  constexpr int kItems = kClusters * kItemsPerCluster;
  std::mt19937_64 rng(2024);
  std::uniform_int_distribution<int> in_cluster(0, kItemsPerCluster - 1);
  std::uniform_int_distribution<int> any_item(0, kItems - 1);
  std::vector<Triplet> t;
  for (int u = 0; u < kUsers; ++u) {
    const int cluster = u / kUsersPerCluster;
    for (int j = 0; j < 10; ++j) {
      t.push_back({u, cluster * kItemsPerCluster + in_cluster(rng), 1.0f});
    }
    t.push_back({u, any_item(rng), 1.0f});  // noise
  }
  const SparseRows m = SparseRows::FromTriplets(kUsers, kItems, t);
  for (AlsSolver solver :
       {AlsSolver::kConjugateGradient, AlsSolver::kCholesky}) {
    AlsOptions o;
    o.factors = 8;
    o.iterations = 10;
    o.alpha = 5.0f;
    o.regularization = 1.0f;
    o.solver = solver;
    o.threads = 2;
    auto f = TrainAls(m, o);
    ASSERT_OK(f);
    int in_own = 0;
    int total = 0;
    for (int u = 0; u < kUsers; ++u) {
      std::set<int> seen(m.col.begin() + m.row_ptr[u],
                         m.col.begin() + m.row_ptr[u + 1]);
      std::vector<std::pair<float, int>> scored;
      for (int i = 0; i < kItems; ++i) {
        if (!seen.contains(i)) {
          scored.emplace_back(-f->users.row(u).dot(f->items.row(i)), i);
        }
      }
      std::partial_sort(scored.begin(), scored.begin() + 5, scored.end());
      for (int r = 0; r < 5; ++r) {
        in_own += scored[r].second / kItemsPerCluster == u / kUsersPerCluster;
        ++total;
      }
    }
    EXPECT_GT(static_cast<double>(in_own) / total, 0.9)
        << "solver " << static_cast<int>(solver);
  }
}

}  // namespace
}  // namespace aisle::core
