// The Runner's diversity re-rank: maximal marginal relevance (MMR) over
// category overlap, run when RecommendRequest::diversity > 0 on the
// (1 + 2 * diversity) * count candidates Run over-fetched.
//
// Each pick maximises lambda * relevance - (1 - lambda) * max similarity
// to the picks so far, with lambda = 1 - diversity. Relevance is
// rank-based (1 - rank / n) because candidates from different sources
// have incomparable scores; similarity is the share of category prefixes
// two items have in common.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/recommend_runner.h"

namespace aisle::core {

void Engine::State::Runner::Diversify(size_t count) {
  if (out_.size() <= count) return;
  const double lambda = 1.0 - std::clamp(req_.diversity, 0.0, 1.0);
  const size_t n = out_.size();
  const auto similarity = [this](int32_t a,
                                 int32_t b) ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    const auto& pa = s_.items[a].prefixes;
    const auto& pb = s_.items[b].prefixes;
    if (pa.empty() || pb.empty()) return 0.0;
    int common = 0;
    for (int32_t p : pa) {
      common += std::find(pb.begin(), pb.end(), p) != pb.end() ? 1 : 0;
    }
    return static_cast<double>(common) / std::max(pa.size(), pb.size());
  };
  std::vector<bool> used(n, false);
  std::vector<double> max_sim(n, 0.0);
  std::vector<Candidate> picked;
  picked.reserve(count);
  for (size_t round = 0; round < count; ++round) {
    size_t best = n;
    double best_value = -std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < n; ++k) {
      if (used[k]) continue;
      const double relevance = 1.0 - static_cast<double>(k) / n;
      const double value = lambda * relevance - (1 - lambda) * max_sim[k];
      if (value > best_value) {
        best_value = value;
        best = k;
      }
    }
    used[best] = true;
    picked.push_back(out_[best]);
    for (size_t k = 0; k < n; ++k) {
      if (!used[k]) {
        max_sim[k] =
            std::max(max_sim[k], similarity(out_[k].item, out_[best].item));
      }
    }
  }
  out_ = std::move(picked);
}

}  // namespace aisle::core
