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
                                MakeEvent("a", "u1", 3)};
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
  // Folds all along: an id being folded is still found (folding_ids).
  std::atomic<bool> appended{false};
  int folds = 0;
  std::thread folder([&] {
    for (; !appended.load() && folds < 1000; ++folds) {
      if (!store->Flush().ok()) ++failures;
    }
  });
  for (std::thread& t : threads) t.join();
  appended = true;
  folder.join();
  EXPECT_GT(folds, 0);
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

// A store that keeps idempotency keys for 1 s of its clock, `now` (ms),
// which a test moves.
class PruneTest : public StoreTest {
 protected:
  std::unique_ptr<Store> OpenOnClock() {
    options_.idempotency_retention_ms = 1000;
    options_.now_ms = [this] { return now; };
    return OpenOrDie();
  }
  int64_t now = 1'000'000;
};

// Retention counts from when the store stored an id, not from the event's
// timestamp: re-importing old history within the window stores nothing.
TEST_F(PruneTest, ForgetsIdsStoredBeforeTheWindow) {
  auto store = OpenOnClock();
  ASSERT_NE(store, nullptr);
  // Events from long ago, stored at 1'000'000 and 1'000'500.
  ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("first", "u", 0),
                                                   MakeEvent("old", "u", 1)}));
  now += 500;
  ASSERT_OK(
      store->AppendEvents(std::vector<Event>{MakeEvent("second", "u", 2)}));
  EXPECT_EQ(*store->PruneIdempotencyKeys(now), 0);  // events' age is moot
  now += 600;  // "first" and "old" were stored 1100 ms ago, "second" 600
  absl::StatusOr<int64_t> pruned = store->PruneIdempotencyKeys(now);
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 2);
  absl::StatusOr<AppendResult> r = store->AppendEvents(std::vector<Event>{
      MakeEvent("first", "u", 0), MakeEvent("second", "u", 2)});
  ASSERT_OK(r);
  EXPECT_EQ(r->stored, (std::vector<bool>{true, false}));
}

// The prune reads its keys in steps, writing each step's deletions and
// then asking the caller's pace whether to go on: a pace that says stop
// ends the run after the first step, with what it deleted counted and
// gone, and the next run deletes the rest.
TEST_F(PruneTest, StopsWhenThePaceSaysSo) {
  auto store = OpenOnClock();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 600; ++i) {
    events.push_back(MakeEvent(absl::StrCat("id", i), "u", i));
  }
  ASSERT_OK(store->AppendEvents(events));
  now += 2000;
  int paces = 0;
  absl::StatusOr<int64_t> first = store->PruneIdempotencyKeys(now, [&paces] {
    ++paces;
    return false;
  });
  ASSERT_OK(first);
  EXPECT_EQ(paces, 1);
  EXPECT_GT(*first, 0);
  EXPECT_LT(*first, 600);
  int more_paces = 0;
  absl::StatusOr<int64_t> rest =
      store->PruneIdempotencyKeys(now, [&more_paces] {
        ++more_paces;
        return true;
      });
  ASSERT_OK(rest);
  EXPECT_EQ(*first + *rest, 600);
  EXPECT_GE(more_paces, 1);
  // Every id is forgotten: all 600 are stored again.
  absl::StatusOr<AppendResult> again = store->AppendEvents(events);
  ASSERT_OK(again);
  EXPECT_EQ(again->accepted, 600);
}

// Keys written before the storage time was recorded (format 1) cannot be
// told apart from keys stored yesterday: never pruned.
TEST_F(StoreTest, PruneKeepsIdempotencyKeysWithoutStorageTime) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
  }
  // Format 1: user_id "u" (length 1), timestamp 0 (zigzag varint).
  PutRaw(options_.data_dir, "event_ids", "legacy",
         std::string("\x01\x01u\x00", 4));
  options_.idempotency_retention_ms = 1;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->PruneIdempotencyKeys(int64_t{1} << 50), 0);
  absl::StatusOr<AppendResult> r =
      store->AppendEvents(std::vector<Event>{MakeEvent("legacy", "u", 5)});
  ASSERT_OK(r);
  EXPECT_EQ(r->duplicates, 1);
}

// An event id belongs to one user: reusing it for another is a conflict,
// never a duplicate, whether the id is stored or earlier in the batch.
TEST_F(StoreTest, EventIdOfAnotherUserIsAConflict) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("x", "u1", 1)}));
  const std::vector<Event> batch = {
      MakeEvent("new", "u2", 1), MakeEvent("x", "u2", 2),   // stored for u1
      MakeEvent("y", "u3", 3),   MakeEvent("y", "u2", 4),   // first is u3's
      MakeEvent("y", "u3", 5),   MakeEvent("x", "u1", 6)};  // duplicates
  absl::StatusOr<AppendResult> r = store->AppendEvents(batch);
  ASSERT_OK(r);
  EXPECT_EQ(r->conflicts, (std::vector<size_t>{1, 3}));
  EXPECT_EQ(r->accepted, 0);  // kStoreNothing
  EXPECT_EQ(r->stored, std::vector<bool>(6, false));
  EXPECT_EQ(store->GetUser("u2").status().code(), absl::StatusCode::kNotFound);

  r = store->AppendEvents(batch, 0, Store::OnIdConflict::kSkipConflicts);
  ASSERT_OK(r);
  EXPECT_EQ(r->conflicts, (std::vector<size_t>{1, 3}));
  EXPECT_EQ(r->stored,
            (std::vector<bool>{true, false, true, false, false, false}));
  EXPECT_EQ(r->accepted, 2);
  EXPECT_EQ(r->duplicates, 2);
  absl::StatusOr<UserRecord> u2 = store->GetUser("u2");
  ASSERT_OK(u2);
  EXPECT_EQ(u2->counts[static_cast<size_t>(EventType::kView)], 1);
}

}  // namespace
}  // namespace aisle::storage
