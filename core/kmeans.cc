#include "core/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aisle::core {
namespace {

// Lowers each point's *dist2 (squared distance to its nearest chosen
// centroid) with centroid `row` (k-means++ seeding).
void UpdateNearest(const RowMatrix& points, const RowMatrix& centroids,
                   int32_t row, std::vector<int32_t>* nearest,
                   std::vector<double>* dist2) {
  for (Eigen::Index i = 0; i < points.rows(); ++i) {
    const double d = (points.row(i) - centroids.row(row)).squaredNorm();
    if (d < (*dist2)[i]) {
      (*dist2)[i] = d;
      (*nearest)[i] = row;
    }
  }
}

// k-means++: the first centroid uniformly, each next one with probability
// proportional to the squared distance to the nearest chosen one.
RowMatrix SeedPlusPlus(const RowMatrix& points, int k, std::mt19937_64* rng) {
  const Eigen::Index n = points.rows();
  RowMatrix centroids(k, points.cols());
  std::vector<int32_t> nearest(n, 0);
  std::vector<double> dist2(n, std::numeric_limits<double>::infinity());
  std::uniform_int_distribution<Eigen::Index> first(0, n - 1);
  centroids.row(0) = points.row(first(*rng));
  UpdateNearest(points, centroids, 0, &nearest, &dist2);
  for (int c = 1; c < k; ++c) {
    double total = 0;
    for (double d : dist2) total += d;
    Eigen::Index pick = 0;
    if (total > 0) {
      std::uniform_real_distribution<double> u(0, total);
      double target = u(*rng);
      for (pick = 0; pick < n - 1; ++pick) {
        target -= dist2[pick];
        if (target <= 0) break;
      }
    } else {
      pick = first(*rng);  // every point sits on a centroid already
    }
    centroids.row(c) = points.row(pick);
    UpdateNearest(points, centroids, c, &nearest, &dist2);
  }
  return centroids;
}

}  // namespace

int32_t NearestCentroid(const RowMatrix& centroids,
                        const Eigen::Ref<const Eigen::VectorXf>& v) {
  int32_t best = 0;
  float best_d = std::numeric_limits<float>::infinity();
  for (Eigen::Index c = 0; c < centroids.rows(); ++c) {
    const float d = (centroids.row(c).transpose() - v).squaredNorm();
    if (d < best_d) {
      best_d = d;
      best = static_cast<int32_t>(c);
    }
  }
  return best;
}

namespace {

// One run of Lloyd's algorithm from a k-means++ seeding drawn with `rng`.
KMeansResult RunOnce(const RowMatrix& points, const KMeansOptions& options,
                     std::mt19937_64* rng) {
  const int k = options.k;
  const Eigen::Index n = points.rows();
  KMeansResult r;
  r.centroids = SeedPlusPlus(points, k, rng);
  r.assignment.assign(n, -1);
  std::vector<double> dist2(n, 0);
  double previous = std::numeric_limits<double>::infinity();
  for (r.iterations = 1; r.iterations <= options.max_iterations;
       ++r.iterations) {
    // Assignment step.
    bool changed = false;
    r.inertia = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const int32_t c = NearestCentroid(r.centroids, points.row(i).transpose());
      dist2[i] = (points.row(i) - r.centroids.row(c)).squaredNorm();
      r.inertia += dist2[i];
      if (c != r.assignment[i]) changed = true;
      r.assignment[i] = c;
    }
    // Update step: each centroid moves to its points' mean.
    RowMatrix sums = RowMatrix::Zero(k, points.cols());
    r.sizes.assign(k, 0);
    for (Eigen::Index i = 0; i < n; ++i) {
      sums.row(r.assignment[i]) += points.row(i);
      ++r.sizes[r.assignment[i]];
    }
    for (int c = 0; c < k; ++c) {
      if (r.sizes[c] > 0) {
        r.centroids.row(c) = sums.row(c) / static_cast<float>(r.sizes[c]);
        continue;
      }
      // An empty cluster takes the point worst served by its centroid.
      const auto far = std::distance(
          dist2.begin(), std::max_element(dist2.begin(), dist2.end()));
      r.centroids.row(c) = points.row(far);
      dist2[far] = 0;
      changed = true;
    }
    const bool converged =
        !changed || previous - r.inertia <= options.tolerance * previous;
    previous = r.inertia;
    if (converged) break;
  }
  r.iterations = std::min(r.iterations, options.max_iterations);
  // Final assignment against the final centroids, so that sizes and
  // assignment agree with NearestCentroid.
  r.inertia = 0;
  r.sizes.assign(k, 0);
  for (Eigen::Index i = 0; i < n; ++i) {
    const int32_t c = NearestCentroid(r.centroids, points.row(i).transpose());
    r.assignment[i] = c;
    ++r.sizes[c];
    r.inertia += (points.row(i) - r.centroids.row(c)).squaredNorm();
  }
  return r;
}

}  // namespace

absl::StatusOr<KMeansResult> KMeans(const RowMatrix& points,
                                    const KMeansOptions& options) {
  if (options.k < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("k-means: k must be at least 1, got ", options.k));
  }
  if (options.max_iterations < 1 || options.restarts < 1) {
    return absl::InvalidArgumentError(
        "k-means: max_iterations and restarts must be at least 1");
  }
  if (points.rows() < options.k) {
    return absl::InvalidArgumentError(
        absl::StrCat("k-means: ", points.rows(), " points cannot make ",
                     options.k, " clusters; lower k"));
  }
  std::mt19937_64 rng(options.seed);
  KMeansResult best = RunOnce(points, options, &rng);
  for (int run = 1; run < options.restarts; ++run) {
    KMeansResult r = RunOnce(points, options, &rng);
    if (r.inertia < best.inertia) best = std::move(r);
  }
  return best;
}

double Silhouette(const RowMatrix& points,
                  const std::vector<int32_t>& assignment, int k, int max_points,
                  uint64_t seed) {
  if (k < 2 || points.rows() < 2) return 0;
  const Eigen::Index n = points.rows();
  std::vector<Eigen::Index> sample(n);
  for (Eigen::Index i = 0; i < n; ++i) sample[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(sample.begin(), sample.end(), rng);
  if (max_points > 0 && sample.size() > static_cast<size_t>(max_points)) {
    sample.resize(max_points);
  }
  std::vector<int64_t> sizes(k, 0);
  for (int32_t c : assignment) ++sizes[c];
  double total = 0;
  int64_t counted = 0;
  std::vector<double> sum(k);
  for (Eigen::Index i : sample) {
    std::fill(sum.begin(), sum.end(), 0.0);
    for (Eigen::Index j = 0; j < n; ++j) {
      if (j == i) continue;
      sum[assignment[j]] += std::sqrt(
          static_cast<double>((points.row(i) - points.row(j)).squaredNorm()));
    }
    const int32_t own = assignment[i];
    if (sizes[own] < 2) {  // a singleton's silhouette is 0 by definition
      ++counted;
      continue;
    }
    const double a = sum[own] / static_cast<double>(sizes[own] - 1);
    double b = std::numeric_limits<double>::infinity();
    for (int c = 0; c < k; ++c) {
      if (c != own && sizes[c] > 0) b = std::min(b, sum[c] / sizes[c]);
    }
    if (!std::isfinite(b)) continue;
    const double m = std::max(a, b);
    total += m > 0 ? (b - a) / m : 0;
    ++counted;
  }
  return counted > 0 ? total / static_cast<double>(counted) : 0;
}

}  // namespace aisle::core
