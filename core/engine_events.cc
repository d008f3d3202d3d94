// Applying events to Engine::State: the user's history and items (r_ui),
// popularity and trending counters, and item co-occurrence (all positive
// interactions, and cart/purchase only). Also EventWeights::For.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/engine_state.h"
#include "core/small_int_set.h"
#include "core/transitions.h"

namespace aisle::core {
namespace {

// Strength of an event type as evidence, for "Because you <verb> X".
int TypeRank(EventType t) {
  switch (t) {
    case EventType::kPurchase:
      return 5;
    case EventType::kAddToCart:
      return 4;
    case EventType::kFavorite:
      return 3;
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

}  // namespace

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
    case EventType::kFavorite:
      return favorite;
    default:
      return 0;
  }
}

// Pairs `item` with the user's last distinct items (before this event) that
// were counted the same way, once per user and pair.
void Engine::State::CountPairs(UserRec& user, int32_t item, bool cart) {
  auto& co = cart ? co_cart : co_all;
  auto& n = cart ? n_cart : n_all;
  n[item] += 1;
  if (!cart) content.SetFresh(item, false);  // its first event ends "new"
  const size_t window =
      static_cast<size_t>(std::max(0, options.co_occurrence_window));
  // The partners first, most recent first, then their neighbour lists
  // asked for at once: each is a cache miss or three in a table of every
  // item, taken in parallel instead of one after another.
  SmallIntSet partners;
  for (auto it = user.history.rbegin();
       it != user.history.rend() && partners.size() < window; ++it) {
    const int32_t other = it->item;
    if (other == item) continue;
    if (cart) {
      if (it->type != EventType::kAddToCart && it->type != EventType::kPurchase)
        continue;
    } else {
      const UserItem* ui = user.Find(other);
      if (ui == nullptr || !(ui->flags & kCounted)) continue;
    }
    partners.Insert(other);
  }
  const std::span<const int32_t> others = partners.values();
  for (int32_t other : others) __builtin_prefetch(&co[other]);
  for (int32_t other : others) co[other].prefetch(item);
  auto& mine = co[item];
  for (int32_t other : others) {
    mine[other] += 1;
    co[other][item] += 1;
    if (!cart) {
      near_cold.Forget(item);
      near_cold.Forget(other);
    }
  }
  const size_t cap =
      static_cast<size_t>(std::max(1, options.co_occurrence_max_neighbors));
  PruneNeighbors(mine, cap);
  for (int32_t other : others) PruneNeighbors(co[other], cap);
}

void Engine::State::PrefetchApply(std::span<const Event> events) const {
  // In three rounds, each reading what the one before asked for: the
  // index slots, then the records they point to, then what those hold.
  for (const Event& e : events) {
    user_index.prefetch(e.user_id);
    if (!e.item_id.empty()) item_index.prefetch(e.item_id);
  }
  absl::InlinedVector<const UserRec*, 32> found;
  for (const Event& e : events) {
    if (auto u = user_index.find(e.user_id); u != user_index.end()) {
      found.push_back(&users[u->second]);
      __builtin_prefetch(found.back());
    }
    if (e.item_id.empty()) continue;
    if (auto i = item_index.find(e.item_id); i != item_index.end()) {
      const int32_t item = i->second;
      popularity.Prefetch(item);
      trending.Prefetch(item);
      __builtin_prefetch(&co_all[item]);
      __builtin_prefetch(&positive_users[item]);
    }
  }
  for (const UserRec* user : found) {
    if (!user->history.empty()) __builtin_prefetch(&user->history.back());
    if (!user->items.empty()) {
      __builtin_prefetch(&user->items[user->items.size() / 2]);
    }
  }
}

void Engine::State::Apply(const Event& e, std::vector<int32_t>* touched,
                          bool aggregates) {
  // What server::ValidateEvent and the store guarantee (see ApplyEvents).
  AISLE_DCHECK(!e.user_id.empty() &&
               (!e.item_id.empty() || e.type == EventType::kSearch));
  AISLE_DCHECK(e.type != EventType::kUnspecified &&
               static_cast<int>(e.type) < kNumEventTypes);
  const int32_t u = InternUser(e.user_id);
  UserRec& user = users[u];
  if (aggregates) ++events;
  now_ms = std::max(now_ms, e.timestamp_ms);
  ++user.counts[static_cast<int>(e.type)];
  if (user.first_seen == 0 || e.timestamp_ms < user.first_seen) {
    user.first_seen = e.timestamp_ms;
  }
  user.last_seen = std::max(user.last_seen, e.timestamp_ms);
  // A search is taste in words, not in an item: it joins the user's
  // content profile only (its item_id, if any, carries nothing).
  if (e.type == EventType::kSearch) {
    if (e.query.empty()) return;
    auto& searches = user.searches;
    // Arrival order, as the history: a late-arriving older query still
    // counts among the latest received.
    searches.push_back({e.timestamp_ms, e.query});
    const size_t keep =
        static_cast<size_t>(std::max(0, options.content.max_searches));
    if (searches.size() > keep) {
      searches.erase(searches.begin(),
                     searches.end() - static_cast<int64_t>(keep));
    }
    return;
  }
  const int32_t item = InternItem(e.item_id);
  // Impressions are attribution, not taste: counted, nothing else.
  if (e.type == EventType::kImpression) {
    if (aggregates) impressions.Add(item, 1, e.timestamp_ms);
    return;
  }

  const float w = options.weights.For(e.type, e.value);
  if (w > 0 && aggregates) {
    popularity.Add(item, w, e.timestamp_ms);
    trending.Add(item, w, e.timestamp_ms);
  }
  if (e.type == EventType::kPurchase && aggregates) {
    bestsellers.Add(item, 1, e.timestamp_ms);
  }
  UserItem& ui = user.FindOrInsert(item);
  const bool was_positive = PositivePair(ui);
  ui.last_sec = std::max<uint32_t>(
      ui.last_sec,
      static_cast<uint32_t>(std::clamp<int64_t>(
          e.timestamp_ms / 1000, 0, std::numeric_limits<uint32_t>::max())));
  if (TypeRank(e.type) > TypeRank(static_cast<EventType>(ui.best))) {
    ui.best = static_cast<uint8_t>(e.type);
  }
  const double attribute_weight = AttributeWeight(ui);
  if (e.type == EventType::kDislike) {
    ui.flags |= kBlocked;
    ui.weight = 0;
  } else if (!(ui.flags & kBlocked)) {
    ui.weight = std::max(0.0f, ui.weight + w);
  }
  if (const AttributedUser* a = FindAttributed(user.id)) {
    attribute_popularity.Add(a->values, item,
                             AttributeWeight(ui) - attribute_weight);
  }
  if (const bool now_positive = PositivePair(ui);
      now_positive != was_positive) {
    positive_users[item] += now_positive ? 1 : -1;
    // Its first positive user may make it cold for the lists it is in.
    if (now_positive && positive_users[item] == 1) {
      for (const auto& [other, c] : co_all[item]) near_cold.Forget(other);
    }
  }
  const bool positive = ui.weight > 0;
  const bool count_all = positive && !(ui.flags & kCounted);
  const bool count_cart =
      (e.type == EventType::kAddToCart || e.type == EventType::kPurchase) &&
      !(ui.flags & (kCarted | kBlocked));
  if (count_all) ui.flags |= kCounted;
  if (count_cart) ui.flags |= kCarted;
  const bool follows = w > 0 && !(ui.flags & kBlocked);
  // `ui` may move when CountPairs looks other items up: flags are set first.
  if (count_all && aggregates) CountPairs(user, item, /*cart=*/false);
  if (count_cart && aggregates) CountPairs(user, item, /*cart=*/true);

  // Before the event joins the history: it follows the user's earlier items.
  if (follows && aggregates) CountTransitions(user, item, e.timestamp_ms);
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

void Engine::State::RecountPositiveUsers() {
  positive_users.assign(items.size(), 0);
  for (const UserRec& user : users) {
    for (const UserItem& ui : user.items) {
      if (PositivePair(ui)) ++positive_users[ui.item];
    }
  }
}

}  // namespace aisle::core
