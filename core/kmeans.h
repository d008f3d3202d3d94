// k-means clustering of dense row vectors (Lloyd's algorithm with k-means++
// seeding), used to learn user segments from the factor model's user
// vectors (core/segments.h).
//
// Deterministic: the same points, k and seed give the same clusters.
// Bounded: at most max_iterations assignment/update rounds; it stops
// earlier when no point changes cluster or the inertia improves by less
// than `tolerance` (relative).
//
// Thread safety: reentrant (no shared state).
#ifndef AISLE_CORE_KMEANS_H_
#define AISLE_CORE_KMEANS_H_

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/als.h"

namespace aisle::core {

struct KMeansOptions {
  // Clusters. Default: 8.
  int k = 8;
  // Lloyd rounds at most. Default: 50.
  int max_iterations = 50;
  // Stop when inertia improves by less than this share. Default: 1e-4.
  double tolerance = 1e-4;
  // Seeds k-means++. Default: 42.
  uint64_t seed = 42;
  // Independent runs (each its own k-means++ seeding); the one with the
  // lowest inertia wins. Lloyd's algorithm stops in a local optimum that
  // depends on the seeding (e.g. two true groups merged and another
  // split); a few restarts make that rare. Default: 5.
  int restarts = 5;
};

struct KMeansResult {
  RowMatrix centroids;              // k x dims
  std::vector<int32_t> assignment;  // per point: its centroid's row
  std::vector<int64_t> sizes;       // per centroid: points assigned
  double inertia = 0;               // sum of squared distances to centroid
  int iterations = 0;               // Lloyd rounds of the winning run
};

// Clusters the rows of `points`. InvalidArgument when k < 1, when there
// are fewer distinct-enough points than k (fewer rows than k), or when
// max_iterations < 1 or restarts < 1. A cluster that empties is re-seeded with
// the point farthest from its centroid, so every centroid keeps at least one
// point.
absl::StatusOr<KMeansResult> KMeans(const RowMatrix& points,
                                    const KMeansOptions& options);

// Row of `centroids` nearest (squared Euclidean) to `v`; ties go to the
// lower row. REQUIRES: centroids.rows() >= 1, v.size() == centroids.cols().
int32_t NearestCentroid(const RowMatrix& centroids,
                        const Eigen::Ref<const Eigen::VectorXf>& v);

// Mean silhouette coefficient (-1..1, higher = better separated) over at
// most `max_points` points sampled with `seed`, each compared with every
// point (O(max_points * rows * dims)). 0 when k < 2.
double Silhouette(const RowMatrix& points,
                  const std::vector<int32_t>& assignment, int k, int max_points,
                  uint64_t seed);

}  // namespace aisle::core

#endif  // AISLE_CORE_KMEANS_H_
