// The Runner's "people like you" source: the users whose factor vectors are
// closest to the user's, and what they engaged with recently
// (PeopleLikeYouOptions, core/engine.h).
//
// Cost: one dot product and one norm per scanned user (64 factors: ~0.1 us
// each), so at most max_scan_users (20000: about 2 ms) per request; past
// that many users an even sample is scanned. An index over user vectors
// would make it cheaper at scale; see docs/signals.md for the measurement.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/recommend_runner.h"

namespace aisle::core {

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::PeopleLikeYouCandidates() {
  const PeopleLikeYouOptions& o = s_.options.people_like_you;
  if (Full() || o.neighbors <= 0 || o.candidates <= 0) return {};
  const float* uv = UserVector();
  if (uv == nullptr) return {};
  const int f = b_->model->factors();
  const Eigen::Map<const Eigen::VectorXf> u(uv, f);
  const float u_norm = u.norm();
  if (!(u_norm > 0)) return {};

  // The nearest users: a min-heap of (similarity, user) of size neighbors.
  using Neighbor = std::pair<float, int32_t>;
  std::vector<Neighbor> heap;
  const size_t want = static_cast<size_t>(o.neighbors);
  const size_t n = s_.users.size();
  const size_t scan = static_cast<size_t>(std::max(1, o.max_scan_users));
  const size_t stride = n > scan ? (n + scan - 1) / scan : 1;
  for (size_t k = 0; k < n; k += stride) {
    if (static_cast<int32_t>(k) == user_row_) continue;
    const UserRec& other = s_.users[k];
    // Only vectors solved against this model (the background re-fold
    // reaches the others soon; solving them here would cost too much).
    if (other.id.empty() || other.vec_serial != b_->serial ||
        other.vec.size() != static_cast<size_t>(f)) {
      continue;
    }
    const Eigen::Map<const Eigen::VectorXf> v(other.vec.data(), f);
    const float v_norm = v.norm();
    if (!(v_norm > 0)) continue;
    const float sim = u.dot(v) / (u_norm * v_norm);
    if (!(sim > 0)) continue;
    if (heap.size() < want) {
      heap.emplace_back(sim, static_cast<int32_t>(k));
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    } else if (sim > heap.front().first) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      heap.back() = {sim, static_cast<int32_t>(k)};
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  }

  // What they engaged with recently, by similarity x log1p(weight).
  absl::flat_hash_map<int32_t, Candidate> acc;
  const size_t per_neighbor =
      static_cast<size_t>(std::max(1, o.items_per_neighbor));
  for (const auto& [sim, row] : heap) {
    const UserRec& other = s_.users[row];
    absl::flat_hash_set<int32_t> seen;
    for (auto it = other.history.rbegin();
         it != other.history.rend() && seen.size() < per_neighbor; ++it) {
      if (!seen.insert(it->item).second) continue;
      const UserItem* ui = other.Find(it->item);
      const float w = ui != nullptr ? s_.Weight(other, *ui) : 0;
      if (w <= 0) continue;
      Candidate& c = acc[it->item];
      if (c.item < 0) {
        c.item = it->item;
        c.source = Source::kPeopleLikeYou;
        c.reason = ReasonCode::kPeopleLikeYou;
      }
      c.score += sim * std::log1p(static_cast<double>(w));
      // A purchase is what the reason names when any neighbour made one.
      if (c.neighbors_best != static_cast<uint8_t>(EventType::kPurchase)) {
        c.neighbors_best = ui->best;
      }
    }
  }
  std::vector<Candidate> out;
  out.reserve(acc.size());
  for (auto& [item, c] : acc) {
    if (!taken_.contains(item) && Eligible(item)) out.push_back(c);
  }
  // Hash order is arbitrary: fix it so ties resolve the same every time.
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  });
  if (out.size() > static_cast<size_t>(o.candidates)) {
    out.resize(static_cast<size_t>(o.candidates));
  }
  return out;
}

}  // namespace aisle::core
