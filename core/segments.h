// Learned user segments: k-means (core/kmeans.h) on the factor model's
// user vectors, trained with each model version and stored in it
// (FactorModel::segments), each segment described by what its members
// engage with (dominant categories, price band, top items) at training
// time. A user's segment is the centroid nearest to their current vector,
// so a user who arrived after training gets one as soon as they have a
// vector (fold-in).
//
// Vectors are clustered by direction (scaled to unit length): an ALS
// vector's length grows with how much the user did, its direction says
// what they like, and a segment is about taste.
//
// Thread safety: Segments is an immutable value once built; its const
// methods are safe to call concurrently.
#ifndef AISLE_CORE_SEGMENTS_H_
#define AISLE_CORE_SEGMENTS_H_

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/als.h"

namespace aisle::core {

// Price bands by the terciles of the trained items' prices: "budget"
// below the first, "premium" above the second, "mid-range" between.
struct PriceBands {
  double budget_below = 0;
  double premium_above = 0;
  // False when the catalog has no prices (e.g. MovieLens).
  bool known() const { return premium_above > 0; }
  // "" when !known() or price <= 0.
  std::string_view Name(double price) const;
};

struct SegmentInfo {
  int32_t id = 0;
  // Built from the dominant categories and the price band, e.g.
  // "books/fiction & books/poetry, budget".
  std::string label;
  int64_t users = 0;  // members at training time
  // Categories that most set the members apart: by share of the members'
  // interaction weight times its lift over all users; `second` is the
  // share (0..1).
  std::vector<std::pair<std::string, double>> top_categories;
  std::string price_band;  // of the members' weighted median price
  // Items the members engage with most, ranked like the categories.
  std::vector<std::string> top_items;
};

struct Segments {
  RowMatrix centroids;  // k x factors, in unit-vector space
  std::vector<SegmentInfo> info;
  PriceBands price_bands;

  bool empty() const { return info.empty(); }
  // The segment of a user vector: the nearest centroid of its direction;
  // -1 when there are no segments, the vector is zero, or its size is not
  // the centroids'.
  int32_t Assign(const Eigen::Ref<const Eigen::VectorXf>& user_vector) const;
};

struct SegmentOptions {
  // Segments to learn; 0 = none. Default: 0 (TrainingOptions::segments
  // holds the default used by `aisle train` and `aisle serve`).
  int k = 0;
  int max_iterations = 50;
  uint64_t seed = 42;
  int top_categories = 3;
  int top_items = 10;
  // Points sampled for the silhouette figure (each is compared with every
  // user). Default: 1000.
  int silhouette_sample = 1000;
};

// What the segments are described with, parallel to the item columns of
// the training matrix: each item's category paths and price (0 unknown).
struct ItemFacts {
  std::vector<std::vector<std::string>> categories;
  std::vector<double> prices;
};

struct LearnedSegments {
  Segments segments;
  double inertia = 0;     // within-cluster sum of squares (unit vectors)
  double silhouette = 0;  // mean, sampled; -1..1
  int iterations = 0;
};

// Learns options.k segments from `user_factors` (one row per row of
// `user_items`) and describes them from `user_items` (r_ui weights) with
// `items` (columns of user_items). Users with a zero vector are left out
// of the clustering; with fewer such users than k, k is lowered to their
// number (none: no segments). InvalidArgument when shapes disagree.
absl::StatusOr<LearnedSegments> LearnSegments(
    const SparseRows& user_items, const RowMatrix& user_factors,
    const std::vector<std::string>& item_ids, const ItemFacts& items,
    const SegmentOptions& options);

// Shared with the engine's user profile: the weighted median of
// (price, weight) pairs, 0 when there are none.
double WeightedMedianPrice(std::vector<std::pair<double, double>> prices);

}  // namespace aisle::core

#endif  // AISLE_CORE_SEGMENTS_H_
