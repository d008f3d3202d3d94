// The Runner's candidate sources: co-occurrence, same category (content),
// a ranked counter (popularity, trending) with its catalog top-up, the
// user's own history (RECENTLY_VIEWED), and the factor model's sources
// (the user's vector, FOR_YOU retrieval, item-vector similarity).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/als.h"
#include "core/dense_slots.h"
#include "core/prefetch_ahead.h"
#include "core/recommend_runner.h"

namespace aisle::core {

const float* Engine::State::Runner::UserVector() {
  if (user_ == nullptr || b_ == nullptr) return nullptr;
  if (!user_->vec.empty() && user_->vec_serial == b_->serial) {
    return user_->vec.data();
  }
  if (!vector_solved_) {
    vector_solved_ = true;
    const FoldJob job = s_.MakeFoldJob(user_row_, *b_);
    if (!job.rows.empty()) {
      const FactorModel& m = *b_->model;
      solved_vector_ = m.FoldIn(job.rows, job.weights);
    }
  }
  return solved_vector_.size() > 0 ? solved_vector_.data() : nullptr;
}

// Items paired with the seeds, scored sum_seed log1p(w_seed) * c / sqrt(n n')
// (cosine over the binary user-item matrix, so that popular items do not
// dominate merely by being everywhere).
std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::CoOccurring(
    const std::vector<std::pair<int32_t, float>>& seeds, bool cart) const {
  const auto& co = cart ? s_.co_cart : s_.co_all;
  const auto& n = cart ? s_.n_cart : s_.n_all;
  std::vector<Candidate> acc;
  DenseSlots at(co.size());
  for (const auto& [seed, w] : seeds) {
    if (static_cast<size_t>(seed) >= co.size() || n[seed] <= 0) continue;
    const double wseed = std::log1p(static_cast<double>(w));
    // Each pair reads its item's count and slot: two cache misses in a
    // large catalog, overlapped by asking for them a few pairs ahead.
    PrefetchAhead ahead(co[seed], [&](int32_t item) {
      __builtin_prefetch(n.data() + item);
      at.Prefetch(item);
    });
    for (const auto& [other, c] : co[seed]) {
      ahead.Step();
      if (n[other] <= 0) continue;
      const double contribution =
          wseed * c / std::sqrt(static_cast<double>(n[seed]) * n[other]);
      int32_t& slot = at[other];
      if (slot < 0) {
        slot = static_cast<int32_t>(acc.size());
        acc.emplace_back();
        acc.back().item = other;
        acc.back().source = Source::kCoOccurrence;
      }
      Candidate& cand = acc[static_cast<size_t>(slot)];
      cand.score += contribution;
      if (contribution > cand.related_weight) {
        cand.related = seed;
        cand.related_weight = contribution;
      }
    }
  }
  return acc;
}

// Best first; hash order is arbitrary, so ties resolve by id.
void Engine::State::Runner::SortBestFirst(std::vector<Candidate>* out) {
  std::sort(out->begin(), out->end(),
            [](const Candidate& a, const Candidate& b) {
              return a.score != b.score ? a.score > b.score : a.item < b.item;
            });
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::CoOccurrence(
    const std::vector<std::pair<int32_t, float>>& seeds, bool cart) const {
  std::vector<Candidate> out;
  if (Full()) return out;
  const std::vector<Candidate> acc = CoOccurring(seeds, cart);
  // Eligibility once per distinct candidate, not per pair.
  out.reserve(acc.size());
  for (const Candidate& c : acc) {
    if (!taken_.contains(c.item) && Eligible(c.item)) out.push_back(c);
  }
  SortBestFirst(&out);
  return out;
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::ColdCoOccurrence(
    const std::vector<std::pair<int32_t, float>>& seeds, double* best) const {
  *best = 0;
  std::vector<Candidate> cold;
  if (b_ == nullptr || Full()) return cold;
  // Cold items (Cold) are the ones with positive events the model has not
  // seen, so most seeds have none among their co-occurring items. A plain
  // scan of the seeds' lists finds out; only a seed list with a cold item
  // pays for the sum over every co-occurring item (which *best needs).
  // Each seed's answer is remembered for this binding until its list
  // gains a pair or one of its items its first positive user (ModelFlags),
  // so the scan runs about once per seed and model.
  bool any_cold = false;
  for (const auto& [seed, w] : seeds) {
    if (static_cast<size_t>(seed) >= s_.co_all.size() || s_.n_all[seed] <= 0) {
      continue;
    }
    std::optional<bool> near = s_.near_cold.Get(seed, b_->serial);
    if (!near) {
      near = false;
      for (const auto& [other, c] : s_.co_all[seed]) {
        if (Cold(other)) {
          near = true;
          break;
        }
      }
      s_.near_cold.Put(seed, b_->serial, *near);
    }
    if (*near) {
      any_cold = true;
      break;
    }
  }
  if (!any_cold) return cold;
  for (const Candidate& c : CoOccurring(seeds, /*cart=*/false)) {
    // Only a cold item, or one that would raise *best, needs the
    // eligibility check (most do neither).
    const bool is_cold = Cold(c.item);
    if (!is_cold && c.score <= *best) continue;
    if (taken_.contains(c.item) || !Eligible(c.item)) continue;
    *best = std::max(*best, c.score);
    if (is_cold) cold.push_back(c);
  }
  // Only the cold ones are sorted: on a store where most co-occurring
  // items are in the model this is the small part of the list.
  SortBestFirst(&cold);
  return cold;
}

// Items sharing a full category path with the seeds, by popularity: the
// best `want_ - out_.size()` only (AddAll takes no more), kept in a
// bounded heap while the seeds' categories are scanned, so that a
// category of a million-item catalog costs one pass over its ids, not a
// hash map and a sort of all of them. Ranked by the counter's key (the
// score's order at any "now"); the score is computed for the kept ones.
std::vector<Engine::State::Runner::Candidate> Engine::State::Runner::Content(
    const std::vector<std::pair<int32_t, float>>& seeds) const {
  if (Full()) return {};
  constexpr size_t kMaxSeeds = 10;
  const size_t need = want_ - out_.size();
  struct Kept {
    double key;
    int32_t item;
    int32_t seed;
  };
  // Best first: the higher key, then the lower id. As the heap's order,
  // the front is the worst kept.
  const auto better = [](const Kept& a, const Kept& b) {
    return a.key != b.key ? a.key > b.key : a.item < b.item;
  };
  std::vector<Kept> kept;
  kept.reserve(need);
  // An item in two of the scanned categories is seen twice: only then is
  // a set of the scanned ones needed.
  size_t lists = 0;
  for (size_t k = 0; k < seeds.size() && k < kMaxSeeds; ++k) {
    lists += s_.items[seeds[k].first].leaves.size();
  }
  absl::flat_hash_set<int32_t> scanned;
  for (size_t k = 0; k < seeds.size() && k < kMaxSeeds; ++k) {
    const int32_t seed = seeds[k].first;
    for (int32_t leaf : s_.items[seed].leaves) {
      for (int32_t i : s_.prefix_items[leaf]) {
        const Kept c{s_.popularity.Key(i), i, seed};
        // Most of a large category cannot enter a full heap: that is
        // decided on the key alone, before the lookups of eligibility.
        const bool full = kept.size() >= need;
        if (full && !better(c, kept.front())) continue;
        if (taken_.contains(i) || !Eligible(i)) continue;
        if (lists > 1 && !scanned.insert(i).second) continue;
        if (full) {  // c beats the worst kept (checked above): replaces it
          std::pop_heap(kept.begin(), kept.end(), better);
          kept.back() = c;
        } else {
          kept.push_back(c);
        }
        std::push_heap(kept.begin(), kept.end(), better);
      }
    }
  }
  std::sort_heap(kept.begin(), kept.end(), better);
  std::vector<Candidate> out;
  out.reserve(kept.size());
  for (const Kept& c : kept) {
    out.push_back(Candidate{c.item, s_.popularity.ScoreAt(c.item, s_.now_ms),
                            Source::kContent, ReasonCode::kSameCategory, c.seed,
                            0});
  }
  return out;
}

// Tops up from a counter's ranking, then (so that `count` is met whenever
// enough eligible items exist) from the rest of the catalog in id order.
void Engine::State::Runner::Ranked(const DecayedCounters& counter,
                                   RankCache& cache, Source source,
                                   ReasonCode reason, bool catalog_top_up) {
  size_t depth = std::max<size_t>(64, want_ * 4);
  size_t pos = 0;
  while (!Full()) {
    const auto order = cache.Top(counter, depth);
    for (; pos < order->size() && !Full(); ++pos) {
      const int32_t i = (*order)[pos];
      Add({i, counter.ScoreAt(i, s_.now_ms), source, reason, -1, 0});
    }
    if (order->size() < depth) break;
    depth *= 4;
  }
  if (!catalog_top_up) return;
  for (size_t i = 0; i < s_.items.size() && !Full(); ++i) {
    const auto item = static_cast<int32_t>(i);
    if (counter.Key(item) <= 0) Add({item, 0, source, reason, -1, 0});
  }
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::ModelForYou() {
  if (Full()) return {};
  std::vector<Candidate> out;
  size_t need = want_ - out_.size();
  // The learned re-scoring of a fresh session sees more of the model's
  // candidates (core/session_ranker.h).
  if (Ranked()) {
    need = std::max(
        need, static_cast<size_t>(s_.options.session.ranker_model_candidates));
  }
  for (const SearchHit& h : Retrieve(UserVector(), need, /*cosine=*/false)) {
    out.push_back({b_->model_to_engine[h.index], h.score, Source::kFactorModel,
                   ReasonCode::kMatchesYourTaste, -1, 0});
  }
  return out;
}

// Cosine similarity of item vectors to the (normalised, summed) context
// vectors.
std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::VectorSimilar() {
  if (Full()) return {};
  const FactorModel& m = *b_->model;
  Eigen::VectorXf q = Eigen::VectorXf::Zero(m.factors());
  std::vector<int32_t> rows;
  for (int32_t c : context_) {
    const int32_t row = b_->Row(c);
    if (row < 0 || b_->inv_norms[row] == 0) continue;
    rows.push_back(row);
    q += m.item_factors().row(row).transpose() * b_->inv_norms[row];
  }
  if (rows.empty()) return {};
  const std::vector<SearchHit> hits =
      Retrieve(q.data(), want_ - out_.size(), /*cosine=*/true);
  std::vector<Candidate> out;
  for (const SearchHit& h : hits) {
    Candidate c{b_->model_to_engine[h.index], h.score, Source::kItemSimilarity,
                ReasonCode::kSimilarTo,       -1,      0};
    // Name the context item this one is closest to.
    double best = -2;
    for (int32_t row : rows) {
      const double cos =
          m.item_factors().row(row).dot(m.item_factors().row(h.index)) *
          b_->inv_norms[row] * b_->inv_norms[h.index];
      if (cos > best) {
        best = cos;
        c.related = b_->model_to_engine[row];
      }
    }
    out.push_back(c);
  }
  return out;
}

void Engine::State::Runner::RecentlyViewed() {
  if (user_ == nullptr) return;
  std::vector<const HistoryEntry*> h;
  h.reserve(user_->history.size());
  for (const HistoryEntry& e : user_->history) h.push_back(&e);
  std::stable_sort(h.begin(), h.end(),
                   [](const HistoryEntry* a, const HistoryEntry* b) {
                     return a->ts > b->ts;
                   });
  // Arrival order breaks timestamp ties: the later arrival is more recent.
  std::vector<const HistoryEntry*> ordered;
  ordered.reserve(h.size());
  for (size_t i = 0; i < h.size();) {
    size_t j = i;
    while (j < h.size() && h[j]->ts == h[i]->ts) ++j;
    for (size_t k = j; k > i; --k) ordered.push_back(h[k - 1]);
    i = j;
  }
  for (const HistoryEntry* e : ordered) {
    if (Full()) break;
    if (e->type == EventType::kDislike ||
        e->type == EventType::kRemoveFromCart) {
      continue;
    }
    Add({e->item, static_cast<double>(e->ts) / 1000.0, Source::kUserHistory,
         ReasonCode::kRecentlyViewedByYou, -1, 0});
  }
}

}  // namespace aisle::core
