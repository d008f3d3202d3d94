// ContentIndex's matching (content.h): items and new items that match a
// content vector, and the kept best new items of a term.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "core/content.h"
#include "core/dense_slots.h"

namespace aisle::core {

template <typename Fn>
void ContentIndex::ForNewestFresh(int32_t term, size_t n, Fn fn) const {
  // A term's list is in indexing order: newest last.
  const std::vector<FreshPosting>& list = fresh_postings_[term];
  for (size_t k = list.size(); k > 0 && n > 0; --k) {
    if (!LiveFresh(list[k - 1])) continue;
    fn(list[k - 1]);
    --n;
  }
}

namespace {

// q's terms that have postings, strongest first (ties by term id), taken
// one at a time: a heap instead of a sort, for a reader that may stop
// after a few of q's dozens of terms (a new-item match reads max_postings,
// most often from one or two).
class TermQueue {
 public:
  TermQueue(const ContentVector& q, size_t terms) {
    heap_.reserve(q.size());
    for (const auto& [term, w] : q) {
      if (static_cast<size_t>(term) < terms) heap_.emplace_back(w, term);
    }
    std::make_heap(heap_.begin(), heap_.end(), Worse);
  }
  // The next strongest term (ties by term id); false when none is left.
  bool Next(std::pair<float, int32_t>* next) {
    if (heap_.empty()) return false;
    std::pop_heap(heap_.begin(), heap_.end(), Worse);
    *next = heap_.back();
    heap_.pop_back();
    return true;
  }

 private:
  // The heap's top is the term no other is worse than: the strongest.
  static bool Worse(const std::pair<float, int32_t>& a,
                    const std::pair<float, int32_t>& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  }
  std::vector<std::pair<float, int32_t>> heap_;
};

// Puts the min(n, size) best of *v (by `better`, a total order) first,
// in order; the rest follow in no order. A selection and a sort of those
// few give what a partial sort would, for less (its heap was 1% of a
// FOR_YOU call).
template <typename T, typename Better>
void SortBest(std::vector<T>* v, size_t n, Better better) {
  const auto cut =
      v->begin() + static_cast<std::ptrdiff_t>(std::min(n, v->size()));
  if (cut != v->end()) std::nth_element(v->begin(), cut, v->end(), better);
  std::sort(v->begin(), cut, better);
}

// Keeps the n best of (item, cosine), best first, ties by item.
void KeepBest(std::vector<std::pair<int32_t, double>>* out, size_t n) {
  SortBest(out, n, [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out->size() > n) out->resize(n);
}

}  // namespace

std::vector<std::pair<int32_t, double>> ContentIndex::Match(
    const ContentVector& q, size_t max_postings) const {
  // (item, sum of its products with q), in the order items were met.
  std::vector<std::pair<int32_t, double>> dot;
  DenseSlots at(item_terms_.size());
  size_t visited = 0;
  TermQueue order(q, postings_.size());
  std::pair<float, int32_t> next;
  while (visited < max_postings && order.Next(&next)) {
    const auto [qw, term] = next;
    const double w = static_cast<double>(qw) * Idf(term);
    for (const auto& [item, tf] : postings_[term]) {
      int32_t& slot = at[item];
      if (slot < 0) {
        slot = static_cast<int32_t>(dot.size());
        dot.emplace_back(item, 0.0);
      }
      dot[static_cast<size_t>(slot)].second += w * TfWeight(tf);
    }
    visited += postings_[term].size();
  }
  std::vector<std::pair<int32_t, double>> out;
  out.reserve(dot.size());
  for (const auto& [item, d] : dot) {
    if (const double norm = Norm(item); norm > 0) {
      out.emplace_back(item, d / norm);
    }
  }
  KeepBest(&out, out.size());
  return out;
}

std::vector<std::pair<int32_t, double>> ContentIndex::MatchFresh(
    const ContentVector& q, size_t max_postings, size_t limit) const {
  static_assert(sizeof(ContentVector::value_type) ==
                sizeof(int32_t) + sizeof(float));  // no padding bytes
  const SearchCache<std::pair<int32_t, double>>::Key key{
      std::string_view(reinterpret_cast<const char*>(q.data()),
                       q.size() * sizeof(ContentVector::value_type)),
      {static_cast<int64_t>(max_postings), static_cast<int64_t>(limit),
       static_cast<int64_t>(idf_epoch_), static_cast<int64_t>(fresh_epoch_)}};
  std::vector<std::pair<int32_t, double>> out;
  if (match_fresh_kept_.Find(key, &out)) return out;
  out = MatchFreshNow(q, max_postings, limit);
  match_fresh_kept_.Put(key, out);
  return out;
}

std::vector<std::pair<int32_t, double>> ContentIndex::MatchFreshNow(
    const ContentVector& q, size_t max_postings, size_t limit) const {
  struct Sum {
    int32_t item;
    float norm_hint;
    double dot;    // sum of the item's products with q
    double score;  // dot / norm_hint
  };
  TermQueue order(q, fresh_postings_.size());
  // The strongest term with fresh items first: if it fills max_postings
  // alone, its kept best list (BestFresh) gives what the scan below would.
  std::pair<float, int32_t> next;
  bool more = order.Next(&next);
  while (more && fresh_live_[next.second] == 0) more = order.Next(&next);
  if (more) {
    const auto [qw, term] = next;
    const size_t live = fresh_live_[term];
    if (live >= max_postings && max_postings > limit) {
      const double w = static_cast<double>(qw) * Idf(term);
      const size_t exact = 2 * limit;
      const std::shared_ptr<const FreshTop> top =
          BestFresh(term, max_postings, exact);
      std::vector<std::pair<int32_t, double>> out;
      for (size_t k = 0; k < top->best.size() && k < exact; ++k) {
        const FreshPosting& p = top->best[k];
        if (const double norm = Norm(p.item); norm > 0) {
          out.emplace_back(p.item, w * TfWeight(p.tf) / norm);
        }
      }
      KeepBest(&out, limit);
      return out;
    }
  }
  std::vector<Sum> sums;
  sums.reserve(max_postings);
  size_t visited = 0, terms_read = 0;
  // From that term on, strongest first (the ones before had no fresh items).
  for (; more && visited < max_postings; more = order.Next(&next)) {
    const auto [qw, term] = next;
    if (fresh_live_[term] == 0) continue;
    const double w = static_cast<double>(qw) * Idf(term);
    const size_t n =
        std::min<size_t>(fresh_live_[term], max_postings - visited);
    ForNewestFresh(term, n, [&](const FreshPosting& p) {
      sums.push_back({p.item, p.norm_hint, w * TfWeight(p.tf), 0});
    });
    visited += n;
    ++terms_read;
  }
  // An item is in a term's list once: only items read under several terms
  // need their products summed, in the order the terms were read. A table
  // of twice as many slots as entries (a few KB, in L1) finds an item's
  // earlier entry; a per-item table would miss the cache once per posting,
  // and sorting the entries by item costs several times as much.
  if (terms_read > 1) {
    int bits = 1;
    while ((size_t{1} << bits) < 2 * sums.size()) ++bits;
    const uint32_t mask = (uint32_t{1} << bits) - 1;
    absl::InlinedVector<int32_t, 1024> slot(size_t{1} << bits, -1);
    size_t out = 0;
    for (size_t k = 0; k < sums.size(); ++k) {
      const int32_t item = sums[k].item;
      uint32_t h = (static_cast<uint32_t>(item) * 0x9E3779B1u) >> (32 - bits);
      while (slot[h] >= 0 && sums[slot[h]].item != item) h = (h + 1) & mask;
      if (slot[h] >= 0) {
        sums[slot[h]].dot += sums[k].dot;
      } else {
        slot[h] = static_cast<int32_t>(out);
        sums[out++] = sums[k];
      }
    }
    sums.resize(out);
  }
  // An exact norm costs a pass over the item's terms (cache misses): rank
  // by the norm the item had when it was indexed (carried in its
  // postings), then give the best 2 * limit their exact cosine.
  size_t exact = sums.size();
  if (sums.size() > limit) {
    for (Sum& sum : sums) {
      sum.score = sum.norm_hint > 0 ? sum.dot / sum.norm_hint : -1;
    }
    exact = std::min(sums.size(), 2 * limit);
    SortBest(&sums, exact, [](const Sum& a, const Sum& b) {
      return a.score != b.score ? a.score > b.score : a.item < b.item;
    });
  }
  std::vector<std::pair<int32_t, double>> out;
  out.reserve(exact);
  for (size_t k = 0; k < exact; ++k) {
    if (sums[k].score < 0) continue;  // no hint: not indexed with terms
    if (const double norm = Norm(sums[k].item); norm > 0) {
      out.emplace_back(sums[k].item, sums[k].dot / norm);
    }
  }
  KeepBest(&out, limit);
  return out;
}

std::shared_ptr<const ContentIndex::FreshTop> ContentIndex::BestFresh(
    int32_t term, size_t max_postings, size_t keep) const {
  const uint64_t version = fresh_version_[term];
  {
    absl::MutexLock lock(&fresh_top_mu_);
    auto it = fresh_top_.find(term);
    if (it != fresh_top_.end() && it->second->version == version &&
        it->second->max_postings == max_postings && it->second->keep >= keep) {
      return it->second;
    }
  }
  auto top = std::make_shared<FreshTop>();
  top->version = version;
  top->max_postings = max_postings;
  top->keep = std::max(keep, kMinFreshKeep);
  const size_t n = std::min<size_t>(fresh_live_[term], max_postings);
  std::vector<std::pair<double, FreshPosting>> scored;
  scored.reserve(n);
  ForNewestFresh(term, n, [&](const FreshPosting& p) {
    if (p.norm_hint > 0) scored.emplace_back(TfWeight(p.tf) / p.norm_hint, p);
  });
  const size_t m = std::min(scored.size(), top->keep);
  SortBest(&scored, m, [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first
                              : a.second.item < b.second.item;
  });
  top->best.reserve(m);
  for (size_t k = 0; k < m; ++k) top->best.push_back(scored[k].second);
  absl::MutexLock lock(&fresh_top_mu_);
  if (fresh_top_.size() >= kMaxFreshTops) fresh_top_.clear();
  fresh_top_[term] = top;
  return top;
}

}  // namespace aisle::core
