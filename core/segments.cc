#include "core/segments.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/kmeans.h"

namespace aisle::core {
namespace {

// Unit-length copies of the rows; *kept gets the rows that were non-zero.
RowMatrix Directions(const RowMatrix& vectors, std::vector<int32_t>* kept) {
  for (Eigen::Index i = 0; i < vectors.rows(); ++i) {
    if (vectors.row(i).squaredNorm() > 0) kept->push_back(static_cast<int>(i));
  }
  RowMatrix out(static_cast<Eigen::Index>(kept->size()), vectors.cols());
  for (size_t r = 0; r < kept->size(); ++r) {
    out.row(static_cast<Eigen::Index>(r)) =
        vectors.row((*kept)[r]).normalized();
  }
  return out;
}

// Keys ranked by how much they set a group apart: share in the group times
// its lift over everyone (share / overall share), so that what everybody
// buys does not name every segment. Returns (key, share in the group).
template <typename Key>
std::vector<std::pair<Key, double>> Distinctive(
    const absl::flat_hash_map<Key, double>& group, double group_total,
    const absl::flat_hash_map<Key, double>& all, double all_total,
    size_t limit) {
  std::vector<std::pair<double, std::pair<Key, double>>> scored;
  if (group_total <= 0 || all_total <= 0) return {};
  for (const auto& [key, w] : group) {
    const double share = w / group_total;
    const double overall = all.at(key) / all_total;
    scored.push_back({share * share / overall, {key, share}});
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first
                              : a.second.first < b.second.first;
  });
  std::vector<std::pair<Key, double>> out;
  for (size_t i = 0; i < scored.size() && i < limit; ++i) {
    out.push_back(scored[i].second);
  }
  return out;
}

PriceBands Terciles(const std::vector<double>& prices) {
  std::vector<double> known;
  for (double p : prices) {
    if (p > 0) known.push_back(p);
  }
  PriceBands bands;
  if (known.size() < 3) return bands;
  std::sort(known.begin(), known.end());
  bands.budget_below = known[known.size() / 3];
  bands.premium_above = known[2 * known.size() / 3];
  return bands;
}

}  // namespace

std::string_view PriceBands::Name(double price) const {
  if (!known() || price <= 0) return "";
  if (price < budget_below) return "budget";
  if (price > premium_above) return "premium";
  return "mid-range";
}

int32_t Segments::Assign(
    const Eigen::Ref<const Eigen::VectorXf>& user_vector) const {
  if (empty() || user_vector.size() != centroids.cols()) return -1;
  const float norm = user_vector.norm();
  if (!(norm > 0)) return -1;
  return NearestCentroid(centroids, user_vector / norm);
}

double WeightedMedianPrice(std::vector<std::pair<double, double>> prices) {
  double total = 0;
  for (const auto& [p, w] : prices) total += w;
  if (prices.empty() || total <= 0) return 0;
  std::sort(prices.begin(), prices.end());
  double seen = 0;
  for (const auto& [p, w] : prices) {
    seen += w;
    if (seen >= total / 2) return p;
  }
  return prices.back().first;
}

absl::StatusOr<LearnedSegments> LearnSegments(
    const SparseRows& user_items, const RowMatrix& user_factors,
    const std::vector<std::string>& item_ids, const ItemFacts& items,
    const SegmentOptions& options) {
  if (user_factors.rows() != user_items.rows ||
      static_cast<int32_t>(item_ids.size()) != user_items.cols ||
      items.categories.size() != item_ids.size() ||
      items.prices.size() != item_ids.size()) {
    return absl::InvalidArgumentError(
        "segments: user vectors, interactions and item facts disagree in "
        "size");
  }
  std::vector<int32_t> rows;
  const RowMatrix directions = Directions(user_factors, &rows);
  LearnedSegments out;
  // A store with fewer users than k (a test, a new shop) gets one segment
  // per user rather than none.
  const int k = static_cast<int>(
      std::min<int64_t>(options.k, static_cast<int64_t>(directions.rows())));
  if (k < 1) return out;
  KMeansOptions km;
  km.k = k;
  km.max_iterations = options.max_iterations;
  km.seed = options.seed;
  absl::StatusOr<KMeansResult> clusters = KMeans(directions, km);
  if (!clusters.ok()) return clusters.status();
  out.inertia = clusters->inertia;
  out.iterations = clusters->iterations;
  out.silhouette = Silhouette(directions, clusters->assignment, k,
                              options.silhouette_sample, options.seed);
  Segments& s = out.segments;
  s.centroids = clusters->centroids;
  s.price_bands = Terciles(items.prices);

  // Interaction weight per segment and overall, by category and by item.
  std::vector<absl::flat_hash_map<std::string, double>> cats(k);
  std::vector<absl::flat_hash_map<int32_t, double>> its(k);
  std::vector<std::vector<std::pair<double, double>>> prices(k);
  std::vector<double> totals(k, 0);
  absl::flat_hash_map<std::string, double> all_cats;
  absl::flat_hash_map<int32_t, double> all_items;
  double all_total = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int32_t u = rows[r];
    const int32_t c = clusters->assignment[r];
    for (int64_t e = user_items.row_ptr[u]; e < user_items.row_ptr[u + 1];
         ++e) {
      const int32_t item = user_items.col[e];
      const double w = user_items.weight[e];
      its[c][item] += w;
      all_items[item] += w;
      totals[c] += w;
      all_total += w;
      for (const std::string& path : items.categories[item]) {
        cats[c][path] += w;
        all_cats[path] += w;
      }
      if (items.prices[item] > 0) prices[c].push_back({items.prices[item], w});
    }
  }
  for (int c = 0; c < k; ++c) {
    SegmentInfo info;
    info.id = c;
    info.users = clusters->sizes[c];
    info.top_categories = Distinctive(cats[c], totals[c], all_cats, all_total,
                                      options.top_categories);
    info.price_band = std::string(
        s.price_bands.Name(WeightedMedianPrice(std::move(prices[c]))));
    for (const auto& [item, share] : Distinctive(
             its[c], totals[c], all_items, all_total, options.top_items)) {
      info.top_items.push_back(item_ids[item]);
    }
    std::vector<std::string> names;
    for (size_t i = 0; i < info.top_categories.size() && i < 2; ++i) {
      names.push_back(info.top_categories[i].first);
    }
    info.label = names.empty() ? absl::StrCat("segment ", c)
                               : absl::StrJoin(names, " & ");
    if (!info.price_band.empty())
      absl::StrAppend(&info.label, ", ", info.price_band);
    s.info.push_back(std::move(info));
  }
  return out;
}

}  // namespace aisle::core
