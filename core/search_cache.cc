#include "core/search_cache.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "core/vector_index.h"

namespace aisle::core {

template <typename Hit>
SearchCache<Hit>::SearchCache(size_t capacity)
    : per_shard_(capacity == 0 ? 0 : std::max<size_t>(1, capacity / kShards)) {
  if (per_shard_ > 0) {
    seen_ = std::make_unique<std::atomic<uint32_t>[]>(kSeenSlots);
  }
}

template <typename Hit>
SearchCache<Hit>::Key::Key(std::string_view q, const std::array<int64_t, 4>& n)
    : query(q),
      numbers(n),
      // As absl::string_view: Abseil's own hash of the bytes (this
      // Abseil's string_view is not std's, whose hash it would leave to
      // libstdc++'s slower byte-at-a-time one).
      hash(absl::HashOf(n[0], n[1], n[2], n[3],
                        absl::string_view(q.data(), q.size()))) {}

template <typename Hit>
bool SearchCache<Hit>::Matches(const Entry& e, const Key& key) {
  return e.used && e.hash == key.hash && e.numbers == key.numbers &&
         e.query == key.query;
}

template <typename Hit>
bool SearchCache<Hit>::Find(const Key& key, std::vector<Hit>* hits) const {
  if (per_shard_ == 0) return false;
  const uint64_t hash = key.hash;
  const Shard& shard = shards_[hash % kShards];
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.slot_of.find(hash);
    if (it != shard.slot_of.end()) {
      const Entry& e = shard.entries[it->second];
      if (Matches(e, key)) {
        hits->assign(e.hits.begin(), e.hits.end());
        hits_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

template <typename Hit>
void SearchCache<Hit>::Put(const Key& key, const std::vector<Hit>& hits) {
  if (per_shard_ == 0) return;
  const uint64_t hash = key.hash;
  // Second sight: the slot is picked by the hash's low bits, the
  // fingerprint is its high half (never 0, the empty slot).
  std::atomic<uint32_t>& seen = seen_[hash % kSeenSlots];
  const uint32_t fingerprint = static_cast<uint32_t>(hash >> 32) | 1;
  if (seen.load(std::memory_order_relaxed) != fingerprint) {
    seen.store(fingerprint, std::memory_order_relaxed);
    return;
  }
  Shard& shard = shards_[hash % kShards];
  absl::MutexLock lock(&shard.mu);
  auto it = shard.slot_of.find(hash);
  if (it != shard.slot_of.end() && Matches(shard.entries[it->second], key)) {
    return;  // another thread kept the same answer meanwhile
  }
  uint32_t slot;
  if (shard.entries.size() < per_shard_) {
    slot = static_cast<uint32_t>(shard.entries.size());
    shard.entries.emplace_back();
  } else {
    slot = static_cast<uint32_t>(shard.next);
    shard.next = (shard.next + 1) % per_shard_;
    const Entry& oldest = shard.entries[slot];
    auto old = shard.slot_of.find(oldest.hash);
    if (old != shard.slot_of.end() && old->second == slot) {
      shard.slot_of.erase(old);
    }
  }
  Entry& e = shard.entries[slot];
  e.hash = hash;
  e.used = true;
  e.numbers = key.numbers;
  e.query.assign(key.query.data(), key.query.size());
  e.hits.assign(hits.begin(), hits.end());
  shard.slot_of[hash] = slot;
}

template <typename Hit>
SearchCacheStats SearchCache<Hit>::stats() const {
  SearchCacheStats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  if (seen_ != nullptr) s.bytes += kSeenSlots * sizeof(std::atomic<uint32_t>);
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    s.entries += shard.slot_of.size();
    s.bytes += shard.slot_of.capacity() * (sizeof(uint64_t) + 8) +
               shard.entries.capacity() * sizeof(Entry);
    for (const Entry& e : shard.entries) {
      s.bytes += e.query.capacity() + e.hits.capacity() * sizeof(Hit);
    }
  }
  return s;
}

// The hit types of AnnIndex and ContentIndex::MatchFresh.
template class SearchCache<SearchHit>;
template class SearchCache<std::pair<int32_t, double>>;

}  // namespace aisle::core
