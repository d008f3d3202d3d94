// ContentIndex: TF-IDF content vectors of catalog items, kept up to date as
// items are upserted and deleted, and cosine matching of a profile (a
// user's taste in terms, a search query, an item page) against them.
//
// Terms of an item (all lower-cased; a prefix keeps the fields apart):
//   "c:" every prefix of every category path ("c:music", "c:music/jazz")
//   "t:" every tag, whole ("t:vinyl")
//   "a:" every attribute as key=value ("a:brand=acme")
//   "w:" every word of the title, the tags, the category path segments
//        and the attribute values (Words(): split on what is not a letter
//        or digit, bytes >= 0x80 kept as letters so UTF-8 words survive,
//        words of one byte and English stop words dropped). A search
//        query's words are "w:" terms, so "jazz" matches the title word,
//        the tag and the category segment alike.
// Weight of a term in an item: (1 + ln tf) * idf, idf = ln((1 + N) / (1 +
// df)) + 1 (N: items indexed, df: items with the term), the vector then
// L2-normalised. idf is read at query time, so vectors always reflect the
// catalog as it is now (no re-indexing pass; an item's norm is recomputed
// from its ~10-50 terms, from logarithms kept per term, once per change
// of the catalog: Norm).
//
// Thread safety: none; the engine guards it with its mutex (reads shared,
// Upsert/Remove exclusive). MatchFresh's per-term cache has its own lock
// and the norms' cache atomic views, so concurrent reads stay safe.
#ifndef AISLE_CORE_CONTENT_H_
#define AISLE_CORE_CONTENT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/search_cache.h"
#include "core/types.h"

namespace aisle::core {

// A sparse vector: (term id, weight) sorted by term id.
using ContentVector = std::vector<std::pair<int32_t, float>>;

// An unnormalised sum of vectors (a profile being built).
using ContentProfile = absl::flat_hash_map<int32_t, double>;

class ContentIndex {
 public:
  ContentIndex() = default;
  // For tests of the fresh postings' numbering when its 32-bit counter
  // wraps: the first item marked fresh gets `last_fresh_add` + 1.
  explicit ContentIndex(uint32_t last_fresh_add)
      : fresh_adds_(last_fresh_add) {}
  ContentIndex(const ContentIndex&) = delete;
  ContentIndex& operator=(const ContentIndex&) = delete;

  // The words of free text (titles, queries), in order, repeats kept.
  static std::vector<std::string> Words(std::string_view text);
  // The terms of an item as described above, repeats kept (they are tf).
  static std::vector<std::string> ItemTerms(const Item& item);

  // Indexes (or re-indexes) engine item `item`. `item` >= 0.
  void Upsert(int32_t item, const Item& record);
  // Drops the item from the index; unknown items are ignored.
  void Remove(int32_t item);

  // The item's L2-normalised vector; empty for an item not indexed or
  // without terms.
  ContentVector ItemVector(int32_t item) const;
  // Asks the cache for what ItemVector reads of each of `items` (its
  // terms, its norm, its terms' weights), ahead of a loop that calls it on
  // them; changes nothing. In a large catalog each of those reads is a
  // cache miss that depends on the one before, so a loop over a user's
  // few dozen items would otherwise wait for memory ~3 times per item, one
  // wait after another. Unknown items are ignored.
  void Prefetch(std::span<const int32_t> items) const;
  // The L2-normalised vector of a query's words, over words the catalog
  // has (idf-weighted; unknown words carry nothing); may be empty.
  ContentVector QueryVector(std::string_view query) const;

  // profile += weight * v.
  static void Accumulate(const ContentVector& v, double weight,
                         ContentProfile* profile);
  // Accumulate(ItemVector(item), weight, profile), the same sums, without
  // building the vector (a FOR_YOU profile adds dozens of items).
  void AccumulateItem(int32_t item, double weight,
                      ContentProfile* profile) const;
  // The profile's `max_terms` strongest positive terms, L2-normalised
  // (empty when it has none).
  static ContentVector Normalize(const ContentProfile& profile,
                                 size_t max_terms);
  // Cosine of two normalised vectors.
  static double Dot(const ContentVector& a, const ContentVector& b);

  // Every indexed item sharing a term with `q` (normalised), with its
  // cosine, best first (ties by item). Visits the postings of q's terms
  // strongest first and stops adding terms once `max_postings` postings
  // were read (a bound on the cost for very common terms; their idf is low
  // anyway).
  std::vector<std::pair<int32_t, double>> Match(const ContentVector& q,
                                                size_t max_postings) const;

  // Whether an indexed item may still be new (no events yet). Only such
  // items are in MatchFresh's postings, so that finding new items for a
  // profile costs what the new items cost, not what the catalog does (a
  // common term's postings hold most of the catalog). The engine clears
  // the mark at an item's first event; a re-upsert keeps it, Remove drops
  // it. Items not indexed are ignored.
  void SetFresh(int32_t item, bool fresh);
  bool IsFresh(int32_t item) const {
    return item >= 0 && static_cast<size_t>(item) < fresh_.size() &&
           fresh_[item] != 0;
  }
  // Match() over the items marked fresh only (same cosine, same order), at
  // most the `limit` best. Within a term the newest fresh items are read
  // first, and reading stops after `max_postings` postings even inside a
  // term: a catalog can hold tens of thousands of items nobody touched, and
  // a request must not pay for all of them. When more than `limit` items
  // match, they are first ranked with the norm each had when it was
  // indexed, and the best 2 * limit of those get their exact cosine (idf
  // drifts slowly as the catalog changes; an exact norm costs a pass over
  // the item's terms).
  //
  // The answers to the last kMatchFreshKept distinct queries (q, the
  // bounds, and the index's state: any Upsert, Remove or change of a fresh
  // mark makes them stale) are kept and given again, kept from a query's
  // second sight (core/search_cache.h): a shopper who asks again before a
  // new event has the same profile, and reading up to `max_postings`
  // postings is most of what a personal recommendation costs after the
  // factor model's search.
  std::vector<std::pair<int32_t, double>> MatchFresh(const ContentVector& q,
                                                     size_t max_postings,
                                                     size_t limit) const;
  static constexpr size_t kMatchFreshKept = 4096;

  // Display names of the terms `q` and the item share, by their product,
  // strongest first, de-duplicated ("c:music/jazz" -> "music/jazz", "w:jazz"
  // and "t:jazz" -> "jazz"), at most `n`.
  std::vector<std::string> SharedTerms(const ContentVector& q, int32_t item,
                                       size_t n) const;

  int64_t items() const { return items_; }

  // A posting of a fresh item (the helpers in content.cc and
  // content_match.cc need the type).
  struct FreshPosting {
    int32_t item;  // -1 once the item is no longer fresh (a dead entry)
    float tf;
    float norm_hint;
    uint32_t added;  // the item's fresh_added_: a list is in this order
  };

 private:
  // Calls fn(term, weight) for each of ItemVector(item)'s entries, in
  // order: the one place its weights are computed.
  template <typename Fn>
  void ForEachItemWeight(int32_t item, Fn fn) const;
  float Idf(int32_t term) const;
  // 1 + ln(tf): from a table for the small whole counts nearly every tf is
  // (a match reads hundreds of postings; a logarithm each was 1% of a
  // FOR_YOU call), else computed. Inline: matching calls it per posting.
  static float TfWeight(float tf) {
    if (tf >= 0.0f && tf < static_cast<float>(kTfTableSize)) {
      const auto whole = static_cast<int>(tf);
      if (static_cast<float>(whole) == tf) return kTfWeights[whole];
    }
    return TfWeightOf(tf);
  }
  static float TfWeightOf(float tf);
  static constexpr int kTfTableSize = 64;
  static const std::array<float, kTfTableSize> kTfWeights;
  // MatchFresh's work, without the kept answers.
  std::vector<std::pair<int32_t, double>> MatchFreshNow(const ContentVector& q,
                                                        size_t max_postings,
                                                        size_t limit) const;
  // (1 + ln tf) * idf.
  float Weight(int32_t term, float tf) const;
  // |vector| of an indexed item before normalisation: remembered per idf
  // epoch (norms_), computed by ComputeNorm.
  double Norm(int32_t item) const;
  double ComputeNorm(int32_t item) const;
  int32_t Intern(const std::string& term);
  using Postings = std::vector<std::vector<std::pair<int32_t, float>>>;
  // log_df_[term] = ln(1 + df) after the term's postings changed.
  void Recount(int32_t term);
  // Adds (fresh) or drops the item's entries in fresh_postings_.
  void IndexFresh(int32_t item, bool add);
  // Numbers the fresh items 1..n again in their order (before
  // fresh_adds_ wraps), dropping every dead entry.
  void RenumberFresh();

  // MatchFresh when it reads one term only (the strongest term of the
  // query has max_postings fresh items or more, the usual case): within one
  // term the order by tf weight / norm hint is the same for every query,
  // so the best `keep` of the term's newest `max_postings` postings are
  // kept per term until its fresh list changes (fresh_version_).
  struct FreshTop {
    uint64_t version = 0;
    size_t max_postings = 0;
    size_t keep = 0;
    std::vector<FreshPosting> best;  // best first, ties by item
  };
  std::shared_ptr<const FreshTop> BestFresh(int32_t term, size_t max_postings,
                                            size_t keep) const;

  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, int32_t> index_;
  // Per term: (item, tf) of every item holding it; df = its size.
  Postings postings_;
  // Per engine item: its norm when it was last indexed (idf moves as the
  // catalog does), MatchFresh's first cut.
  std::vector<float> norm_hint_;
  // ln(1 + df) per term and ln(1 + items_): Idf() without a logarithm.
  std::vector<double> log_df_;
  double log_n_ = 0;
  // Per term: the entries of postings_ whose item is marked fresh, with
  // the item's norm_hint_ (read in the same cache line), oldest first.
  // An item leaving (its first event) is not erased at once, which would
  // move the rest of every list it is in, with most of a large catalog in
  // a common term's list: its entries are found by binary search on
  // `added` and marked dead in place, and stay until the list is more than
  // half dead (then it is compacted); readers skip them (LiveFresh) without
  // looking anything up.
  std::vector<std::vector<FreshPosting>> fresh_postings_;
  // Per term: how many of its fresh_postings_ are live.
  std::vector<uint32_t> fresh_live_;
  // Per item: 1 while it is marked fresh (IsFresh).
  std::vector<uint8_t> fresh_;
  // Per item: the number its entries were added under when it last became
  // fresh, from fresh_adds_ (each item marked fresh takes the next one),
  // so that every list is in increasing `added` order.
  std::vector<uint32_t> fresh_added_;
  uint32_t fresh_adds_ = 0;
  // Norm(item) as of idf_epoch_, which every Upsert and Remove bumps (they
  // move idf). Filled by readers holding the engine's shared lock, through
  // atomic views: the epoch is stored (release) after the norm and read
  // (acquire) before it, and every reader of one epoch computes the same
  // norm. A steady catalog computes an item's norm once, not at every
  // match (each norm is a pass over the item's terms, cache misses).
  // The norm and its epoch side by side: one cache line per item read.
  struct CachedNorm {
    double norm = 0;
    uint32_t epoch = 0;  // 0: never computed
  };
  uint32_t idf_epoch_ = 1;
  mutable std::vector<CachedNorm> norms_;
  static bool LiveFresh(const FreshPosting& p) { return p.item >= 0; }
  // Calls fn(posting) on the term's `n` newest live fresh postings, newest
  // first (n <= fresh_live_[term]).
  template <typename Fn>
  void ForNewestFresh(int32_t term, size_t n, Fn fn) const;
  // Per term: bumped whenever its fresh_postings_ list changes.
  std::vector<uint64_t> fresh_version_;
  // Bumped whenever any fresh_postings_ list changes (with idf_epoch_,
  // the state MatchFresh's kept answers were computed in).
  uint64_t fresh_epoch_ = 0;
  mutable SearchCache<std::pair<int32_t, double>> match_fresh_kept_{
      kMatchFreshKept};
  // BestFresh's lists by term; emptied when it reaches kMaxFreshTops.
  static constexpr size_t kMaxFreshTops = 4096;
  // BestFresh keeps at least this many per term, so that requests asking
  // for a few more (a longer list) find them already kept.
  static constexpr size_t kMinFreshKeep = 32;
  mutable absl::Mutex fresh_top_mu_;
  mutable absl::flat_hash_map<int32_t, std::shared_ptr<const FreshTop>>
      fresh_top_ ABSL_GUARDED_BY(fresh_top_mu_);
  // Per engine item: (term, tf) sorted by term; empty when not indexed.
  std::vector<std::vector<std::pair<int32_t, float>>> item_terms_;
  int64_t items_ = 0;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_CONTENT_H_
