#include "core/engine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace aisle::core {
namespace {

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kMsPerDay = 86400e3;
constexpr double kMsPerHour = 3600e3;

// UserItem flags.
constexpr uint8_t kBlocked = 1;  // disliked: never recommended to the user
constexpr uint8_t kCounted = 2;  // counted once in co-occurrence
constexpr uint8_t kCarted = 4;   // counted once in cart co-occurrence

// Strength of an event type as evidence, for "Because you <verb> X".
int TypeRank(EventType t) {
  switch (t) {
    case EventType::kPurchase:
      return 5;
    case EventType::kAddToCart:
      return 4;
    case EventType::kRating:
      return 3;
    case EventType::kClick:
      return 2;
    case EventType::kView:
      return 1;
    default:
      return 0;
  }
}

std::string_view Verb(EventType t) {
  switch (t) {
    case EventType::kPurchase:
      return "bought";
    case EventType::kAddToCart:
      return "added to cart";
    case EventType::kRating:
      return "rated";
    case EventType::kClick:
      return "clicked";
    default:
      return "viewed";
  }
}

// Debian's Abseil has its own string_view type.
absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

std::string_view TrimSlashes(std::string_view s) {
  while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

// Sum of weights, each decayed from its event time to a common "now", kept
// as one number per item: value_i * exp(-lambda (now - base)). Adding is
// O(1); the base moves forward (rescaling every value) only when the
// exponent would overflow.
class DecayedCounters {
 public:
  explicit DecayedCounters(double half_life_ms)
      : lambda_(half_life_ms > 0 ? kLn2 / half_life_ms : 0) {}

  void Add(int32_t i, double w, int64_t t) {
    if (static_cast<size_t>(i) >= values_.size()) values_.resize(i + 1, 0);
    if (!has_base_) {
      base_ = t;
      has_base_ = true;
    }
    double e = lambda_ * static_cast<double>(t - base_);
    if (e > kMaxExponent) {
      const double scale = std::exp(-e);
      for (double& v : values_) v *= scale;
      base_ = t;
      e = 0;
    }
    values_[i] += w * std::exp(e);
    ++version_;
  }
  // Ranking key: proportional to the decayed score at any common "now".
  double Key(int32_t i) const {
    return static_cast<size_t>(i) < values_.size() ? values_[i] : 0;
  }
  double ScoreAt(int32_t i, int64_t now) const {
    return Key(i) * std::exp(-lambda_ * static_cast<double>(now - base_));
  }
  size_t size() const { return values_.size(); }
  uint64_t version() const { return version_; }

 private:
  static constexpr double kMaxExponent = 500;
  double lambda_;
  int64_t base_ = 0;
  bool has_base_ = false;
  std::vector<double> values_;
  uint64_t version_ = 0;
};

// Items ordered by a counter, best first, ties by index. Built lazily to
// the depth asked for; rebuilt when the counter changed.
class RankCache {
 public:
  std::shared_ptr<const std::vector<int32_t>> Top(const DecayedCounters& c,
                                                  size_t depth) {
    absl::MutexLock lock(&mu_);
    const size_t n = c.size();
    if (order_ && version_ == c.version() &&
        (order_->size() >= depth || order_->size() == nonzero_)) {
      return order_;
    }
    std::vector<int32_t> all;
    all.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (c.Key(static_cast<int32_t>(i)) > 0)
        all.push_back(static_cast<int32_t>(i));
    }
    nonzero_ = all.size();
    const auto better = [&c](int32_t a, int32_t b) {
      const double ka = c.Key(a), kb = c.Key(b);
      return ka != kb ? ka > kb : a < b;
    };
    const size_t d = std::min(all.size(), std::max<size_t>(depth, 1024));
    std::partial_sort(all.begin(), all.begin() + d, all.end(), better);
    all.resize(d);
    order_ = std::make_shared<const std::vector<int32_t>>(std::move(all));
    version_ = c.version();
    return order_;
  }

 private:
  absl::Mutex mu_;
  std::shared_ptr<const std::vector<int32_t>> order_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  size_t nonzero_ ABSL_GUARDED_BY(mu_) = 0;
};

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
  EventType best = EventType::kUnspecified;  // strongest event type seen
};

struct UserRec {
  std::string id;
  std::vector<HistoryEntry> history;  // arrival order, oldest first
  std::vector<UserItem> items;        // sorted by item
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

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// A model plus the engine-side maps to use it.
struct Binding {
  std::shared_ptr<const FactorModel> model;
  std::vector<int32_t> model_to_engine;
  std::vector<int32_t> engine_to_model;  // -1: not in the model
  std::vector<float> inv_norms;          // 1/|y_i| (0 for zero vectors)
  uint64_t serial = 0;
  // Built after the swap when the model's own was deferred.
  std::shared_ptr<const AnnIndex> deferred_ann;

  const AnnIndex* Ann() const {
    return deferred_ann != nullptr ? deferred_ann.get() : model->ann();
  }
  int32_t Row(int32_t engine_item) const {
    return static_cast<size_t>(engine_item) < engine_to_model.size()
               ? engine_to_model[engine_item]
               : -1;
  }
};

struct Candidate {
  int32_t item = -1;
  double score = 0;
  Source source = Source::kUnspecified;
  ReasonCode reason = ReasonCode::kUnspecified;
  int32_t related = -1;       // engine item the candidate came from, if any
  double related_weight = 0;  // that item's contribution to `score`
};

}  // namespace

struct Engine::State {
  explicit State(EngineOptions o)
      : options(std::move(o)),
        popularity(options.popularity_half_life_days * kMsPerDay),
        trending(options.trending_half_life_hours * kMsPerHour) {}

  const EngineOptions options;

  mutable absl::Mutex mu;
  // Item interning: ids live in a deque so the map's string_views stay
  // valid as it grows.
  std::deque<std::string> item_ids ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string_view, int32_t> item_index ABSL_GUARDED_BY(mu);
  std::vector<ItemRec> items ABSL_GUARDED_BY(mu);
  int64_t catalog_size ABSL_GUARDED_BY(mu) = 0;

  std::vector<std::string> prefix_names ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, int32_t> prefix_index ABSL_GUARDED_BY(mu);
  std::vector<std::vector<int32_t>> prefix_items ABSL_GUARDED_BY(mu);

  std::deque<UserRec> users ABSL_GUARDED_BY(mu);
  std::vector<int32_t> free_users ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string_view, int32_t> user_index ABSL_GUARDED_BY(mu);

  DecayedCounters popularity ABSL_GUARDED_BY(mu);
  DecayedCounters trending ABSL_GUARDED_BY(mu);
  mutable RankCache popularity_rank;
  mutable RankCache trending_rank;
  int64_t now_ms ABSL_GUARDED_BY(mu) = 0;
  int64_t events ABSL_GUARDED_BY(mu) = 0;

  // Co-occurrence: symmetric pair weights and per-item user counts, over
  // all positive interactions and over cart/purchase only.
  std::vector<absl::flat_hash_map<int32_t, float>> co_all ABSL_GUARDED_BY(mu);
  std::vector<absl::flat_hash_map<int32_t, float>> co_cart ABSL_GUARDED_BY(mu);
  std::vector<float> n_all ABSL_GUARDED_BY(mu);
  std::vector<float> n_cart ABSL_GUARDED_BY(mu);

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
    co_all.emplace_back();
    co_cart.emplace_back();
    n_all.push_back(0);
    n_cart.push_back(0);
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
    auto it = prefix_index.find(AV(p));
    if (it != prefix_index.end()) return it->second;
    const auto id = static_cast<int32_t>(prefix_names.size());
    prefix_names.emplace_back(p);
    prefix_index.emplace(std::string(p), id);
    prefix_items.emplace_back();
    return id;
  }
  int32_t FindPrefix(std::string_view p) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto it = prefix_index.find(AV(TrimSlashes(p)));
    return it == prefix_index.end() ? -1 : it->second;
  }

  void Upsert(const Item& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool Delete(std::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Apply(const Event& e, std::vector<int32_t>* touched)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void CountPairs(UserRec& user, int32_t item, bool cart)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  float Weight(const UserRec& user, const UserItem& ui) const;

  struct FoldJob {
    int32_t user;
    uint64_t generation;
    std::vector<int32_t> rows;
    std::vector<float> weights;
  };
  FoldJob MakeFoldJob(int32_t u, const Binding& b) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  // Re-solves the users' vectors against the current binding, on
  // `threads` threads (0 = all cores). Stops early if the binding changes.
  // Returns how many vectors were stored.
  int64_t FoldUsers(const std::vector<int32_t>& users_to_fold, int threads = 1);
  // Every known user, for a full re-fold.
  std::vector<int32_t> AllUsers() const;

  class Runner;
};

void Engine::State::Upsert(const Item& item) {
  const int32_t i = InternItem(item.item_id);
  ItemRec& rec = items[i];
  for (int32_t p : rec.prefixes) {
    auto& list = prefix_items[p];
    list.erase(std::remove(list.begin(), list.end(), i), list.end());
  }
  rec.prefixes.clear();
  rec.leaves.clear();
  if (!rec.in_catalog) ++catalog_size;
  rec.in_catalog = true;
  rec.item = item;
  for (const std::string& path : item.categories) {
    const std::string_view p = TrimSlashes(path);
    if (p.empty()) continue;
    for (size_t pos = 0;;) {
      const size_t slash = p.find('/', pos);
      const std::string_view prefix = p.substr(0, slash);
      const int32_t id = InternPrefix(prefix);
      if (std::find(rec.prefixes.begin(), rec.prefixes.end(), id) ==
          rec.prefixes.end()) {
        rec.prefixes.push_back(id);
        prefix_items[id].push_back(i);
      }
      if (slash == std::string_view::npos) {
        rec.leaves.push_back(id);
        break;
      }
      pos = slash + 1;
    }
  }
}

bool Engine::State::Delete(std::string_view id) {
  const int32_t i = FindItem(id);
  if (i < 0 || !items[i].in_catalog) return false;
  ItemRec& rec = items[i];
  for (int32_t p : rec.prefixes) {
    auto& list = prefix_items[p];
    list.erase(std::remove(list.begin(), list.end(), i), list.end());
  }
  rec = ItemRec();
  --catalog_size;
  return true;
}

// Pairs `item` with the user's last distinct items (before this event) that
// were counted the same way, once per user and pair.
void Engine::State::CountPairs(UserRec& user, int32_t item, bool cart) {
  auto& co = cart ? co_cart : co_all;
  auto& n = cart ? n_cart : n_all;
  n[item] += 1;
  const int window = std::max(0, options.co_occurrence_window);
  absl::flat_hash_set<int32_t> seen;
  for (auto it = user.history.rbegin();
       it != user.history.rend() && static_cast<int>(seen.size()) < window;
       ++it) {
    const int32_t other = it->item;
    if (other == item) continue;
    if (cart) {
      if (it->type != EventType::kAddToCart && it->type != EventType::kPurchase)
        continue;
    } else {
      const UserItem* ui = user.Find(other);
      if (ui == nullptr || !(ui->flags & kCounted)) continue;
    }
    if (!seen.insert(other).second) continue;
    co[item][other] += 1;
    co[other][item] += 1;
  }
  const size_t cap =
      static_cast<size_t>(std::max(1, options.co_occurrence_max_neighbors));
  const auto prune = [cap](absl::flat_hash_map<int32_t, float>& m) {
    if (m.size() <= 2 * cap) return;
    std::vector<std::pair<float, int32_t>> v;
    v.reserve(m.size());
    for (const auto& [k, w] : m) v.emplace_back(w, k);
    std::nth_element(
        v.begin(), v.begin() + cap, v.end(), [](const auto& a, const auto& b) {
          return a.first != b.first ? a.first > b.first : a.second < b.second;
        });
    v.resize(cap);
    m.clear();
    for (const auto& [w, k] : v) m.emplace(k, w);
  };
  prune(co[item]);
  for (int32_t other : seen) prune(co[other]);
}

void Engine::State::Apply(const Event& e, std::vector<int32_t>* touched) {
  if (e.user_id.empty() || e.item_id.empty() ||
      e.type == EventType::kUnspecified ||
      static_cast<int>(e.type) >= kNumEventTypes) {
    return;
  }
  const int32_t item = InternItem(e.item_id);
  const int32_t u = InternUser(e.user_id);
  UserRec& user = users[u];
  ++events;
  now_ms = std::max(now_ms, e.timestamp_ms);
  ++user.counts[static_cast<int>(e.type)];
  if (user.first_seen == 0 || e.timestamp_ms < user.first_seen) {
    user.first_seen = e.timestamp_ms;
  }
  user.last_seen = std::max(user.last_seen, e.timestamp_ms);
  // Impressions are attribution, not taste: counted, nothing else.
  if (e.type == EventType::kImpression) return;

  const float w = options.weights.For(e.type, e.value);
  if (w > 0) {
    popularity.Add(item, w, e.timestamp_ms);
    trending.Add(item, w, e.timestamp_ms);
  }
  UserItem& ui = user.FindOrInsert(item);
  ui.last_sec = std::max<uint32_t>(
      ui.last_sec,
      static_cast<uint32_t>(std::clamp<int64_t>(
          e.timestamp_ms / 1000, 0, std::numeric_limits<uint32_t>::max())));
  if (TypeRank(e.type) > TypeRank(ui.best)) ui.best = e.type;
  if (e.type == EventType::kDislike) {
    ui.flags |= kBlocked;
    ui.weight = 0;
  } else if (!(ui.flags & kBlocked)) {
    ui.weight = std::max(0.0f, ui.weight + w);
  }
  const bool positive = ui.weight > 0;
  const bool count_all = positive && !(ui.flags & kCounted);
  const bool count_cart =
      (e.type == EventType::kAddToCart || e.type == EventType::kPurchase) &&
      !(ui.flags & (kCarted | kBlocked));
  if (count_all) ui.flags |= kCounted;
  if (count_cart) ui.flags |= kCarted;
  // `ui` may move when CountPairs looks other items up: flags are set first.
  if (count_all) CountPairs(user, item, /*cart=*/false);
  if (count_cart) CountPairs(user, item, /*cart=*/true);

  user.history.push_back({e.timestamp_ms, item, e.type});
  const size_t max_history =
      static_cast<size_t>(std::max(1, options.max_history_per_user));
  // Trim in batches so appends stay amortised O(1).
  if (user.history.size() > max_history + max_history / 4) {
    user.history.erase(user.history.begin(),
                       user.history.end() - static_cast<int64_t>(max_history));
  }
  ++user.generation;
  if (touched != nullptr) touched->push_back(u);
}

float Engine::State::Weight(const UserRec& user, const UserItem& ui) const {
  if (ui.weight <= 0 || (ui.flags & kBlocked)) return 0;
  if (options.user_half_life_days <= 0) return ui.weight;
  const double age_ms = std::max<double>(
      0, static_cast<double>(user.last_seen) - 1000.0 * ui.last_sec);
  return static_cast<float>(
      ui.weight *
      std::exp2(-age_ms / (options.user_half_life_days * kMsPerDay)));
}

Engine::State::FoldJob Engine::State::MakeFoldJob(int32_t u,
                                                  const Binding& b) const {
  const UserRec& user = users[u];
  FoldJob job{u, user.generation, {}, {}};
  for (const UserItem& ui : user.items) {
    const int32_t row = b.Row(ui.item);
    const float w = Weight(user, ui);
    if (row < 0 || w <= 0) continue;
    job.rows.push_back(row);
    job.weights.push_back(w);
  }
  return job;
}

// Solves outside the lock; a vector is stored only if the user did not
// change meanwhile (a later call stores the newer one) and the model is
// still the one it was solved against.
int64_t Engine::State::FoldUsers(const std::vector<int32_t>& users_to_fold,
                                 int threads) {
  const std::shared_ptr<const Binding> b = CurrentBinding();
  if (threads <= 0) {
    threads =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  constexpr size_t kChunk = 1024;
  int64_t stored = 0;
  for (size_t start = 0; start < users_to_fold.size(); start += kChunk) {
    // Swapped again (that swap re-folds), or shutting down.
    if (CurrentBinding() != b || cancel_background) break;
    const size_t end = std::min(users_to_fold.size(), start + kChunk);
    std::vector<FoldJob> jobs;
    {
      absl::ReaderMutexLock lock(&mu);
      for (size_t k = start; k < end; ++k) {
        const int32_t u = users_to_fold[k];
        if (static_cast<size_t>(u) >= users.size() || users[u].id.empty()) {
          continue;
        }
        if (b == nullptr) {
          jobs.push_back({u, users[u].generation, {}, {}});
        } else {
          jobs.push_back(MakeFoldJob(u, *b));
        }
      }
    }
    std::vector<std::vector<float>> vectors(jobs.size());
    if (b != nullptr) {
      const FactorModel& m = *b->model;
      auto solve = [&](size_t first, size_t step) {
        for (size_t j = first; j < jobs.size(); j += step) {
          if (jobs[j].rows.empty()) continue;
          const Eigen::VectorXf x =
              core::FoldIn(m.item_factors(), m.gramian(), jobs[j].rows,
                           jobs[j].weights, m.als_options());
          vectors[j].assign(x.data(), x.data() + x.size());
        }
      };
      const size_t workers =
          std::min(static_cast<size_t>(threads), jobs.size() / 64 + 1);
      std::vector<std::thread> pool;
      for (size_t t = 1; t < workers; ++t) pool.emplace_back(solve, t, workers);
      solve(0, workers);
      for (std::thread& t : pool) t.join();
    }
    absl::MutexLock lock(&mu);
    for (size_t j = 0; j < jobs.size(); ++j) {
      const int32_t u = jobs[j].user;
      if (static_cast<size_t>(u) >= users.size()) continue;
      UserRec& user = users[u];
      if (user.id.empty() || user.generation != jobs[j].generation) continue;
      user.vec = std::move(vectors[j]);
      user.vec_serial = b ? b->serial : 0;
      ++stored;
    }
  }
  return stored;
}

std::vector<int32_t> Engine::State::AllUsers() const {
  std::vector<int32_t> all;
  {
    absl::ReaderMutexLock lock(&mu);
    all.reserve(user_index.size());
    for (const auto& [id, u] : user_index) all.push_back(u);
  }
  std::sort(all.begin(), all.end());
  return all;
}

float EventWeights::For(EventType type, double value) const {
  switch (type) {
    case EventType::kView:
      return view;
    case EventType::kClick:
      return click;
    case EventType::kAddToCart:
      return add_to_cart;
    case EventType::kRemoveFromCart:
      return remove_from_cart;
    case EventType::kPurchase:
      return purchase;
    case EventType::kRating:
      return static_cast<float>(rating_scale * value);
    case EventType::kImpression:
      return impression;
    default:
      return 0;
  }
}

// ---------------------------------------------------------------------------
// Recommend

namespace {

struct CompiledFilter {
  bool has_include = false;
  std::vector<int32_t> include;  // prefix ids; has_include + empty: none pass
  std::vector<int32_t> exclude;
  std::optional<double> min_price, max_price;
  bool available_only = false;

  bool Passes(const ItemRec& rec) const {
    if (available_only && !rec.item.available) return false;
    if (min_price && rec.item.price < *min_price) return false;
    if (max_price && rec.item.price > *max_price) return false;
    const auto any_of = [&rec](const std::vector<int32_t>& ids) {
      for (int32_t p : rec.prefixes) {
        if (std::find(ids.begin(), ids.end(), p) != ids.end()) return true;
      }
      return false;
    };
    if (has_include && !any_of(include)) return false;
    if (!exclude.empty() && any_of(exclude)) return false;
    return true;
  }
};

void SortCandidates(std::vector<Candidate>* v) {
  std::stable_sort(
      v->begin(), v->end(),
      [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
}

}  // namespace

// One Recommend call: eligibility, candidate sources in priority order, the
// diversity re-rank and the explanations. Runs under the engine's shared
// lock.
class Engine::State::Runner {
 public:
  Runner(const State& s, const Binding* b, const RecommendRequest& req,
         RecommendTrace* trace)
      : s_(s), b_(b), req_(req), trace_(trace) {}

  absl::StatusOr<Recommendation> Run() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

 private:
  bool Eligible(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  bool Full() const { return out_.size() >= want_; }
  bool Add(const Candidate& c) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  int AddAll(std::vector<Candidate> cands) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  int Produced(Source src) const { return by_source_[static_cast<int>(src)]; }

  void Prepare() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Whether any seed co-occurs with an item the model does not know (a
  // cheap scan: no allocation, stops at the first).
  bool AnyColdNeighbor(const std::vector<std::pair<int32_t, float>>& seeds)
      const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Eligible co-occurring items of the seeds, best first (ties by id).
  std::vector<Candidate> CoOccurrence(
      const std::vector<std::pair<int32_t, float>>& seeds, bool cart) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::vector<Candidate> Content(
      const std::vector<std::pair<int32_t, float>>& seeds) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  void Ranked(const DecayedCounters& counter, RankCache& cache, Source source,
              ReasonCode reason) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  double Selectivity() const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::optional<std::vector<int32_t>> IncludedRows() const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Top `need` eligible model rows for `q` by inner product (cosine: scaled
  // by 1/|y_i|), ANN or exact, best first.
  std::vector<SearchHit> Retrieve(const float* q, size_t need, bool cosine)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The user's vector against b_: the stored one when it was solved
  // against this model, else solved now (once per request; see
  // EngineOptions::refold_in_background). Null when the user has no
  // positive item the model knows.
  const float* UserVector() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::vector<Candidate> ModelForYou() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::vector<Candidate> VectorSimilar() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  void RecentlyViewed() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  void Diversify(size_t count) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  Reason Explain(const Candidate& c) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::string Title(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  const State& s_;
  const Binding* b_;
  const RecommendRequest& req_;
  RecommendTrace* trace_;

  const UserRec* user_ = nullptr;
  int32_t user_row_ = -1;  // index of user_ in s_.users
  CompiledFilter filter_;
  absl::flat_hash_set<int32_t> excluded_;
  std::vector<int32_t> context_;  // known context items
  // The user's recent distinct positive items, most recent first.
  std::vector<std::pair<int32_t, float>> recent_;
  bool include_seen_ = false;
  size_t want_ = 0;
  absl::flat_hash_set<int32_t> taken_;
  std::vector<Candidate> out_;
  std::array<int, 8> by_source_{};
  bool vector_solved_ = false;
  Eigen::VectorXf solved_vector_;
};

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
      solved_vector_ = core::FoldIn(m.item_factors(), m.gramian(), job.rows,
                                    job.weights, m.als_options());
    }
  }
  return solved_vector_.size() > 0 ? solved_vector_.data() : nullptr;
}

bool Engine::State::Runner::Eligible(int32_t i) const {
  if (i < 0 || static_cast<size_t>(i) >= s_.items.size()) return false;
  const ItemRec& rec = s_.items[i];
  if (!rec.in_catalog || excluded_.contains(i)) return false;
  if (user_ != nullptr) {
    if (const UserItem* ui = user_->Find(i)) {
      if ((ui->flags & kBlocked) || !include_seen_) return false;
    }
  }
  return filter_.Passes(rec);
}

bool Engine::State::Runner::Add(const Candidate& c) {
  if (Full() || taken_.contains(c.item) || !Eligible(c.item)) return false;
  taken_.insert(c.item);
  out_.push_back(c);
  ++by_source_[static_cast<int>(c.source)];
  return true;
}

int Engine::State::Runner::AddAll(std::vector<Candidate> cands) {
  SortCandidates(&cands);
  int added = 0;
  for (const Candidate& c : cands) {
    if (Full()) break;
    added += Add(c) ? 1 : 0;
  }
  return added;
}

void Engine::State::Runner::Prepare() {
  if (!req_.user_id.empty()) {
    if (auto it = s_.user_index.find(req_.user_id); it != s_.user_index.end()) {
      user_row_ = it->second;
      user_ = &s_.users[user_row_];
    }
  }
  filter_.has_include = !req_.filter.include_categories.empty();
  for (const auto& c : req_.filter.include_categories) {
    if (int32_t p = s_.FindPrefix(c); p >= 0) filter_.include.push_back(p);
  }
  for (const auto& c : req_.filter.exclude_categories) {
    if (int32_t p = s_.FindPrefix(c); p >= 0) filter_.exclude.push_back(p);
  }
  filter_.min_price = req_.filter.min_price;
  filter_.max_price = req_.filter.max_price;
  filter_.available_only = req_.filter.available_only;
  for (const auto& id : req_.filter.exclude_item_ids) {
    if (int32_t i = s_.FindItem(id); i >= 0) excluded_.insert(i);
  }
  for (const auto& id : req_.context_item_ids) {
    const int32_t i = s_.FindItem(id);
    if (i >= 0 &&
        std::find(context_.begin(), context_.end(), i) == context_.end()) {
      context_.push_back(i);
    }
  }
  if (req_.scenario == Scenario::kSimilarItems ||
      req_.scenario == Scenario::kFrequentlyBoughtTogether) {
    excluded_.insert(context_.begin(), context_.end());
  }
  include_seen_ =
      req_.include_seen || req_.scenario == Scenario::kRecentlyViewed;
  if (user_ != nullptr) {
    absl::flat_hash_set<int32_t> seen;
    const size_t limit =
        static_cast<size_t>(std::max(1, s_.options.co_occurrence_window));
    for (auto it = user_->history.rbegin();
         it != user_->history.rend() && recent_.size() < limit; ++it) {
      if (!seen.insert(it->item).second) continue;
      const UserItem* ui = user_->Find(it->item);
      const float w = ui != nullptr ? s_.Weight(*user_, *ui) : 0;
      if (w > 0) recent_.emplace_back(it->item, w);
    }
  }
}

// Items paired with the seeds, scored sum_seed log1p(w_seed) * c / sqrt(n n')
// (cosine over the binary user-item matrix, so that popular items do not
// dominate merely by being everywhere).
bool Engine::State::Runner::AnyColdNeighbor(
    const std::vector<std::pair<int32_t, float>>& seeds) const {
  if (b_ == nullptr) return false;
  for (const auto& [seed, w] : seeds) {
    if (static_cast<size_t>(seed) >= s_.co_all.size()) continue;
    for (const auto& [other, c] : s_.co_all[seed]) {
      if (s_.n_all[other] > 0 && b_->Row(other) < 0) return true;
    }
  }
  return false;
}

std::vector<Candidate> Engine::State::Runner::CoOccurrence(
    const std::vector<std::pair<int32_t, float>>& seeds, bool cart) const {
  std::vector<Candidate> out;
  if (Full()) return out;
  const auto& co = cart ? s_.co_cart : s_.co_all;
  const auto& n = cart ? s_.n_cart : s_.n_all;
  absl::flat_hash_map<int32_t, Candidate> acc;
  for (const auto& [seed, w] : seeds) {
    if (static_cast<size_t>(seed) >= co.size() || n[seed] <= 0) continue;
    const double wseed = std::log1p(static_cast<double>(w));
    for (const auto& [other, c] : co[seed]) {
      if (n[other] <= 0) continue;
      const double contribution =
          wseed * c / std::sqrt(static_cast<double>(n[seed]) * n[other]);
      Candidate& cand = acc[other];
      if (cand.item < 0) {
        cand.item = other;
        cand.source = Source::kCoOccurrence;
      }
      cand.score += contribution;
      if (contribution > cand.related_weight) {
        cand.related = seed;
        cand.related_weight = contribution;
      }
    }
  }
  // Eligibility once per distinct candidate, not per pair.
  out.reserve(acc.size());
  for (auto& [item, c] : acc) {
    if (!taken_.contains(item) && Eligible(item)) out.push_back(c);
  }
  // Hash order is arbitrary: fix it so ties resolve the same every time.
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  });
  return out;
}

// Items sharing a full category path with the seeds, by popularity.
std::vector<Candidate> Engine::State::Runner::Content(
    const std::vector<std::pair<int32_t, float>>& seeds) const {
  if (Full()) return {};
  constexpr size_t kMaxSeeds = 10;
  absl::flat_hash_map<int32_t, Candidate> acc;
  for (size_t k = 0; k < seeds.size() && k < kMaxSeeds; ++k) {
    const int32_t seed = seeds[k].first;
    for (int32_t leaf : s_.items[seed].leaves) {
      for (int32_t i : s_.prefix_items[leaf]) {
        if (taken_.contains(i) || acc.contains(i) || !Eligible(i)) continue;
        acc[i] = Candidate{i,
                           s_.popularity.ScoreAt(i, s_.now_ms),
                           Source::kContent,
                           ReasonCode::kSameCategory,
                           seed,
                           0};
      }
    }
  }
  std::vector<Candidate> out;
  out.reserve(acc.size());
  for (auto& [item, c] : acc) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  });
  return out;
}

// Tops up from a counter's ranking, then (so that `count` is met whenever
// enough eligible items exist) from the rest of the catalog in id order.
void Engine::State::Runner::Ranked(const DecayedCounters& counter,
                                   RankCache& cache, Source source,
                                   ReasonCode reason) {
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
  for (size_t i = 0; i < s_.items.size() && !Full(); ++i) {
    const auto item = static_cast<int32_t>(i);
    if (counter.Key(item) <= 0) Add({item, 0, source, reason, -1, 0});
  }
}

// Fraction of model items that pass the request's filters, from a fixed
// stride sample (deterministic, ~256 predicate calls).
double Engine::State::Runner::Selectivity() const {
  const int32_t n = b_->model->num_items();
  const int32_t step = std::max(1, n / 256);
  int sampled = 0, kept = 0;
  for (int32_t row = 0; row < n; row += step) {
    ++sampled;
    kept += Eligible(b_->model_to_engine[row]) ? 1 : 0;
  }
  return sampled == 0 ? 0 : static_cast<double>(kept) / sampled;
}

std::optional<std::vector<int32_t>> Engine::State::Runner::IncludedRows()
    const {
  if (!filter_.has_include) return std::nullopt;
  std::vector<int32_t> rows;
  for (int32_t p : filter_.include) {
    for (int32_t i : s_.prefix_items[p]) {
      const int32_t row = b_->Row(i);
      if (row >= 0 && !taken_.contains(i) && Eligible(i)) rows.push_back(row);
    }
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

std::vector<SearchHit> Engine::State::Runner::Retrieve(const float* q,
                                                       size_t need,
                                                       bool cosine) {
  const FactorModel& m = *b_->model;
  const RowMatrix& y = m.item_factors();
  const int32_t n = m.num_items();
  const auto keep = [this](int32_t row) {
    const int32_t i = b_->model_to_engine[row];
    return !taken_.contains(i) && Eligible(i);
  };
  const auto start = std::chrono::steady_clock::now();
  // An include filter names its candidates through the category index;
  // otherwise the selectivity is estimated from a sample.
  const std::optional<std::vector<int32_t>> rows = IncludedRows();
  const double selectivity =
      rows ? static_cast<double>(rows->size()) / std::max(1, n) : Selectivity();
  std::vector<SearchHit> hits;
  bool exact = true;
  if (const AnnIndex* ann = b_->Ann();
      ann != nullptr && selectivity >= s_.options.exact_below_selectivity) {
    // Over-fetch: seen, blocked and filtered items are dropped afterwards,
    // and a cosine ranking re-orders inner-product hits.
    int64_t k = static_cast<int64_t>(need + excluded_.size()) + 16;
    if (user_ != nullptr) k += static_cast<int64_t>(user_->items.size());
    k = static_cast<int64_t>(std::min<double>(
        n, std::ceil(static_cast<double>(k) / std::max(selectivity, 1e-3))));
    if (cosine) k *= 4;
    for (; k <= n / 2; k *= 2) {
      const int kk = static_cast<int>(k);
      const std::vector<SearchHit> raw = ann->Search(q, kk, kk);
      hits.clear();
      for (const SearchHit& h : raw) {
        if (keep(h.index)) hits.push_back(h);
      }
      if (hits.size() >= need || static_cast<int64_t>(raw.size()) < k) {
        exact = false;
        break;
      }
    }
  }
  if (exact) {
    hits.clear();
    if (rows) {
      const Eigen::Map<const Eigen::VectorXf> qv(q, m.factors());
      for (int32_t row : *rows) hits.push_back({row, y.row(row).dot(qv)});
    } else if (!cosine) {
      hits = ExactTopK(y, q, static_cast<int>(need), keep);
    } else {
      const Eigen::VectorXf scores =
          y * Eigen::Map<const Eigen::VectorXf>(q, m.factors());
      for (int32_t row = 0; row < n; ++row) {
        if (keep(row)) hits.push_back({row, scores[row]});
      }
    }
  }
  if (cosine) {
    for (SearchHit& h : hits) h.score *= b_->inv_norms[h.index];
  }
  const size_t top = std::min(need, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + top, hits.end(),
                    [](const SearchHit& a, const SearchHit& b) {
                      return a.score != b.score ? a.score > b.score
                                                : a.index < b.index;
                    });
  hits.resize(top);
  if (trace_ != nullptr) {
    (exact ? trace_->used_exact : trace_->used_ann) = true;
    trace_->retrieval_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  return hits;
}

std::vector<Candidate> Engine::State::Runner::ModelForYou() {
  if (Full()) return {};
  std::vector<Candidate> out;
  for (const SearchHit& h :
       Retrieve(UserVector(), want_ - out_.size(), /*cosine=*/false)) {
    out.push_back({b_->model_to_engine[h.index], h.score, Source::kFactorModel,
                   ReasonCode::kMatchesYourTaste, -1, 0});
  }
  return out;
}

// Cosine similarity of item vectors to the (normalised, summed) context
// vectors.
std::vector<Candidate> Engine::State::Runner::VectorSimilar() {
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

// Maximal marginal relevance over category overlap: each pick maximises
// lambda * relevance - (1 - lambda) * max similarity to the picks so far.
// Relevance is rank-based because candidates from different sources have
// incomparable scores.
void Engine::State::Runner::Diversify(size_t count) {
  if (out_.size() <= count) return;
  const double lambda = 1.0 - std::clamp(req_.diversity, 0.0, 1.0);
  const size_t n = out_.size();
  const auto similarity = [this](int32_t a, int32_t b) {
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

std::string Engine::State::Runner::Title(int32_t i) const {
  const ItemRec& rec = s_.items[i];
  return rec.in_catalog && !rec.item.title.empty() ? rec.item.title
                                                   : s_.item_ids[i];
}

Reason Engine::State::Runner::Explain(const Candidate& c) const {
  Reason r;
  r.code = c.reason;
  int32_t related = c.related;
  if (c.reason == ReasonCode::kMatchesYourTaste && b_ != nullptr &&
      user_ != nullptr) {
    // The user's item most similar to the recommendation.
    const FactorModel& m = *b_->model;
    const int32_t row = b_->Row(c.item);
    double best = -2;
    for (const auto& [item, w] : recent_) {
      const int32_t other = b_->Row(item);
      if (row < 0 || other < 0) continue;
      const double cos =
          m.item_factors().row(row).dot(m.item_factors().row(other)) *
          b_->inv_norms[row] * b_->inv_norms[other];
      if (cos > best) {
        best = cos;
        related = item;
      }
    }
  }
  if (related >= 0) r.related_item_id = s_.item_ids[related];
  const auto verb = [&](int32_t item) -> std::string_view {
    const UserItem* ui = user_ != nullptr ? user_->Find(item) : nullptr;
    return Verb(ui != nullptr ? ui->best : EventType::kView);
  };
  switch (c.reason) {
    case ReasonCode::kMatchesYourTaste:
    case ReasonCode::kBecauseYouInteracted:
      r.detail = related >= 0 ? absl::StrCat("Because you ", AV(verb(related)),
                                             " ", Title(related))
                              : "Matches your taste";
      break;
    case ReasonCode::kBoughtTogether:
      r.detail =
          c.source == Source::kCoOccurrence && related >= 0
              ? absl::StrCat("Frequently bought together with ", Title(related))
              : "Frequently bought together";
      break;
    case ReasonCode::kSimilarTo:
      r.detail = related >= 0 ? absl::StrCat("Similar to ", Title(related))
                              : "Similar items";
      break;
    case ReasonCode::kSameCategory: {
      const ItemRec& rec = s_.items[c.item];
      r.detail = rec.item.categories.empty()
                     ? std::string("Same category")
                     : absl::StrCat("More from ", rec.item.categories.front());
      break;
    }
    case ReasonCode::kTrending:
      r.detail = "Trending now";
      break;
    case ReasonCode::kRecentlyViewedByYou:
      r.detail = absl::StrCat("You ", AV(verb(c.item)), " this recently");
      break;
    default:
      r.detail = "Popular in the store";
      break;
  }
  return r;
}

absl::StatusOr<Recommendation> Engine::State::Runner::Run() {
  const Scenario scenario = req_.scenario;
  if (static_cast<int>(scenario) < 1 || static_cast<int>(scenario) > 5) {
    return absl::InvalidArgumentError("unknown scenario");
  }
  if (req_.count < 0) return absl::InvalidArgumentError("count must be >= 0");
  const bool context_scenario = scenario == Scenario::kSimilarItems ||
                                scenario == Scenario::kFrequentlyBoughtTogether;
  if (context_scenario && req_.context_item_ids.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        AV(ScenarioName(scenario)), " needs at least one context item id"));
  }
  Prepare();
  const size_t count = static_cast<size_t>(req_.count);
  const double diversity = std::clamp(req_.diversity, 0.0, 1.0);
  want_ = count + static_cast<size_t>(std::ceil(2 * diversity * count));

  Recommendation rec;
  if (b_ != nullptr) rec.model_version = b_->model->version();
  std::vector<std::pair<int32_t, float>> context_seeds;
  for (int32_t c : context_) context_seeds.emplace_back(c, 1.0f);
  const EngineOptions::ForYouSources& sources = s_.options.for_you;
  std::string fallback_reason;

  switch (scenario) {
    case Scenario::kForYou: {
      const bool has_vector = user_ != nullptr && b_ != nullptr &&
                              sources.factor_model && UserVector() != nullptr;
      if (has_vector) {
        std::vector<Candidate> cands = ModelForYou();
        if (sources.co_occurrence && !recent_.empty()) {
          // Blend in items the model does not know (new since training),
          // placed within the model's score range by their co-occurrence
          // strength relative to the strongest co-occurring item.
          // The latest few items bound the cost per request.
          constexpr size_t kColdSeeds = 10;
          const std::vector<std::pair<int32_t, float>> seeds(
              recent_.begin(),
              recent_.begin() + std::min(kColdSeeds, recent_.size()));
          // One pass over the co-occurrences, when there is a cold item
          // among them at all: the cold items, and the strongest
          // co-occurring item of any kind to scale them by (the list is
          // sorted, best first).
          const std::vector<Candidate> co = AnyColdNeighbor(seeds)
                                                ? CoOccurrence(seeds, false)
                                                : std::vector<Candidate>();
          double hi = 1, lo = 0;
          if (!cands.empty()) {
            hi = cands.front().score;
            lo = cands.back().score;
          }
          for (const Candidate& c : co) {
            if (b_->Row(c.item) >= 0) continue;  // the model ranked it
            Candidate cold = c;
            cold.reason = ReasonCode::kBecauseYouInteracted;
            cold.score = lo + (hi - lo) * (c.score / co.front().score);
            cands.push_back(cold);
          }
        }
        AddAll(std::move(cands));
      }
      if (!recent_.empty() && sources.co_occurrence) {
        std::vector<Candidate> co = CoOccurrence(recent_, false);
        for (Candidate& c : co) c.reason = ReasonCode::kBecauseYouInteracted;
        AddAll(std::move(co));
      }
      if (user_ == nullptr && !context_seeds.empty()) {
        std::vector<Candidate> co = CoOccurrence(context_seeds, false);
        for (Candidate& c : co) c.reason = ReasonCode::kSimilarTo;
        AddAll(std::move(co));
        if (b_ != nullptr) AddAll(VectorSimilar());
      }
      if (sources.content) {
        AddAll(Content(!recent_.empty() ? recent_ : context_seeds));
      }
      if (out_.empty()) {
        if (req_.user_id.empty() && context_.empty()) {
          fallback_reason = "anonymous user";
        } else if (user_ == nullptr && context_.empty()) {
          fallback_reason = "unknown user";
        } else if (recent_.empty() && context_.empty()) {
          fallback_reason = "no history";
        } else if (b_ == nullptr) {
          fallback_reason = "no model";
        } else {
          fallback_reason = "no personal candidates";
        }
      }
      Ranked(s_.popularity, s_.popularity_rank, Source::kPopularity,
             ReasonCode::kPopular);
      break;
    }
    case Scenario::kSimilarItems: {
      if (b_ != nullptr) AddAll(VectorSimilar());
      std::vector<Candidate> co = CoOccurrence(context_seeds, false);
      for (Candidate& c : co) c.reason = ReasonCode::kSimilarTo;
      AddAll(std::move(co));
      AddAll(Content(context_seeds));
      if (out_.empty()) {
        fallback_reason =
            context_.empty() ? "unknown context items" : "no similar items";
      }
      Ranked(s_.popularity, s_.popularity_rank, Source::kPopularity,
             ReasonCode::kPopular);
      break;
    }
    case Scenario::kFrequentlyBoughtTogether: {
      std::vector<Candidate> cart = CoOccurrence(context_seeds, true);
      for (Candidate& c : cart) c.reason = ReasonCode::kBoughtTogether;
      AddAll(std::move(cart));
      std::vector<Candidate> co = CoOccurrence(context_seeds, false);
      for (Candidate& c : co) c.reason = ReasonCode::kBoughtTogether;
      AddAll(std::move(co));
      if (out_.empty()) {
        fallback_reason =
            context_.empty() ? "unknown context items" : "no co-purchase data";
      }
      if (b_ != nullptr) AddAll(VectorSimilar());
      AddAll(Content(context_seeds));
      Ranked(s_.popularity, s_.popularity_rank, Source::kPopularity,
             ReasonCode::kPopular);
      break;
    }
    case Scenario::kRecentlyViewed:
      RecentlyViewed();
      break;
    case Scenario::kTrending:
      Ranked(s_.trending, s_.trending_rank, Source::kTrending,
             ReasonCode::kTrending);
      break;
  }
  if (context_scenario && context_.empty() && out_.empty()) {
    return absl::NotFoundError("none of the context items is known");
  }

  if (diversity > 0) Diversify(count);
  if (out_.size() > count) out_.resize(count);
  rec.fallback = !fallback_reason.empty();
  rec.fallback_reason = fallback_reason;
  if (!out_.empty()) rec.source = out_.front().source;
  const bool new_user = rec.fallback && (user_ == nullptr || recent_.empty());
  rec.items.reserve(out_.size());
  for (const Candidate& c : out_) {
    ScoredItem item;
    item.item_id = s_.item_ids[c.item];
    item.score = c.score;
    item.source = c.source;
    if (req_.explain) {
      item.reasons.push_back(Explain(c));
      if (new_user && c.source == Source::kPopularity) {
        item.reasons.push_back(
            {ReasonCode::kNewUserFallback, "", "Popular with other shoppers"});
      }
    }
    rec.items.push_back(std::move(item));
  }
  if (trace_ != nullptr) {
    for (size_t k = 0; k < by_source_.size(); ++k) {
      trace_->candidates_by_source[k] += by_source_[k];
    }
  }
  return rec;
}

// ---------------------------------------------------------------------------
// Engine

Engine::Engine(EngineOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}

Engine::~Engine() {
  // The background worker stops at its next chunk.
  state_->cancel_background = true;
  absl::MutexLock lock(&state_->refold_mu);
  if (state_->refold_thread.joinable()) state_->refold_thread.join();
}

void Engine::UpsertItems(std::span<const Item> items) {
  absl::MutexLock lock(&state_->mu);
  for (const Item& item : items) {
    if (!item.item_id.empty()) state_->Upsert(item);
  }
}

int Engine::DeleteItems(std::span<const std::string> item_ids) {
  absl::MutexLock lock(&state_->mu);
  int deleted = 0;
  for (const std::string& id : item_ids) deleted += state_->Delete(id) ? 1 : 0;
  return deleted;
}

std::optional<Item> Engine::GetItem(std::string_view item_id) const {
  absl::ReaderMutexLock lock(&state_->mu);
  const int32_t i = state_->FindItem(item_id);
  if (i < 0 || !state_->items[i].in_catalog) return std::nullopt;
  return state_->items[i].item;
}

void Engine::ApplyEvents(std::span<const Event> events) {
  std::vector<int32_t> touched;
  {
    absl::MutexLock lock(&state_->mu);
    for (const Event& e : events) state_->Apply(e, &touched);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  state_->FoldUsers(touched);
}

void Engine::ReplayEvents(std::span<const Event> events) {
  absl::MutexLock lock(&state_->mu);
  for (const Event& e : events) state_->Apply(e, nullptr);
}

void Engine::RefreshUserVectors() {
  state_->FoldUsers(state_->AllUsers(), state_->options.refold_threads);
}

std::optional<UserProfile> Engine::GetUser(std::string_view user_id) const {
  absl::ReaderMutexLock lock(&state_->mu);
  const UserRec* user = state_->FindUser(user_id);
  if (user == nullptr) return std::nullopt;
  UserProfile p;
  p.user_id = user->id;
  int64_t events = 0;
  for (int t = 1; t < kNumEventTypes; ++t) {
    if (user->counts[t] == 0) continue;
    p.event_counts[static_cast<EventType>(t)] = user->counts[t];
    if (static_cast<EventType>(t) != EventType::kImpression) {
      events += user->counts[t];
    }
  }
  absl::flat_hash_set<int32_t> seen;
  for (auto it = user->history.rbegin();
       it != user->history.rend() && p.recent_item_ids.size() < 20; ++it) {
    if (seen.insert(it->item).second) {
      p.recent_item_ids.push_back(state_->item_ids[it->item]);
    }
  }
  p.first_seen_ms = user->first_seen;
  p.last_seen_ms = user->last_seen;
  const int64_t purchases =
      user->counts[static_cast<int>(EventType::kPurchase)];
  if (events < 3) {
    p.segment = "new";
  } else if (purchases >= 2) {
    p.segment = "loyal";
  } else if (events >= 20) {
    p.segment = "engaged";
  } else {
    p.segment = "casual";
  }
  // Full category paths weighted by the user's positive weights.
  absl::flat_hash_map<int32_t, double> by_category;
  for (const UserItem& ui : user->items) {
    const float w = state_->Weight(*user, ui);
    if (w <= 0) continue;
    for (int32_t leaf : state_->items[ui.item].leaves) by_category[leaf] += w;
  }
  std::vector<std::pair<double, int32_t>> cats;
  for (const auto& [c, w] : by_category) cats.emplace_back(w, c);
  std::sort(cats.begin(), cats.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t k = 0; k < cats.size() && k < 5; ++k) {
    p.top_categories.push_back(state_->prefix_names[cats[k].second]);
  }
  // Personalised by the model: a vector solved against it, or one that
  // FOR_YOU would solve (the background re-fold has not reached the user).
  const auto b = state_->CurrentBinding();
  p.has_vector =
      b != nullptr &&
      ((!user->vec.empty() && user->vec_serial == b->serial) ||
       !state_->MakeFoldJob(state_->user_index.find(user_id)->second, *b)
            .rows.empty());
  return p;
}

bool Engine::EraseUser(std::string_view user_id) {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->user_index.find(user_id);
  if (it == state_->user_index.end()) return false;
  const int32_t u = it->second;
  state_->user_index.erase(it);
  state_->users[u] = UserRec();
  state_->free_users.push_back(u);
  return true;
}

std::shared_ptr<const FactorModel> Engine::SwapModel(
    std::shared_ptr<const FactorModel> model) {
  std::shared_ptr<Binding> b;
  if (model != nullptr) {
    b = std::make_shared<Binding>();
    const RowMatrix& y = model->item_factors();
    b->inv_norms.resize(model->num_items());
    for (int32_t r = 0; r < model->num_items(); ++r) {
      const float norm = y.row(r).norm();
      b->inv_norms[r] = norm > 0 ? 1.0f / norm : 0.0f;
    }
    b->model_to_engine.resize(model->num_items());
    absl::MutexLock lock(&state_->mu);
    for (int32_t r = 0; r < model->num_items(); ++r) {
      b->model_to_engine[r] = state_->InternItem(model->ItemId(r));
    }
    b->engine_to_model.assign(state_->items.size(), -1);
    for (int32_t r = 0; r < model->num_items(); ++r) {
      b->engine_to_model[b->model_to_engine[r]] = r;
    }
    b->model = std::move(model);
  }
  std::shared_ptr<const FactorModel> previous;
  // Held across the swap so that swaps and their re-folds stay in order.
  absl::MutexLock refold_lock(&state_->refold_mu);
  {
    absl::MutexLock lock(&state_->model_mu);
    if (b != nullptr) b->serial = state_->next_serial++;
    if (state_->binding != nullptr) previous = state_->binding->model;
    state_->binding = std::move(b);
  }
  // A running background worker stops at its next chunk.
  if (state_->refold_thread.joinable()) {
    state_->cancel_background = true;
    state_->refold_thread.join();
    state_->cancel_background = false;
  }
  State* s = state_.get();
  auto refold = [s](int threads) {
    std::shared_ptr<const Binding> b = s->CurrentBinding();
    if (b != nullptr && b->Ann() == nullptr &&
        b->model->num_items() >= s->options.model.ann_min_items) {
      const auto ann_start = std::chrono::steady_clock::now();
      AnnOptions ann_options = s->options.model.ann;
      ann_options.cancel = &s->cancel_background;
      // In the background, leave a core to serving as the re-fold does.
      if (ann_options.threads <= 0) ann_options.threads = threads;
      absl::StatusOr<std::unique_ptr<AnnIndex>> ann =
          AnnIndex::Build(b->model->item_factors(), ann_options);
      const double seconds = SecondsSince(ann_start);
      std::string message;
      if (ann.ok()) {
        auto with_ann = std::make_shared<Binding>(*b);
        with_ann->deferred_ann = *std::move(ann);
        absl::MutexLock lock(&s->model_mu);
        if (s->binding == b) {
          s->binding = with_ann;
          b = std::move(with_ann);
          const size_t vectors_mb = (b->model->item_factors().size() +
                                     b->model->user_factors().size()) *
                                        sizeof(float) >>
                                    20;
          message = absl::StrFormat(
              "built the ANN index over %d items of model %s in %.2f s "
              "(index %d MB; item and user vectors %d MB)",
              b->model->num_items(), b->model->version(), seconds,
              b->Ann()->MemoryBytes() >> 20, vectors_mb);
        }
      } else if (!absl::IsCancelled(ann.status())) {
        message = absl::StrCat("cannot build the ANN index of model ",
                               b->model->version(),
                               ", searching exactly: ", ann.status().message());
      }
      if (!message.empty() && s->options.on_background_done) {
        s->options.on_background_done(message);
      }
    }
    const auto start = std::chrono::steady_clock::now();
    const int64_t users = s->FoldUsers(s->AllUsers(), threads);
    const double seconds = SecondsSince(start);
    s->refold_users = users;
    s->refold_seconds = seconds;
    if (s->options.on_background_done && b != nullptr &&
        !s->cancel_background && s->CurrentBinding() == b) {
      s->options.on_background_done(absl::StrCat(
          "re-solved ", users, " user vectors against model ",
          b->model->version(), " in ", absl::StrFormat("%.2f", seconds), " s"));
    }
  };
  if (state_->options.refold_in_background) {
    int threads = state_->options.refold_threads;
    if (threads <= 0) {
      threads = static_cast<int>(
          std::max(2u, std::thread::hardware_concurrency()) - 1);
    }
    state_->refold_thread = std::thread(refold, threads);
  } else {
    refold(state_->options.refold_threads);
  }
  return previous;
}

double Engine::WaitForRefold(int64_t* users) {
  absl::MutexLock lock(&state_->refold_mu);
  if (state_->refold_thread.joinable()) state_->refold_thread.join();
  if (users != nullptr) *users = state_->refold_users;
  return state_->refold_seconds;
}

std::shared_ptr<const FactorModel> Engine::model() const {
  const auto b = state_->CurrentBinding();
  return b != nullptr ? b->model : nullptr;
}

absl::StatusOr<Recommendation> Engine::Recommend(
    const RecommendRequest& request, RecommendTrace* trace) const {
  // The binding (and so the model) is held for the whole request even if a
  // swap happens meanwhile.
  const std::shared_ptr<const Binding> b = state_->CurrentBinding();
  absl::ReaderMutexLock lock(&state_->mu);
  State::Runner runner(*state_, b.get(), request, trace);
  return runner.Run();
}

Engine::TrainingData Engine::ExportTrainingData() const {
  absl::ReaderMutexLock lock(&state_->mu);
  TrainingData data;
  std::vector<int32_t> column(state_->items.size(), -1);
  std::vector<Triplet> triplets;
  for (size_t u = 0; u < state_->users.size(); ++u) {
    const UserRec& user = state_->users[u];
    if (user.id.empty()) continue;
    const auto row = static_cast<int32_t>(data.user_ids.size());
    bool any = false;
    for (const UserItem& ui : user.items) {
      const float w = state_->Weight(user, ui);
      if (w <= 0) continue;
      int32_t& col = column[ui.item];
      if (col < 0) {
        col = static_cast<int32_t>(data.item_ids.size());
        data.item_ids.push_back(state_->item_ids[ui.item]);
      }
      triplets.push_back({row, col, w});
      any = true;
    }
    if (any) data.user_ids.push_back(user.id);
  }
  data.user_items = SparseRows::FromTriplets(
      static_cast<int32_t>(data.user_ids.size()),
      static_cast<int32_t>(data.item_ids.size()), std::move(triplets));
  return data;
}

EngineStats Engine::Stats() const {
  const auto b = state_->CurrentBinding();
  absl::ReaderMutexLock lock(&state_->mu);
  EngineStats st;
  st.items = state_->catalog_size;
  st.users = static_cast<int64_t>(state_->user_index.size());
  st.events = state_->events;
  for (const auto& [id, u] : state_->user_index) {
    const UserRec& user = state_->users[u];
    if (b != nullptr && !user.vec.empty() && user.vec_serial == b->serial) {
      ++st.users_with_vectors;
    }
  }
  if (b != nullptr) {
    st.model_version = b->model->version();
    st.model_trained_at_ms = b->model->metadata().trained_at_ms;
  }
  return st;
}

}  // namespace aisle::core
