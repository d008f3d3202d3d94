#include "core/kmeans.h"

#include <map>
#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

// `per_blob` points around each of `blobs` random centres (spread
// `spread`), and the blob each point came from.
RowMatrix Blobs(int blobs, int per_blob, int dims, float spread, uint64_t seed,
                std::vector<int>* truth) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, spread);
  std::uniform_real_distribution<float> centre(-10, 10);
  RowMatrix centres(blobs, dims);
  for (Eigen::Index i = 0; i < centres.size(); ++i) {
    centres.data()[i] = centre(rng);
  }
  RowMatrix points(blobs * per_blob, dims);
  for (int b = 0; b < blobs; ++b) {
    for (int p = 0; p < per_blob; ++p) {
      const int row = b * per_blob + p;
      for (int d = 0; d < dims; ++d)
        points(row, d) = centres(b, d) + noise(rng);
      truth->push_back(b);
    }
  }
  return points;
}

// Share of points whose cluster's majority blob is their own blob (1 =
// every cluster holds one blob only).
double Purity(const std::vector<int32_t>& assignment,
              const std::vector<int>& truth) {
  std::map<int32_t, std::map<int, int>> counts;
  for (size_t i = 0; i < truth.size(); ++i) ++counts[assignment[i]][truth[i]];
  int majority = 0;
  for (const auto& [cluster, by_blob] : counts) {
    int best = 0;
    for (const auto& [blob, n] : by_blob) best = std::max(best, n);
    majority += best;
  }
  return static_cast<double>(majority) / static_cast<double>(truth.size());
}

TEST(KMeansTest, RecoversSeparatedBlobs) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::vector<int> truth;
    const RowMatrix points = Blobs(5, 60, 8, 0.3f, seed, &truth);
    KMeansOptions options;
    options.k = 5;
    options.seed = seed;
    ASSERT_OK_AND_ASSIGN(KMeansResult r, KMeans(points, options));
    EXPECT_DOUBLE_EQ(Purity(r.assignment, truth), 1.0) << "seed " << seed;
    // Each blob is one whole cluster: five distinct cluster ids.
    EXPECT_EQ(
        std::set<int32_t>(r.assignment.begin(), r.assignment.end()).size(), 5u);
    int64_t total = 0;
    for (int64_t s : r.sizes) total += s;
    EXPECT_EQ(total, points.rows());
    EXPECT_LE(r.iterations, options.max_iterations);
  }
}

TEST(KMeansTest, AssignmentIsTheNearestCentroidAndInertiaAddsUp) {
  std::vector<int> truth;
  const RowMatrix points = Blobs(3, 40, 4, 2.0f, 9, &truth);
  ASSERT_OK_AND_ASSIGN(KMeansResult r, KMeans(points, {.k = 4}));
  double inertia = 0;
  for (Eigen::Index i = 0; i < points.rows(); ++i) {
    const int32_t c = NearestCentroid(r.centroids, points.row(i).transpose());
    EXPECT_EQ(c, r.assignment[i]) << "point " << i;
    inertia += (points.row(i) - r.centroids.row(c)).squaredNorm();
  }
  EXPECT_NEAR(r.inertia, inertia, 1e-3 * inertia);
}

TEST(KMeansTest, SameSeedSameClustersAndMoreClustersLowerInertia) {
  std::vector<int> truth;
  const RowMatrix points = Blobs(4, 50, 6, 3.0f, 4, &truth);
  ASSERT_OK_AND_ASSIGN(KMeansResult a, KMeans(points, {.k = 4, .seed = 7}));
  ASSERT_OK_AND_ASSIGN(KMeansResult b, KMeans(points, {.k = 4, .seed = 7}));
  EXPECT_EQ(a.assignment, b.assignment);
  EXPECT_TRUE(a.centroids.isApprox(b.centroids));
  ASSERT_OK_AND_ASSIGN(KMeansResult one, KMeans(points, {.k = 1}));
  EXPECT_LT(a.inertia, one.inertia);
}

TEST(KMeansTest, IterationsAreBounded) {
  std::vector<int> truth;
  const RowMatrix points = Blobs(6, 30, 5, 5.0f, 5, &truth);
  ASSERT_OK_AND_ASSIGN(KMeansResult r,
                       KMeans(points, {.k = 6, .max_iterations = 1}));
  EXPECT_EQ(r.iterations, 1);
}

TEST(KMeansTest, RejectsBadArguments) {
  RowMatrix points = RowMatrix::Random(3, 2);
  EXPECT_THAT(KMeans(points, {.k = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("k")));
  EXPECT_THAT(KMeans(points, {.k = 4}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 points cannot make 4 clusters")));
  EXPECT_THAT(KMeans(points, {.k = 2, .max_iterations = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_iterations")));
}

TEST(KMeansTest, EmptyClusterIsReseededSoEveryClusterKeepsAPoint) {
  // Duplicated points: k-means++ may pick the same point twice.
  RowMatrix points(6, 2);
  points << 0, 0, 0, 0, 0, 0, 5, 5, 5, 5, 9, 9;
  ASSERT_OK_AND_ASSIGN(KMeansResult r, KMeans(points, {.k = 3}));
  for (int64_t size : r.sizes) EXPECT_GE(size, 1);
}

TEST(SilhouetteTest, SeparatedBlobsScoreHigherThanNoise) {
  std::vector<int> truth;
  const RowMatrix blobs = Blobs(4, 50, 6, 0.5f, 11, &truth);
  ASSERT_OK_AND_ASSIGN(KMeansResult rb, KMeans(blobs, {.k = 4}));
  std::vector<int> unused;
  const RowMatrix noise = Blobs(1, 200, 6, 5.0f, 12, &unused);
  ASSERT_OK_AND_ASSIGN(KMeansResult rn, KMeans(noise, {.k = 4}));
  const double separated = Silhouette(blobs, rb.assignment, 4, 0, 1);
  const double uniform = Silhouette(noise, rn.assignment, 4, 0, 1);
  EXPECT_GT(separated, 0.8);
  EXPECT_LT(uniform, separated - 0.3);
  EXPECT_EQ(Silhouette(blobs, rb.assignment, 1, 0, 1), 0);
}

}  // namespace
}  // namespace aisle::core
