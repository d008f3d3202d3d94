// Idempotency: duplicate event ids within a batch, across calls, restarts and
// racing writers, and the expiry of idempotency keys.
#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::core::Event;
using ::aisle::core::EventType;

TEST_F(StoreTest, DedupWithinBatchAcrossCallsAndAcrossReopen) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    std::vector<Event> batch = {MakeEvent("a", "u1", 1),
                                MakeEvent("b", "u1", 2),
                                MakeEvent("a", "u2", 3)};
    absl::StatusOr<AppendResult> r = store->AppendEvents(batch);
    ASSERT_OK(r);
    EXPECT_EQ(r->stored, (std::vector<bool>{true, true, false}));
    EXPECT_EQ(r->accepted, 2);
    EXPECT_EQ(r->duplicates, 1);

    std::vector<Event> again = {MakeEvent("b", "u1", 2),
                                MakeEvent("c", "u1", 4)};
    r = store->AppendEvents(again);
    ASSERT_OK(r);
    EXPECT_EQ(r->stored, (std::vector<bool>{false, true}));
  }
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> after_restart = {MakeEvent("a", "u1", 1),
                                      MakeEvent("c", "u1", 4),
                                      MakeEvent("d", "u1", 4)};
  absl::StatusOr<AppendResult> r = store->AppendEvents(after_restart);
  ASSERT_OK(r);
  EXPECT_EQ(r->stored, (std::vector<bool>{false, false, true}));
  std::vector<Event> all = ScanAll(*store);
  std::vector<std::string> ids;
  for (const Event& e : all) ids.push_back(e.event_id);
  // Equal timestamps keep arrival order, also across a restart.
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(StoreTest, ConcurrentOverlappingAppendsStoreEachIdOnce) {
  options_.durability = Durability::kMachine;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kIds = 2000;
  constexpr int kThreads = 8;
  std::atomic<int> accepted{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread sends every id, in its own order and batching, so
      // each id is raced by all eight threads.
      std::vector<int> ids(kIds);
      for (int i = 0; i < kIds; ++i) ids[i] = i;
      std::shuffle(ids.begin(), ids.end(), std::mt19937(t));
      const size_t batch_size = 1 + t * 7;
      for (size_t start = 0; start < ids.size(); start += batch_size) {
        std::vector<Event> batch;
        for (size_t k = start; k < std::min(ids.size(), start + batch_size);
             ++k) {
          const int id = ids[k];
          batch.push_back(MakeEvent(absl::StrCat("id", id),
                                    absl::StrCat("user", id % 13), id));
        }
        absl::StatusOr<AppendResult> r = store->AppendEvents(batch);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        accepted += r->accepted;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(accepted.load(), kIds);
  std::vector<Event> all = ScanAll(*store);
  std::set<std::string> distinct;
  for (const Event& e : all) distinct.insert(e.event_id);
  EXPECT_EQ(all.size(), static_cast<size_t>(kIds));
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kIds));
  int64_t counted = 0;
  for (int u = 0; u < 13; ++u) {
    absl::StatusOr<UserRecord> rec = store->GetUser(absl::StrCat("user", u));
    ASSERT_OK(rec);
    counted += rec->counts[static_cast<size_t>(EventType::kView)];
  }
  EXPECT_EQ(counted, kIds);
}

TEST_F(StoreTest, PruneIdempotencyKeysForgetsOldIds) {
  options_.idempotency_retention_ms = 1000;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendEvents(
      std::vector<Event>{MakeEvent("old", "u", 0), MakeEvent("mid", "u", 500),
                         MakeEvent("new", "u", 2000)}));
  absl::StatusOr<int64_t> pruned = store->PruneIdempotencyKeys(2500);
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 2);
  absl::StatusOr<AppendResult> r = store->AppendEvents(std::vector<Event>{
      MakeEvent("old", "u", 0), MakeEvent("new", "u", 2000)});
  ASSERT_OK(r);
  EXPECT_EQ(r->stored, (std::vector<bool>{true, false}));
  EXPECT_EQ(*store->PruneIdempotencyKeys(2500), 1);  // "old" again
}

}  // namespace
}  // namespace aisle::storage
