// Exploration: trades accuracy for long-tail exposure, in two steps, both
// scaled by RecommendRequest::exploration (e, 0..1) over the over-fetched
// candidates (recommend.cc fetches 4 * e * count more):
//   1. Popularity penalty: each candidate's key is its relevance by rank
//      (1 for the first, falling linearly) minus e times its log
//      popularity relative to the most popular candidate's. Ranks, not
//      scores, because scores of different sources have different scales.
//   2. Exploration slots: round(e * count / 2) of the first `count` slots,
//      spread evenly, go to the least exposed of the candidates that did
//      not make it into the list: fewest IMPRESSION events, then least
//      popular. They are still candidates of the scenario's sources, i.e.
//      relevant ("good but under-exposed"), not random items.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

#include "core/recommend_runner.h"

namespace aisle::core {

void Engine::State::Runner::Explore(size_t count) {
  const double e = std::clamp(req_.exploration, 0.0, 1.0);
  const size_t n = out_.size();
  if (n <= 1 || e <= 0) return;

  std::vector<double> log_pop(n);
  double max_log_pop = 0;
  for (size_t i = 0; i < n; ++i) {
    log_pop[i] = std::log1p(s_.popularity.ScoreAt(out_[i].item, s_.now_ms));
    max_log_pop = std::max(max_log_pop, log_pop[i]);
  }
  std::vector<double> key(n);
  for (size_t i = 0; i < n; ++i) {
    const double relevance = 1.0 - static_cast<double>(i) / n;
    key[i] = relevance - e * (max_log_pop > 0 ? log_pop[i] / max_log_pop : 0);
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return key[a] > key[b]; });

  const size_t shown = std::min(count, n);
  const auto slots = std::min(
      static_cast<size_t>(std::lround(e * static_cast<double>(count) / 2)),
      n - std::min(n, shown));
  const size_t head = shown - std::min(shown, slots);
  // The least exposed of those past the head.
  std::vector<size_t> pool(order.begin() + static_cast<ptrdiff_t>(head),
                           order.end());
  // Read under the lock here: a lambda does not carry the annotation.
  std::vector<double> shown_count(n);
  for (size_t a : pool) {
    shown_count[a] = s_.impressions.ScoreAt(out_[a].item, s_.now_ms);
  }
  std::stable_sort(pool.begin(), pool.end(), [&](size_t a, size_t b) {
    const double ia = shown_count[a];
    const double ib = shown_count[b];
    return ia != ib ? ia < ib : log_pop[a] < log_pop[b];
  });
  std::vector<bool> explored(n, false);
  for (size_t k = 0; k < slots; ++k) explored[pool[k]] = true;

  std::vector<Candidate> reordered;
  reordered.reserve(n);
  const size_t stride = slots > 0 ? std::max<size_t>(1, shown / slots) : 0;
  size_t next_head = 0, next_explored = 0;
  for (size_t p = 0; p < shown; ++p) {
    const bool explore_slot = slots > 0 && next_explored < slots &&
                              ((p + 1) % stride == 0 || next_head >= head);
    if (explore_slot) {
      reordered.push_back(out_[pool[next_explored++]]);
    } else {
      reordered.push_back(out_[order[next_head++]]);
    }
  }
  // The rest, in penalised order, for the diversity re-rank that may follow.
  for (size_t i = next_head; i < n; ++i) {
    if (!explored[order[i]]) reordered.push_back(out_[order[i]]);
  }
  out_ = std::move(reordered);
}

}  // namespace aisle::core
