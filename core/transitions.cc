#include "core/transitions.h"

#include <algorithm>
#include <utility>

namespace aisle::core {

void PruneNeighbors(absl::flat_hash_map<int32_t, float>& m, size_t cap) {
  if (m.size() <= 2 * cap) return;
  std::vector<std::pair<float, int32_t>> v;
  v.reserve(m.size());
  for (const auto& [k, w] : m) v.emplace_back(w, k);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(cap),
                   v.end(), [](const auto& a, const auto& b) {
                     return a.first != b.first ? a.first > b.first
                                               : a.second < b.second;
                   });
  v.resize(cap);
  m.clear();
  for (const auto& [w, k] : v) m.emplace(k, w);
}

Transitions::Transitions(int max_neighbors)
    : cap_(static_cast<size_t>(std::max(1, max_neighbors))) {}

void Transitions::Add(int32_t from, int32_t to, float w) {
  const size_t need = static_cast<size_t>(std::max(from, to)) + 1;
  if (next_.size() < need) {
    next_.resize(need);
    out_.resize(need, 0);
  }
  auto& m = next_[from];
  const size_t before = m.size();
  m[to] += w;
  out_[from] += w;
  PruneNeighbors(m, cap_);
  pairs_ = pairs_ + m.size() - before;
}

void Transitions::Restore(std::vector<absl::flat_hash_map<int32_t, float>> next,
                          std::vector<float> out) {
  next_ = std::move(next);
  out_ = std::move(out);
  out_.resize(next_.size(), 0);
  pairs_ = 0;
  for (const auto& m : next_) pairs_ += m.size();
}

}  // namespace aisle::core
