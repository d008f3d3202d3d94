// Directed item-to-item transitions ("what follows what") for the session
// signal, and the neighbour-list pruning it shares with co-occurrence.
//
// Transitions keeps, per item, the summed weight of every item that
// followed it in some user's history, and the item's total outgoing
// weight, so that P(j follows i) = Weight(i, j) / Out(i). The engine
// feeds it on every positive event (Engine::State::CountTransitions,
// core/engine_session.cc) before ApplyEvents returns.
//
// Memory: at most 2 * max_neighbors successors per item (the weakest are
// dropped when a list grows past that).
// Thread safety: not thread-safe; the engine guards it with its mutex
// (readers share it, Add needs it exclusively).
//
// STATE FOR SNAPSHOTS: `next_` and `out_` are derived from the events
// (replaying the events rebuilds them), like co-occurrence; the engine
// snapshot (core/engine_snapshot.cc) saves them through Lists()/Outs() and
// puts them back with Restore().
#ifndef AISLE_CORE_TRANSITIONS_H_
#define AISLE_CORE_TRANSITIONS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace aisle::core {

// Keeps the `cap` strongest entries of `m` once it holds more than 2 * cap
// (ties: the smaller key stays). Amortised: a list is cut back to `cap`.
void PruneNeighbors(absl::flat_hash_map<int32_t, float>& m, size_t cap);

class Transitions {
 public:
  // `max_neighbors` < 1 counts as 1.
  explicit Transitions(int max_neighbors);

  // Records that `to` followed `from` with weight `w` (> 0).
  void Add(int32_t from, int32_t to, float w);
  // Successors of `from` and their weights; null when none.
  const absl::flat_hash_map<int32_t, float>* Next(int32_t from) const {
    return static_cast<size_t>(from) < next_.size() && !next_[from].empty()
               ? &next_[from]
               : nullptr;
  }
  // Asks the cache for the memory Next(from) and a lookup of `to` in it
  // read, in two dependent steps: call PrefetchList for a run of items,
  // then PrefetchLookup for the same run, then look them up (a loop over
  // many candidates otherwise waits for two misses per item in turn).
  void PrefetchList(int32_t from) const {
    if (static_cast<size_t>(from) < next_.size()) {
      __builtin_prefetch(&next_[from]);
    }
  }
  void PrefetchLookup(int32_t from, int32_t to) const {
    if (const auto* next = Next(from)) next->prefetch(to);
  }
  // Total weight of every transition out of `from` ever added (pruning
  // does not lower it, so probabilities stay comparable across items).
  float Out(int32_t from) const {
    return static_cast<size_t>(from) < out_.size() ? out_[from] : 0;
  }
  // Distinct (from, to) pairs held.
  size_t pairs() const { return pairs_; }

  // The whole state, for snapshots: successor lists and outgoing totals,
  // indexed by item (both the same length).
  const std::vector<absl::flat_hash_map<int32_t, float>>& Lists() const {
    return next_;
  }
  const std::vector<float>& Outs() const { return out_; }
  // Replaces the state with one Lists()/Outs() returned (same length;
  // the caller checked the item indexes). Lists are not pruned again.
  void Restore(std::vector<absl::flat_hash_map<int32_t, float>> next,
               std::vector<float> out);

 private:
  size_t cap_;
  std::vector<absl::flat_hash_map<int32_t, float>> next_;
  std::vector<float> out_;
  size_t pairs_ = 0;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_TRANSITIONS_H_
