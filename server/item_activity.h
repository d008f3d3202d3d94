// ItemActivity: how often each item was recommended, and the events
// stored for it, since this process started (the console's Item page:
// "recommended, clicked and bought"). The engine keeps only decayed
// popularity and the store keeps events per user, so neither can answer
// "how many clicks has this item had" cheaply; these counters can.
//
// Counted in memory, per process: a restart starts from zero, and in
// cluster mode each node counts the Recommend answers it gave itself (and
// every event, since every node applies every write). At most
// `max_items` distinct items are counted, so a client sending events for
// endless made-up item ids cannot grow it without bound; items first
// seen after that are not counted (full() says so).
//
// Thread safety: all methods may be called concurrently; the counters are
// sharded so that concurrent Recommend calls rarely wait for each other.
#ifndef AISLE_SERVER_ITEM_ACTIVITY_H_
#define AISLE_SERVER_ITEM_ACTIVITY_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/types.h"

namespace aisle::server {

class ItemActivity {
 public:
  struct Counts {
    int64_t recommended = 0;  // times in a Recommend answer
    std::array<int64_t, core::kNumEventTypes> events{};  // by EventType
  };

  // `started_ms`: when counting began (shown as "since"). Default max:
  // one million items (about 150 MB at most).
  explicit ItemActivity(int64_t started_ms, int64_t max_items = 1'000'000);
  ItemActivity(const ItemActivity&) = delete;
  ItemActivity& operator=(const ItemActivity&) = delete;

  // Each item of one Recommend answer, once.
  void Recommended(const core::Recommendation& recommendation);
  // One newly stored event (not a duplicate).
  void EventStored(const core::Event& event);

  // The counts of `item_id`; all zero for an item never counted.
  Counts Get(std::string_view item_id) const;
  int64_t started_ms() const { return started_ms_; }
  // Whether some item was not counted because max_items were.
  bool full() const { return full_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Counts> counts ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(std::string_view item_id) const;
  // The counts of `item_id` in `shard`, created unless max_items are
  // counted (then null).
  Counts* Find(Shard& shard, std::string_view item_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const int64_t started_ms_;
  const int64_t max_items_;
  std::atomic<int64_t> items_{0};
  std::atomic<bool> full_{false};
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_ITEM_ACTIVITY_H_
