// Engine::State: everything an Engine holds, shared by the files that
// implement it (engine.cc, engine_catalog.cc, engine_events.cc, refold.cc
// and the Recommend files). PRIVATE to core/engine*.cc and the files
// named above: not part of the public API, which is core/engine.h only;
// nothing outside core/ may include it.
//
// Locking: `mu` guards the catalog, users, counters and co-occurrence
// (readers share it, writers hold it exclusively); `model_mu` guards only
// the binding pointer, so that a model swap never waits for readers;
// `refold_mu` orders swaps and the background worker's thread.
#ifndef AISLE_CORE_ENGINE_STATE_H_
#define AISLE_CORE_ENGINE_STATE_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/attribute_popularity.h"
#include "core/content.h"
#include "core/decayed_counter.h"
#include "core/engine.h"
#include "core/model.h"
#include "core/model_flags.h"
#include "core/string_view.h"
#include "core/transitions.h"
#include "core/types.h"

namespace aisle::core {

struct Engine::State {
  static constexpr double kMsPerDay = 86400e3;
  static constexpr double kMsPerHour = 3600e3;

  // UserItem flags.
  static constexpr uint8_t kBlocked = 1;  // disliked: never recommended
  static constexpr uint8_t kCounted = 2;  // counted once in co-occurrence
  static constexpr uint8_t kCarted = 4;   // counted once in cart co-occurrence

  struct HistoryEntry {
    int64_t ts = 0;
    int32_t item = 0;
    EventType type = EventType::kUnspecified;
  };

  // One (user, item) pair the user interacted with (impressions excluded).
  struct UserItem {
    int32_t item = 0;
    float weight = 0;       // r_ui, >= 0
    uint32_t last_sec = 0;  // unix seconds of the latest event on the item
    uint8_t flags = 0;
    // Strongest event type seen, as its number: one byte keeps the record
    // at 16 bytes (there is one per user and item).
    uint8_t best = 0;
  };

  // A SEARCH event's query, kept for the user's content profile.
  struct SearchEntry {
    int64_t ts = 0;
    std::string query;
  };

  struct UserRec {
    std::string id;                     // empty: a free slot (erased user)
    std::vector<HistoryEntry> history;  // arrival order, oldest first
    std::vector<UserItem> items;        // sorted by item
    // The latest ContentOptions::max_searches queries, oldest first.
    std::vector<SearchEntry> searches;
    std::array<int32_t, kNumEventTypes> counts{};
    int64_t first_seen = 0;
    int64_t last_seen = 0;
    uint64_t generation = 0;  // bumped whenever `items` changes
    std::vector<float> vec;   // fold-in vector against model `vec_serial`
    uint64_t vec_serial = 0;

    const UserItem* Find(int32_t item) const {
      auto it = std::lower_bound(
          items.begin(), items.end(), item,
          [](const UserItem& a, int32_t b) { return a.item < b; });
      return it != items.end() && it->item == item ? &*it : nullptr;
    }
    UserItem& FindOrInsert(int32_t item) {
      auto it = std::lower_bound(
          items.begin(), items.end(), item,
          [](const UserItem& a, int32_t b) { return a.item < b; });
      if (it != items.end() && it->item == item) return *it;
      UserItem ui;
      ui.item = item;
      return *items.insert(it, ui);
    }
  };

  struct ItemRec {
    Item item;  // meaningful only while in_catalog
    bool in_catalog = false;
    std::vector<int32_t> prefixes;  // ids of every prefix of every path
    std::vector<int32_t> leaves;    // ids of the full paths
  };

  // A model plus the engine-side maps to use it. Immutable once published;
  // a Recommend holds the one it started with.
  struct Binding {
    std::shared_ptr<const FactorModel> model;
    std::vector<int32_t> model_to_engine;
    std::vector<int32_t> engine_to_model;  // -1: not in the model
    // Bit i: engine item i is in the model (engine_to_model[i] >= 0). An
    // eighth of a megabyte per million items, so a scan that only asks
    // "in the model?" of random items reads the cache, not memory.
    std::vector<uint64_t> in_model_bits;
    std::vector<float> inv_norms;  // 1/|y_i| (0 for zero vectors)
    uint64_t serial = 0;
    // Built after the swap when the model's own was deferred.
    std::shared_ptr<const AnnIndex> deferred_ann;
    // The model version's stored session ranker weights
    // (kSessionRankerWeightsParameter, core/session_ranker.h); empty when
    // it has none (or unreadable ones). Used when
    // SessionOptions::ranker_weights is empty.
    std::vector<double> ranker_weights;

    const AnnIndex* Ann() const {
      return deferred_ann != nullptr ? deferred_ann.get() : model->ann();
    }
    int32_t Row(int32_t engine_item) const {
      return static_cast<size_t>(engine_item) < engine_to_model.size()
                 ? engine_to_model[engine_item]
                 : -1;
    }
    // Row(engine_item) >= 0, from in_model_bits.
    bool InModel(int32_t engine_item) const {
      const size_t word = static_cast<size_t>(engine_item) / 64;
      return word < in_model_bits.size() &&
             (in_model_bits[word] >> (engine_item % 64) & 1) != 0;
    }
  };

  // A user's positive items in model rows, to solve the user's vector
  // outside the lock.
  struct FoldJob {
    int32_t user;
    uint64_t generation;
    std::vector<int32_t> rows;
    std::vector<float> weights;
  };

  class Runner;  // one Recommend call: core/recommend_runner.h

  explicit State(EngineOptions o)
      : options(std::move(o)),
        popularity(options.popularity_half_life_days * kMsPerDay),
        trending(options.trending_half_life_hours * kMsPerHour),
        impressions(options.popularity_half_life_days * kMsPerDay),
        bestsellers(options.popularity_half_life_days * kMsPerDay),
        transitions(options.session.transition_max_neighbors),
        attribute_popularity(options.attributes) {}

  const EngineOptions options;

  mutable absl::Mutex mu;
  // Item interning: ids live in a deque so the map's string_views stay
  // valid as it grows.
  std::deque<std::string> item_ids ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string_view, int32_t> item_index ABSL_GUARDED_BY(mu);
  std::vector<ItemRec> items ABSL_GUARDED_BY(mu);
  // listed[i] == items[i].in_catalog, kept dense: Recommend's eligibility
  // check reads it for every candidate, and one byte per item stays in
  // cache where a random ItemRec is a cache miss (12% of a FOR_YOU call
  // at 100k items, measured with perf). Grows with `items` (InternItem,
  // LoadSnapshot); set by Upsert and Delete.
  std::vector<uint8_t> listed ABSL_GUARDED_BY(mu);
  int64_t catalog_size ABSL_GUARDED_BY(mu) = 0;
  // Bumped by every Upsert and Delete: what depends on `listed` alone is
  // kept as of an epoch.
  uint64_t listed_epoch ABSL_GUARDED_BY(mu) = 0;
  // Runner::Selectivity of an unfiltered request: the sampled share of a
  // binding's model rows whose items are listed, as of (binding serial,
  // listed_epoch). Computing it read 512 scattered words per Recommend:
  // 4% of a FOR_YOU call's server CPU at 100k items, 9% at 1M
  // (scripts/ab_server.sh).
  struct ListedShare {
    uint64_t serial = 0;  // 0: none kept
    uint64_t epoch = 0;
    double share = 0;
  };
  mutable absl::Mutex listed_share_mu;
  mutable ListedShare listed_share ABSL_GUARDED_BY(listed_share_mu);

  // Category paths and all their prefixes, interned; the catalog items
  // under each.
  std::vector<std::string> prefix_names ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, int32_t> prefix_index ABSL_GUARDED_BY(mu);
  std::vector<std::vector<int32_t>> prefix_items ABSL_GUARDED_BY(mu);
  // Content vectors of the catalog items (core/content.h).
  ContentIndex content ABSL_GUARDED_BY(mu);

  std::deque<UserRec> users ABSL_GUARDED_BY(mu);
  std::vector<int32_t> free_users ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string_view, int32_t> user_index ABSL_GUARDED_BY(mu);

  DecayedCounters popularity ABSL_GUARDED_BY(mu);
  DecayedCounters trending ABSL_GUARDED_BY(mu);
  // IMPRESSION events per item, decayed like popularity: how exposed an
  // item is (exploration.cc).
  DecayedCounters impressions ABSL_GUARDED_BY(mu);
  // PURCHASE events per item (orders, not units, so that one bulk order
  // does not make a bestseller), decayed like popularity: the POPULAR
  // scenario's ranking.
  DecayedCounters bestsellers ABSL_GUARDED_BY(mu);
  mutable RankCache popularity_rank;
  mutable RankCache bestseller_rank;
  mutable RankCache trending_rank;
  int64_t now_ms ABSL_GUARDED_BY(mu) = 0;  // latest event timestamp
  int64_t events ABSL_GUARDED_BY(mu) = 0;

  // Co-occurrence: symmetric pair weights and per-item user counts, over
  // all positive interactions and over cart/purchase only.
  std::vector<absl::flat_hash_map<int32_t, float>> co_all ABSL_GUARDED_BY(mu);
  std::vector<absl::flat_hash_map<int32_t, float>> co_cart ABSL_GUARDED_BY(mu);
  std::vector<float> n_all ABSL_GUARDED_BY(mu);
  std::vector<float> n_cart ABSL_GUARDED_BY(mu);
  // Per item: the users whose interaction with it is positive now
  // (PositivePair), i.e. whom a model trained now would learn it from. An item
  // with co-occurrences but none of these (every interaction since undone,
  // disliked, or its users erased) is left out of training on purpose and
  // is not cold. Kept by Apply and EraseUser; recounted after a snapshot
  // load (RecountPositiveUsers).
  std::vector<int32_t> positive_users ABSL_GUARDED_BY(mu);
  // Per item and model binding: does co_all[item] hold a cold item
  // (positive users now, not in the model)? Forgotten when the item's list
  // gains a pair, and for the items it co-occurs with when it gains its
  // first positive user.
  ModelFlags near_cold ABSL_GUARDED_BY(mu);
  // What follows what, for the session signal (core/engine_session.cc).
  Transitions transitions ABSL_GUARDED_BY(mu);

  // Users' own attributes (Engine::UpsertUsers), apart from UserRec: a
  // user may have attributes and no events yet. They feed the
  // attribute-conditional counts (engine_attributes.cc).
  struct AttributedUser {
    // Interned in attribute_popularity (which names them: Attributes),
    // so that a million users' attributes are a few ints each.
    AttributePopularity::Values values;
  };
  absl::flat_hash_map<std::string, AttributedUser> attributed_users
      ABSL_GUARDED_BY(mu);
  AttributePopularity attribute_popularity ABSL_GUARDED_BY(mu);

  mutable absl::Mutex model_mu;
  std::shared_ptr<const Binding> binding ABSL_GUARDED_BY(model_mu);
  uint64_t next_serial ABSL_GUARDED_BY(model_mu) = 1;

  // Background re-fold (options.refold_in_background). Only SwapModel,
  // WaitForRefold and the destructor touch the thread (under refold_mu).
  absl::Mutex refold_mu;
  std::thread refold_thread ABSL_GUARDED_BY(refold_mu);
  // Set to stop the background worker early (a new swap, or destruction).
  std::atomic<bool> cancel_background{false};
  // Results of the last re-fold, published when it ends.
  std::atomic<double> refold_seconds{0};
  std::atomic<int64_t> refold_users{0};

  std::shared_ptr<const Binding> CurrentBinding() const {
    absl::MutexLock lock(&model_mu);
    return binding;
  }

  static std::string_view TrimSlashes(std::string_view s) {
    while (!s.empty() && s.front() == '/') s.remove_prefix(1);
    while (!s.empty() && s.back() == '/') s.remove_suffix(1);
    return s;
  }

  // Lookups and interning. Find* return -1 / nullptr when unknown;
  // Intern* add the id when it is new.
  int32_t FindItem(std::string_view id) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto it = item_index.find(id);
    return it == item_index.end() ? -1 : it->second;
  }
  int32_t InternItem(std::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (int32_t i = FindItem(id); i >= 0) return i;
    const auto i = static_cast<int32_t>(item_ids.size());
    item_ids.emplace_back(id);
    item_index.emplace(item_ids.back(), i);
    items.emplace_back();
    listed.push_back(0);
    co_all.emplace_back();
    co_cart.emplace_back();
    n_all.push_back(0);
    n_cart.push_back(0);
    positive_users.push_back(0);
    near_cold.Grow(items.size());
    return i;
  }
  const UserRec* FindUser(std::string_view id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto it = user_index.find(id);
    return it == user_index.end() ? nullptr : &users[it->second];
  }
  int32_t InternUser(std::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (auto it = user_index.find(id); it != user_index.end())
      return it->second;
    int32_t u;
    if (!free_users.empty()) {
      u = free_users.back();
      free_users.pop_back();
    } else {
      u = static_cast<int32_t>(users.size());
      users.emplace_back();
    }
    users[u].id = std::string(id);
    user_index.emplace(users[u].id, u);
    return u;
  }
  int32_t InternPrefix(std::string_view p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = prefix_index.find(ToAbsl(p));
    if (it != prefix_index.end()) return it->second;
    const auto id = static_cast<int32_t>(prefix_names.size());
    prefix_names.emplace_back(p);
    prefix_index.emplace(std::string(p), id);
    prefix_items.emplace_back();
    return id;
  }
  int32_t FindPrefix(std::string_view p) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto it = prefix_index.find(ToAbsl(TrimSlashes(p)));
    return it == prefix_index.end() ? -1 : it->second;
  }

  // Catalog (engine_catalog.cc).
  void Upsert(const Item& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool Delete(std::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Events (engine_events.cc). Apply appends the user's index to
  // `touched` (if not null) when their items changed. aggregates = false
  // changes only the user's own state (history, items, counts), not the
  // anonymous aggregates (event count, popularity, trending, bestsellers,
  // impressions, co-occurrence, transitions): for events that were already
  // counted under another user id (Engine::MergeUsers).
  void Apply(const Event& e, std::vector<int32_t>* touched,
             bool aggregates = true) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Asks the cache for what Apply reads first for each of `events` (their
  // users' and items' index slots, records and counters), all at once:
  // applied one after another, each event otherwise waits for a dozen
  // dependent misses in turn. Changes nothing.
  void PrefetchApply(std::span<const Event> events) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  void CountPairs(UserRec& user, int32_t item, bool cart)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Adds transitions to `item` (at `ts`) from the user's previous distinct
  // items (engine_session.cc); call before the event joins the history.
  void CountTransitions(const UserRec& user, int32_t item, int64_t ts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The session of a user at request time `now_ms`: their recent distinct
  // positive items, most recent first, with their weights; *freshness gets
  // the decay of the latest event at `now_ms` (engine_session.cc).
  std::vector<std::pair<int32_t, float>> Session(const UserRec& user,
                                                 int64_t now_ms,
                                                 double* freshness) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  // Whether the pair counts in training (Weight > 0 before decay).
  static bool PositivePair(const UserItem& ui) {
    return ui.weight > 0 && !(ui.flags & kBlocked);
  }
  // positive_users from the users' items (after a snapshot load).
  void RecountPositiveUsers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // r_ui of the pair for training and fold-in: 0 when not positive or
  // blocked, decayed by options.user_half_life_days from the latest event
  // on the item to the user's latest event.
  float Weight(const UserRec& user, const UserItem& ui) const {
    if (ui.weight <= 0 || (ui.flags & kBlocked)) return 0;
    if (options.user_half_life_days <= 0) return ui.weight;
    const double age_ms = std::max<double>(
        0, static_cast<double>(user.last_seen) - 1000.0 * ui.last_sec);
    return static_cast<float>(
        ui.weight *
        std::exp2(-age_ms / (options.user_half_life_days * kMsPerDay)));
  }

  // Attributes (engine_attributes.cc). The user's attributes, or null.
  const AttributedUser* FindAttributed(std::string_view id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    if (attributed_users.empty()) return nullptr;
    auto it = attributed_users.find(ToAbsl(id));
    return it == attributed_users.end() ? nullptr : &it->second;
  }
  // A pair's weight in the attribute counts: r_ui undecayed (so that it
  // changes only with the pair's own events), 0 when blocked.
  static double AttributeWeight(const UserItem& ui) {
    return (ui.flags & kBlocked) ? 0.0 : static_cast<double>(ui.weight);
  }
  // Adds (sign +1) or removes (-1) all of `user`'s pairs under `values`.
  void CountUserAttributes(const UserRec& user, std::span<const int32_t> values,
                           double sign) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Rebuilds the attribute counts from every attributed user's pairs
  // (after a snapshot replaced the users).
  void RecountAttributes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Folding users (refold.cc).
  FoldJob MakeFoldJob(int32_t u, const Binding& b) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  // Re-solves the users' vectors against the current binding, on
  // `threads` threads (0 = all cores). Stops early if the binding changes.
  // Returns how many vectors were stored.
  int64_t FoldUsers(const std::vector<int32_t>& users_to_fold, int threads = 1);
  // Every known user, for a full re-fold.
  std::vector<int32_t> AllUsers() const;
  // Learned segments (engine_segments.cc). SegmentOf: the user's segment
  // under `b` (their stored vector, or one solved now when it is stale);
  // -1 when the model has no segments or the user no vector.
  int32_t SegmentOf(int32_t u, const Binding& b) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  // Fills the taste fields of the profile: segment, category weights,
  // price band, preferred attributes, activity level.
  void DescribeTaste(int32_t u, const Binding* b, UserProfile* p) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  // The model's ANN index as stored in options.model.ann_cache_dir
  // (`<version>.hnsw`): NotFound when there is no cache or no file for
  // this version; DataLoss when the file is damaged or of other vectors.
  absl::StatusOr<std::unique_ptr<AnnIndex>> LoadCachedAnn(
      const FactorModel& model, const AnnOptions& ann_options) const;
  // The work after a swap, on `threads` threads: the deferred ANN index
  // (if any, and not loaded from the cache by SwapModel), then every
  // user's vector. Runs on the background thread or
  // inside SwapModel (options.refold_in_background).
  void AfterSwap(int threads);
};

}  // namespace aisle::core

#endif  // AISLE_CORE_ENGINE_STATE_H_
