// AttributePopularity: what users with a given attribute value (age band,
// region, ...) engage with, for the cold start of a user who gave
// attributes and has no history yet (Source kAttributes).
//
// For every attribute value a ("key=value") it keeps c_a(i): the summed
// interaction weight (r_ui, the engine's per-user weight of the item) of
// the users holding a on item i; c(i) sums over every user with any
// attribute. The engine keeps them exact and incremental: each event of a
// user with attributes adds the change of that user's r_ui, a change of
// attributes moves the user's whole contribution, an erasure removes it.
// So the counts react to every event, and do not depend on the order in
// which events and attributes arrived (a replay, or a snapshot plus the
// events after it, gives the same counts). No time decay: they describe
// who likes what, not what is hot.
//
// Scoring a user with values A (smoothed naive Bayes, a product of lifts):
//   P(i)     = c(i) / N,                      N = sum_i c(i)
//   P(i | a) = (c_a(i) + m P(i)) / (N_a + m), N_a = sum_i c_a(i)
//   score(i) = P(i) * prod_{a in A} P(i | a) / P(i)
// m (AttributeOptions::smoothing) backs a rare value off towards P(i); a value
// nobody else holds has lift 1 everywhere, so the list is then plain
// popularity among attributed users. Measured with `aisle eval --protocol
// cold-user` on ML-100K (README "Quality").
//
// Memory: one hash entry per (attribute value, item) pair that users of
// the value engaged with: at most (attributes per user) x (distinct user
// item pairs), bounded in practice by values x catalog.
//
// Thread safety: not thread-safe except Top and Attributes, which may run
// concurrently with each other (Top's cache has its own lock); the engine
// guards the rest with its mutex (writers exclusive, Top and Attributes
// under the shared lock).
#ifndef AISLE_CORE_ATTRIBUTE_POPULARITY_H_
#define AISLE_CORE_ATTRIBUTE_POPULARITY_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"

namespace aisle::core {

struct AttributeOptions {
  // m above, in users' worth of weight: m = smoothing * N / (users with
  // attributes), so that it does not depend on the scale of the event
  // weights. Default: 50. On ML-100K, `aisle eval --protocol cold-user
  // --tune-smoothing 12.5,25,50,100,200` picks 100 or 200 on validation
  // draws of the training users (nDCG@10 within 0.002 of 50's), but 100
  // swamps a small store's groups (tests/user_attributes_test.cc: 12
  // users per region), so the default stays 50.
  double smoothing = 50;
  // Candidates scored per request: the top items of each of the user's
  // values and of all attributed users. Default: 200.
  int candidates_per_value = 200;
};

class AttributePopularity {
 public:
  explicit AttributePopularity(AttributeOptions options = {});
  AttributePopularity(const AttributePopularity&) = delete;
  AttributePopularity& operator=(const AttributePopularity&) = delete;

  // The ids of the user's attribute values, interning new ones; ascending
  // (inline up to 4: a user's ids are kept by the engine, one per user).
  using Values = absl::InlinedVector<int32_t, 4>;
  Values Intern(const std::map<std::string, std::string>& attributes);
  // The attributes that interned to `values` (Intern's inverse).
  std::map<std::string, std::string> Attributes(
      std::span<const int32_t> values) const;

  // Adds `delta` (negative to remove) to item `item` under each value and
  // under the total. Entries that fall to ~0 are dropped.
  void Add(std::span<const int32_t> values, int32_t item, double delta);

  // Items for a user holding `values`, best first by score (ties by item
  // id), at most `limit`; empty when no attributed user engaged with
  // anything. Scores are the pseudo-probabilities above (compare them only
  // within one list).
  // `users`: how many users have attributes (for m).
  std::vector<std::pair<int32_t, double>> Top(std::span<const int32_t> values,
                                              size_t limit,
                                              int64_t users) const;

  // Bulk loading (every stored user's attributes at start): between
  // BeginBulk and EndBulk, Add with a positive delta for an item below
  // `items` sums into a dense array per value (8 bytes per item), which
  // EndBulk folds into the counts. A count's hash map misses the cache
  // once per (user item, value) pair: 2.4 s for the 10M-event store's
  // 912k attributed users, where dense sums take a fraction of that.
  // Arrays past `max_bytes` in all are folded in early and started
  // again; a negative delta folds them in first. Top reads only what was
  // folded in (answers are incomplete until EndBulk). Sums per item may
  // differ from one-by-one adds in the last bits.
  void BeginBulk(size_t items, size_t max_bytes = size_t{256} << 20);
  void EndBulk();

  // Forgets every value and count (and ends a bulk load).
  void Clear();

  // Whether any attributed user engaged with anything.
  bool empty() const { return total_.weights.empty(); }

 private:
  struct Counts {
    std::string name;  // key NUL value
    size_t key_bytes = 0;
    absl::flat_hash_map<int32_t, double> weights;
    double sum = 0;
    uint64_t version = 0;  // bumped by every Add
    // The top candidates_per_value items, rebuilt when stale.
    mutable absl::Mutex mu;
    mutable std::shared_ptr<const std::vector<int32_t>> top ABSL_GUARDED_BY(mu);
    mutable uint64_t top_version ABSL_GUARDED_BY(mu) = ~uint64_t{0};

    void Add(int32_t item, double delta);
    std::shared_ptr<const std::vector<int32_t>> TopItems(size_t n) const;
  };

  // A scored list as Top returned it, valid while no count it read has
  // changed: total_.version (which also moves at Clear, so it never
  // repeats) and each value's version are compared.
  struct CachedTop {
    uint64_t total_version = 0;
    std::vector<uint64_t> value_versions;
    int64_t users = 0;
    size_t limit = 0;
    std::vector<std::pair<int32_t, double>> items;
  };
  std::vector<std::pair<int32_t, double>> Score(std::span<const int32_t> values,
                                                size_t limit,
                                                int64_t users) const;

  // The dense array of value `v` (-1: the total) during a bulk load.
  double* Dense(int32_t v);
  // Adds the dense arrays into the counts and frees them.
  void FoldBulk();

  const AttributeOptions options_;
  size_t bulk_items_ = 0;  // > 0 during a bulk load
  size_t bulk_max_bytes_ = 0;
  size_t bulk_bytes_ = 0;
  std::vector<std::vector<double>> bulk_;  // per value; empty: untouched
  std::vector<double> bulk_total_;
  // Top's answers by value set: cold users share few attribute
  // combinations, and the counts change only with their events. Bounded:
  // emptied when it reaches kMaxCachedTops entries.
  static constexpr size_t kMaxCachedTops = 4096;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::vector<int32_t>, CachedTop> cache_
      ABSL_GUARDED_BY(cache_mu_);
  absl::flat_hash_map<std::string, int32_t> index_;  // by Counts::name
  std::string lookup_;                               // Intern's buffer
  std::deque<std::unique_ptr<Counts>> values_;
  Counts total_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_ATTRIBUTE_POPULARITY_H_
