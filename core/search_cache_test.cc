#include "core/search_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include "core/vector_index.h"

namespace aisle::core {
namespace {

constexpr int kDim = 4;
using Cache = SearchCache<SearchHit>;

// The key AnnIndex uses: the query's bytes, then graph, k and beam.
Cache::Key K(int graph, const float* q, int k, int beam) {
  return {
      std::string_view(reinterpret_cast<const char*>(q), kDim * sizeof(float)),
      {graph, k, beam, 0}};
}

std::vector<SearchHit> Hits(int first, int n) {
  std::vector<SearchHit> hits;
  for (int i = 0; i < n; ++i) {
    hits.push_back({first + i, 1.0f / static_cast<float>(i + 1)});
  }
  return hits;
}

void ExpectSameHits(const std::vector<SearchHit>& a,
                    const std::vector<SearchHit>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_EQ(a[i].score, b[i].score);
  }
}

TEST(SearchCacheTest, GivesBackWhatWasKeptForExactlyThatSearch) {
  Cache cache(64);
  const float q[kDim] = {0.5f, -1.0f, 2.0f, 0.25f};
  std::vector<SearchHit> got;
  EXPECT_FALSE(cache.Find(K(0, q, 10, 20), &got));
  // Seen once: only remembered, not kept.
  cache.Put(K(0, q, 10, 20), Hits(7, 10));
  EXPECT_FALSE(cache.Find(K(0, q, 10, 20), &got));
  EXPECT_EQ(cache.stats().entries, 0u);
  cache.Put(K(0, q, 10, 20), Hits(7, 10));
  ASSERT_TRUE(cache.Find(K(0, q, 10, 20), &got));
  ExpectSameHits(got, Hits(7, 10));

  // Any other graph, k, beam or query bit is another search.
  float other[kDim];
  std::memcpy(other, q, sizeof(q));
  uint32_t bits;
  std::memcpy(&bits, &other[2], sizeof(bits));
  bits ^= 1;  // the lowest mantissa bit
  std::memcpy(&other[2], &bits, sizeof(bits));
  std::vector<SearchHit> untouched = Hits(100, 1);
  EXPECT_FALSE(cache.Find(K(1, q, 10, 20), &untouched));
  EXPECT_FALSE(cache.Find(K(0, q, 11, 20), &untouched));
  EXPECT_FALSE(cache.Find(K(0, q, 10, 21), &untouched));
  EXPECT_FALSE(cache.Find(K(0, other, 10, 20), &untouched));
  ExpectSameHits(untouched, Hits(100, 1));  // a miss leaves *hits alone

  const SearchCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 6u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_GT(stats.bytes, 0u);
}

TEST(SearchCacheTest, KeepsAtMostItsCapacityAndForgetsTheOldestFirst) {
  Cache cache(16);  // two per shard
  std::vector<std::vector<float>> queries;
  for (int i = 0; i < 200; ++i) {
    queries.push_back({static_cast<float>(i), 1, 2, 3});
    cache.Put(K(0, queries.back().data(), 5, 5), Hits(i, 3));  // seen
    cache.Put(K(0, queries.back().data(), 5, 5), Hits(i, 3));  // kept
  }
  EXPECT_LE(cache.stats().entries, 16u);
  EXPECT_GE(cache.stats().entries, 8u);
  std::vector<SearchHit> got;
  EXPECT_FALSE(cache.Find(K(0, queries[0].data(), 5, 5), &got));
  // The last query put is the newest entry of its shard: still kept.
  ASSERT_TRUE(cache.Find(K(0, queries[199].data(), 5, 5), &got));
  ExpectSameHits(got, Hits(199, 3));
}

TEST(SearchCacheTest, CapacityZeroKeepsNothing) {
  Cache cache(0);
  const float q[kDim] = {1, 2, 3, 4};
  cache.Put(K(0, q, 1, 1), Hits(0, 1));
  cache.Put(K(0, q, 1, 1), Hits(0, 1));
  std::vector<SearchHit> got;
  EXPECT_FALSE(cache.Find(K(0, q, 1, 1), &got));
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().misses, 0u);  // nothing looked up
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(SearchCacheTest, AQuerySeenOnceAmongManyOthersIsNeverKept) {
  Cache cache(1024);
  std::vector<SearchHit> got;
  for (int i = 0; i < 5000; ++i) {
    const float q[kDim] = {static_cast<float>(i), 0, 1, 0};
    EXPECT_FALSE(cache.Find(K(0, q, 3, 3), &got));
    cache.Put(K(0, q, 3, 3), Hits(i, 3));
  }
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(SearchCacheTest, ConcurrentFindsAndPutsAlwaysGiveTheAnswerOfTheirKey) {
  Cache cache(32);
  // The answer to query i is Hits(i, 4): whatever a Find returns must be
  // that, however Puts and evictions interleave.
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, &wrong, t] {
      std::vector<SearchHit> got;
      for (int n = 0; n < 20000; ++n) {
        const int i = (n * 7 + t * 13) % 97;
        const float q[kDim] = {static_cast<float>(i), 0, 0, 1};
        if (cache.Find(K(0, q, 4, 4), &got)) {
          if (got.size() != 4 || got[0].index != i) ++wrong[t];
        } else {
          cache.Put(K(0, q, 4, 4), Hits(i, 4));
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0);
  const SearchCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits + stats.misses, 4u * 20000u);
  EXPECT_GT(stats.hits, 0u);
  EXPECT_LE(stats.entries, 32u);
}

}  // namespace
}  // namespace aisle::core
