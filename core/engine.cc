// The Engine facade: locking and the small methods of the public API.
// The work lives beside it, on Engine::State (core/engine_state.h):
//   engine_catalog.cc    items and the category index
//   engine_events.cc     applying events (history, counters, co-occurrence)
//   refold.cc            folding users in; SwapModel and the work after it
//   recommend.cc         Recommend (core/recommend_runner.h lists the rest)
#include "core/engine.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/engine_state.h"

namespace aisle::core {

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
    state_->PrefetchApply(events);
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

std::optional<UserProfile> Engine::GetUser(std::string_view user_id) const {
  absl::ReaderMutexLock lock(&state_->mu);
  const State::UserRec* user = state_->FindUser(user_id);
  const State::AttributedUser* attributed = state_->FindAttributed(user_id);
  if (user == nullptr && attributed == nullptr) return std::nullopt;
  UserProfile p;
  p.user_id = std::string(user_id);
  if (attributed != nullptr) {
    p.attributes = state_->attribute_popularity.Attributes(attributed->values);
  }
  if (user == nullptr) {  // attributes only: no history yet
    p.segment = "new";
    p.activity_level = "new";
    return p;
  }
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
  // The timeline merges the item history with the searches the engine
  // keeps (ContentOptions::max_searches), by time, both most recent first.
  constexpr size_t kTimeline = 20;
  auto it = user->history.rbegin();
  auto search = user->searches.rbegin();
  while (p.recent_events.size() < kTimeline &&
         (it != user->history.rend() || search != user->searches.rend())) {
    if (search == user->searches.rend() ||
        (it != user->history.rend() && it->ts >= search->ts)) {
      p.recent_events.push_back(
          {state_->item_ids[it->item], it->type, it->ts, ""});
      ++it;
    } else {
      p.recent_events.push_back(
          {"", EventType::kSearch, search->ts, search->query});
      ++search;
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
  for (const State::UserItem& ui : user->items) {
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
  state_->DescribeTaste(state_->user_index.find(user_id)->second, b.get(), &p);
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
  bool had_attributes = false;
  if (auto a = state_->attributed_users.find(ToAbsl(user_id));
      a != state_->attributed_users.end()) {
    if (it != state_->user_index.end()) {
      state_->CountUserAttributes(state_->users[it->second], a->second.values,
                                  -1);
    }
    state_->attributed_users.erase(a);
    had_attributes = true;
  }
  if (it == state_->user_index.end()) return had_attributes;
  const int32_t u = it->second;
  for (const State::UserItem& ui : state_->users[u].items) {
    if (State::PositivePair(ui)) --state_->positive_users[ui.item];
  }
  state_->user_index.erase(it);
  state_->users[u] = State::UserRec();
  state_->free_users.push_back(u);
  return true;
}

std::shared_ptr<const FactorModel> Engine::model() const {
  const auto b = state_->CurrentBinding();
  return b != nullptr ? b->model : nullptr;
}

Engine::TrainingData Engine::ExportTrainingData() const {
  absl::ReaderMutexLock lock(&state_->mu);
  TrainingData data;
  std::vector<int32_t> column(state_->items.size(), -1);
  std::vector<Triplet> triplets;
  for (size_t u = 0; u < state_->users.size(); ++u) {
    const State::UserRec& user = state_->users[u];
    if (user.id.empty()) continue;
    const auto row = static_cast<int32_t>(data.user_ids.size());
    bool any = false;
    for (const State::UserItem& ui : user.items) {
      const float w = state_->Weight(user, ui);
      if (w <= 0) continue;
      int32_t& col = column[ui.item];
      if (col < 0) {
        col = static_cast<int32_t>(data.item_ids.size());
        data.item_ids.push_back(state_->item_ids[ui.item]);
        const State::ItemRec& rec = state_->items[ui.item];
        data.item_facts.categories.push_back(
            rec.in_catalog ? rec.item.categories : std::vector<std::string>{});
        data.item_facts.prices.push_back(rec.in_catalog ? rec.item.price : 0);
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
    const State::UserRec& user = state_->users[u];
    if (b != nullptr && !user.vec.empty() && user.vec_serial == b->serial) {
      ++st.users_with_vectors;
    }
  }
  if (b != nullptr) {
    st.model_version = b->model->version();
    st.model_trained_at_ms = b->model->metadata().trained_at_ms;
    if (const AnnIndex* ann = b->Ann(); ann != nullptr) {
      const AnnIndex::CacheStats cache = ann->cache_stats();
      st.ann_cache_hits = cache.hits;
      st.ann_cache_misses = cache.misses;
      st.ann_cache_entries = static_cast<int64_t>(cache.entries);
    }
  }
  return st;
}

}  // namespace aisle::core
