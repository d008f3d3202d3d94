// Upkeep of a built hnswlib graph (hnswlib::HierarchicalNSW<float>),
// written against its public members so that this header need not include
// hnswlib, whose headers one translation unit only may include
// (core/vector_index.cc, the only user).
//
// Relayout renumbers a graph's nodes so that neighbours sit near each
// other in memory; CheckGraph checks what a search relies on.
//
// Thread safety: Relayout changes the graph and needs it to itself (it
// runs before the graph is published); CheckGraph only reads.
#ifndef AISLE_CORE_HNSW_LAYOUT_H_
#define AISLE_CORE_HNSW_LAYOUT_H_

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aisle::core {

// Renumbers a built graph's nodes in breadth-first order from its entry
// point (then from each node not reached yet), moving each node's block
// (links, vector, label) to its new place and rewriting every link. The
// graph stays the same graph, so a search visits the same nodes in the
// same order and answers the same; but hnswlib numbers nodes in
// insertion order, which scatters a node's neighbours over the whole
// block array, and a beam search that reads a few hundred of them then
// misses the cache, and the TLB, on nearly every one. In this order a
// node's neighbours sit next to each other and near it. Blocks move in
// place, cycle by cycle of the permutation: one spare block of memory.
template <typename Graph>
void Relayout(Graph* g);

// What a search relies on, checked over the whole graph: the entry point
// is a node of the top level, every link names a node, and a link at
// level l names a node that has level l. OK, or DataLoss naming `what`.
template <typename Graph>
absl::Status CheckGraph(const Graph& g, const std::string& what);

// Implementation.

template <typename Graph>
void Relayout(Graph* g) {
  using Id = std::remove_cv_t<decltype(g->enterpoint_node_)>;
  const size_t n = g->cur_element_count;
  if (n < 2) return;
  constexpr Id kUnset = ~Id{0};
  std::vector<Id> new_of(n, kUnset);
  std::vector<Id> old_of;
  old_of.reserve(n);
  const auto visit = [&](Id root) {
    size_t head = old_of.size();
    new_of[root] = static_cast<Id>(old_of.size());
    old_of.push_back(root);
    while (head < old_of.size()) {
      auto* list = g->get_linklist0(old_of[head++]);
      const size_t count = g->getListCount(list);
      const auto* links = reinterpret_cast<const Id*>(list);
      for (size_t j = 1; j <= count; ++j) {
        if (new_of[links[j]] != kUnset) continue;
        new_of[links[j]] = static_cast<Id>(old_of.size());
        old_of.push_back(links[j]);
      }
    }
  };
  visit(g->enterpoint_node_);
  for (Id i = 0; i < n; ++i) {
    if (new_of[i] == kUnset) visit(i);
  }
  const size_t size = g->size_data_per_element_;
  const auto block = [&](Id id) {
    return g->data_level0_memory_ + static_cast<size_t>(id) * size;
  };
  std::vector<char> held(size), displaced(size);
  std::vector<bool> moved(n, false);
  for (Id start = 0; start < n; ++start) {
    if (moved[start] || new_of[start] == start) continue;
    // The block of `at` goes to new_of[at], whose block goes on next.
    std::memcpy(held.data(), block(start), size);
    Id at = start;
    do {
      const Id to = new_of[at];
      std::memcpy(displaced.data(), block(to), size);
      std::memcpy(block(to), held.data(), size);
      held.swap(displaced);
      moved[at] = true;
      at = to;
    } while (at != start);
  }
  const auto renumber = [&](auto* list) {
    const size_t count = g->getListCount(list);
    auto* links = reinterpret_cast<Id*>(list);
    for (size_t j = 1; j <= count; ++j) links[j] = new_of[links[j]];
  };
  std::vector<char*> upper(n);
  std::vector<int> levels(n);
  for (Id p = 0; p < n; ++p) {
    renumber(g->get_linklist0(p));
    upper[p] = g->linkLists_[old_of[p]];
    levels[p] = g->element_levels_[old_of[p]];
  }
  for (Id p = 0; p < n; ++p) {
    g->linkLists_[p] = upper[p];
    g->element_levels_[p] = levels[p];
    for (int level = 1; level <= levels[p]; ++level) {
      renumber(g->get_linklist(p, level));
    }
    g->label_lookup_[g->getExternalLabel(p)] = p;
  }
  g->enterpoint_node_ = new_of[g->enterpoint_node_];
}

template <typename Graph>
absl::Status CheckGraph(const Graph& g, const std::string& what) {
  using Id = std::remove_cv_t<decltype(g.enterpoint_node_)>;
  const size_t n = g.cur_element_count;
  const auto broken = [&](const auto&... detail) {
    return absl::DataLossError(absl::StrCat(what, ": ", detail...));
  };
  if (n > 0 && (g.enterpoint_node_ >= n ||
                g.element_levels_[g.enterpoint_node_] != g.maxlevel_)) {
    return broken("the entry point is not a node of the top level");
  }
  for (Id p = 0; p < n; ++p) {
    for (int level = 0; level <= g.element_levels_[p]; ++level) {
      auto* list = level == 0 ? g.get_linklist0(p) : g.get_linklist(p, level);
      const size_t count = g.getListCount(list);
      if (count > (level == 0 ? g.maxM0_ : g.maxM_)) {
        return broken("node ", p, " has ", count, " links at level ", level);
      }
      const auto* links = reinterpret_cast<const Id*>(list);
      for (size_t j = 1; j <= count; ++j) {
        if (links[j] >= n || g.element_levels_[links[j]] < level) {
          return broken("node ", p, " links at level ", level,
                        " to a node that is not there");
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace aisle::core

#endif  // AISLE_CORE_HNSW_LAYOUT_H_
