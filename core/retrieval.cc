// The Runner's retrieval: the top-k eligible model rows for a query
// vector, by an ANN search with over-fetch or by an exact scan.
//
// Exact instead of ANN when there is no ANN index (none built, or a
// deferred one not built yet) or when the filter keeps less than
// EngineOptions::exact_below_selectivity of the catalog: an include
// filter names its rows through the category index; otherwise the
// selectivity is estimated from a fixed sample. The ANN over-fetches
// k = (need + excluded + the user's items + 16) / selectivity; a cosine
// ranking searches the index's cosine graph, or without one re-orders
// inner-product hits from 4x as many; k doubles until
// enough hits survive the filters or k passes half the catalog, where it
// gives up for the exact scan.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "core/recommend_runner.h"

namespace aisle::core {

// Fraction of model items that pass the request's filters, from a fixed
// stride sample (deterministic, ~256 predicate calls). The request's
// exclusions and the user's own items are not sampled: Retrieve adds
// their counts to its over-fetch. Without a filter the answer depends on
// the binding and the catalog only, and is kept (State::listed_share).
double Engine::State::Runner::Selectivity() const {
  const bool unfiltered = filter_.Trivial();
  if (unfiltered) {
    absl::MutexLock lock(&s_.listed_share_mu);
    if (b_->serial != 0 && s_.listed_share.serial == b_->serial &&
        s_.listed_share.epoch == s_.listed_epoch) {
      return s_.listed_share.share;
    }
  }
  const int32_t n = b_->model->num_items();
  const int32_t step = std::max(1, n / 256);
  int sampled = 0, passed = 0;
  for (int32_t row = 0; row < n; row += step) {
    ++sampled;
    passed += PassesFilter(b_->model_to_engine[row]) ? 1 : 0;
  }
  const double share = sampled == 0 ? 0 : static_cast<double>(passed) / sampled;
  if (unfiltered && b_->serial != 0) {
    absl::MutexLock lock(&s_.listed_share_mu);
    s_.listed_share = {b_->serial, s_.listed_epoch, share};
  }
  return share;
}

std::optional<std::vector<int32_t>> Engine::State::Runner::IncludedRows()
    const {
  if (!filter_.has_include) return std::nullopt;
  std::vector<int32_t> rows;
  for (int32_t p : filter_.include) {
    for (int32_t i : s_.prefix_items[p]) {
      const int32_t row = b_->Row(i);
      if (row >= 0 && !taken_.contains(i) && Eligible(i)) rows.push_back(row);
    }
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

std::vector<SearchHit> Engine::State::Runner::Retrieve(const float* q,
                                                       size_t need,
                                                       bool cosine) {
  const FactorModel& m = *b_->model;
  const RowMatrix& y = m.item_factors();
  const int32_t n = m.num_items();
  const auto keep = [this](int32_t row) ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    const int32_t i = b_->model_to_engine[row];
    return !taken_.contains(i) && Eligible(i);
  };
  const auto start = SteadyClock::now();
  // An include filter names its candidates through the category index;
  // otherwise the selectivity is estimated from a sample (only needed to
  // choose and size an ANN search).
  const std::optional<std::vector<int32_t>> rows = IncludedRows();
  const AnnIndex* ann = b_->Ann();
  const double selectivity =
      rows ? static_cast<double>(rows->size()) / std::max(1, n)
           : (ann != nullptr ? Selectivity() : 0.0);
  std::vector<SearchHit> hits;
  bool exact = true;
  bool unit_scores = false;  // hits scored against unit-length rows
  if (ann != nullptr && selectivity >= s_.options.exact_below_selectivity) {
    // Over-fetch: seen, blocked and filtered items are dropped afterwards,
    // and without a cosine graph a cosine ranking re-orders inner-product
    // hits.
    const bool cosine_graph = cosine && ann->has_cosine();
    int64_t k = static_cast<int64_t>(need + excluded_.size()) + 16;
    if (user_ != nullptr) k += static_cast<int64_t>(user_->items.size());
    k = static_cast<int64_t>(std::min<double>(
        n, std::ceil(static_cast<double>(k) / std::max(selectivity, 1e-3))));
    if (cosine && !cosine_graph) k *= 4;
    for (; k <= n / 2; k *= 2) {
      const int kk = static_cast<int>(k);
      const std::vector<SearchHit> raw =
          cosine_graph ? ann->SearchCosine(q, kk, kk) : ann->Search(q, kk, kk);
      hits.clear();
      for (const SearchHit& h : raw) {
        if (keep(h.index)) hits.push_back(h);
      }
      if (hits.size() >= need || static_cast<int64_t>(raw.size()) < k) {
        exact = false;
        unit_scores = cosine_graph;
        break;
      }
    }
  }
  if (exact) {
    hits.clear();
    if (rows) {
      const Eigen::Map<const Eigen::VectorXf> qv(q, m.factors());
      for (int32_t row : *rows) hits.push_back({row, y.row(row).dot(qv)});
    } else if (!cosine) {
      hits = ExactTopK(y, q, static_cast<int>(need), keep);
    } else {
      const Eigen::VectorXf scores =
          y * Eigen::Map<const Eigen::VectorXf>(q, m.factors());
      for (int32_t row = 0; row < n; ++row) {
        if (keep(row)) hits.push_back({row, scores[row]});
      }
    }
  }
  if (cosine && !unit_scores) {
    for (SearchHit& h : hits) h.score *= b_->inv_norms[h.index];
  }
  const size_t top = std::min(need, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + top, hits.end(),
                    [](const SearchHit& a, const SearchHit& b) {
                      return a.score != b.score ? a.score > b.score
                                                : a.index < b.index;
                    });
  hits.resize(top);
  if (trace_ != nullptr) {
    (exact ? trace_->used_exact : trace_->used_ann) = true;
    trace_->retrieval_seconds += SecondsSince(start);
  }
  return hits;
}

}  // namespace aisle::core
