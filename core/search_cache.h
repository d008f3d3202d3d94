// SearchCache: the answers to the most recent distinct searches of one
// index, to give again without searching.
//
// A search of an unchanged index is a pure function of its query and its
// parameters, so an answer kept under the exact query bytes and
// parameters is the answer a new search would give, bit for bit (an index
// that changes puts its version among the parameters). Used by AnnIndex
// (the vector searches) and ContentIndex (the new items matching a
// shopper's content profile). The same query comes back
// in real traffic: every shopper on a popular product page asks for the
// items similar to that product (the same item vector), and a shopper who
// reloads or pages without a new event asks with the same user vector.
// One event changes the user's vector, and with it the key.
//
// Kept from the second sight: a search is kept only when its key's hash
// was seen recently (a table of 64k fingerprints, 256 KB, each slot
// holding the last hash that fell on it). Queries seen once, most of them
// when users are spread over a large user base, would otherwise each
// write a copy of themselves and their hits (about 600 bytes) into the
// cache and stream through it, pushing the index's graph out of the
// CPU's cache for answers that are never asked for again.
//
// Bounded: `capacity` entries in all, spread over shards by the query's
// hash; a full shard overwrites its oldest entry (first in, first out).
// An entry holds a copy of its query and its hits (at 64 dimensions and
// k = 40, about 600 bytes).
//
// Thread safety: Find and Put may be called concurrently from any thread
// (one mutex per shard, held while copying an entry in or out).
#ifndef AISLE_CORE_SEARCH_CACHE_H_
#define AISLE_CORE_SEARCH_CACHE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace aisle::core {

struct SearchCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  size_t entries = 0;
  size_t bytes = 0;  // of entries and tables, as allocated
};

// Hit: the type of one element of an answer (trivially copyable).
// Instantiated in search_cache.cc for the hit types of AnnIndex and
// ContentIndex.
template <typename Hit>
class SearchCache {
 public:
  // What identifies one search: the query, compared byte for byte, and
  // up to four numbers (which graph, k, beam width, index version...).
  // The key's hash is computed once, when it is made, for both the Find
  // and the Put of one search.
  struct Key {
    Key(std::string_view query, const std::array<int64_t, 4>& numbers);
    std::string_view query;
    std::array<int64_t, 4> numbers;
    uint64_t hash;
  };

  // Keeps up to `capacity` answers (at least one per shard when
  // capacity > 0). capacity 0 keeps nothing: Find always misses (without
  // counting) and Put does nothing.
  explicit SearchCache(size_t capacity);
  SearchCache(const SearchCache&) = delete;
  SearchCache& operator=(const SearchCache&) = delete;

  // Copies the kept answer to `key` into *hits and returns true, or
  // returns false (and leaves *hits alone) when none is kept.
  bool Find(const Key& key, std::vector<Hit>* hits) const;
  // Keeps `hits` as the answer to `key`, in place of the shard's oldest
  // entry when the shard is full, if `key` was Put before and not
  // forgotten since (else only remembers that it was seen).
  void Put(const Key& key, const std::vector<Hit>& hits);

  SearchCacheStats stats() const;

 private:
  static constexpr size_t kShards = 8;
  static constexpr size_t kSeenSlots = 1 << 16;

  struct Entry {
    uint64_t hash = 0;
    bool used = false;
    std::array<int64_t, 4> numbers{};
    std::string query;
    std::vector<Hit> hits;
  };
  struct Shard {
    mutable absl::Mutex mu;
    // hash -> slot in `entries`. Two keys of one hash share a mapping:
    // the later Put takes it, and Find compares the whole key.
    absl::flat_hash_map<uint64_t, uint32_t> slot_of ABSL_GUARDED_BY(mu);
    std::vector<Entry> entries ABSL_GUARDED_BY(mu);
    size_t next ABSL_GUARDED_BY(mu) = 0;  // the slot the next Put takes
  };

  static bool Matches(const Entry& e, const Key& key);

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
  // Fingerprints of recently Put keys, by hash (see "second sight").
  std::unique_ptr<std::atomic<uint32_t>[]> seen_;
  mutable std::atomic<uint64_t> hits_{0};
  mutable std::atomic<uint64_t> misses_{0};
};

}  // namespace aisle::core

#endif  // AISLE_CORE_SEARCH_CACHE_H_
