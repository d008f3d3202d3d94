#include "server/item_activity.h"

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace aisle::server {
namespace {

// This abseil's string_view is its own type, which its string hash takes
// for heterogeneous lookup (std::string_view is not).
absl::string_view Key(std::string_view id) {
  return absl::string_view(id.data(), id.size());
}

}  // namespace

ItemActivity::ItemActivity(int64_t started_ms, int64_t max_items)
    : started_ms_(started_ms), max_items_(max_items) {}

ItemActivity::Shard& ItemActivity::ShardOf(std::string_view item_id) const {
  return shards_[absl::HashOf(Key(item_id)) % kShards];
}

ItemActivity::Counts* ItemActivity::Find(Shard& shard,
                                         std::string_view item_id) {
  auto it = shard.counts.find(Key(item_id));
  if (it != shard.counts.end()) return &it->second;
  // Reserve a place first, so that concurrent shards never count more
  // than max_items between them.
  if (items_.fetch_add(1, std::memory_order_relaxed) >= max_items_) {
    items_.fetch_sub(1, std::memory_order_relaxed);
    full_.store(true, std::memory_order_relaxed);
    return nullptr;
  }
  return &shard.counts.try_emplace(std::string(item_id)).first->second;
}

void ItemActivity::Recommended(const core::Recommendation& recommendation) {
  for (const core::ScoredItem& item : recommendation.items) {
    Shard& shard = ShardOf(item.item_id);
    absl::MutexLock lock(&shard.mu);
    if (Counts* counts = Find(shard, item.item_id)) ++counts->recommended;
  }
}

void ItemActivity::EventStored(const core::Event& event) {
  const int type = static_cast<int>(event.type);
  // A SEARCH may name no item.
  if (type < 0 || type >= core::kNumEventTypes || event.item_id.empty()) {
    return;
  }
  Shard& shard = ShardOf(event.item_id);
  absl::MutexLock lock(&shard.mu);
  if (Counts* counts = Find(shard, event.item_id)) ++counts->events[type];
}

ItemActivity::Counts ItemActivity::Get(std::string_view item_id) const {
  const Shard& shard = ShardOf(item_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.counts.find(Key(item_id));
  return it == shard.counts.end() ? Counts() : it->second;
}

}  // namespace aisle::server
