// Events, items, users and stats through the Store API.
#include "storage/store.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::core::Event;
using ::aisle::core::EventType;
using ::aisle::core::Item;
using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::_;

TEST_F(StoreTest, AppendAndScanRoundTrip) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events = {
      MakeEvent("e1", "bob", 300, EventType::kPurchase, "mug"),
      MakeEvent("e2", "alice", 200),
      MakeEvent("e3", "alice", 100, EventType::kRating, "pan"),
      MakeEvent("e4", "alice", -50),
      MakeEvent("e5", "al", 999),
  };
  events[2].value = 4.5;
  events[2].recommendation_id = "rec-1";
  absl::StatusOr<AppendResult> r = store->AppendEvents(events);
  ASSERT_OK(r);
  EXPECT_EQ(r->accepted, 5);
  EXPECT_EQ(r->duplicates, 0);
  EXPECT_EQ(r->stored, std::vector<bool>(5, true));

  int calls = 0;
  std::vector<std::string> order;
  ASSERT_OK(store->ScanEvents(
      [&](std::span<const Event> batch) {
        ++calls;
        EXPECT_LE(batch.size(), 2u);
        for (const Event& e : batch) order.push_back(e.event_id);
        return absl::OkStatus();
      },
      /*batch_size=*/2));
  EXPECT_EQ(calls, 3);
  // (user, time) order: "al" < "alice" < "bob".
  EXPECT_EQ(order, (std::vector<std::string>{"e5", "e4", "e3", "e2", "e1"}));

  std::vector<Event> all = ScanAll(*store);
  ASSERT_EQ(all.size(), 5u);
  const Event& rating = all[2];
  EXPECT_EQ(rating.user_id, "alice");
  EXPECT_EQ(rating.item_id, "pan");
  EXPECT_EQ(rating.type, EventType::kRating);
  EXPECT_EQ(rating.value, 4.5);
  EXPECT_EQ(rating.timestamp_ms, 100);
  EXPECT_EQ(rating.recommendation_id, "rec-1");
}

TEST_F(StoreTest, ScanStopsAtCallbackError) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendEvents(NumberedBatch("u", 0, 10)));
  int calls = 0;
  absl::Status s = store->ScanEvents(
      [&](std::span<const Event>) {
        ++calls;
        return absl::CancelledError("enough");
      },
      3);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kCancelled, _));
  EXPECT_EQ(calls, 1);
}

// Only what the key layout and the stored records need; request rules
// (id lengths, characters, non-empty user ids) are server/validation's.
TEST_F(StoreTest, UnstorableEventRejectsTheWholeBatch) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  const struct {
    std::vector<Event> batch;
    std::string message;
  } cases[] = {
      {{MakeEvent("ok1", "u", 1), MakeEvent("", "u", 2)},
       "event 1: empty event_id"},
      {{MakeEvent("ok2", "u", 1), MakeEvent("y", std::string("a\0b", 3), 2)},
       "event 1: user_id contains a NUL byte"},
      {{MakeEvent("ok3", "u", 1),
        MakeEvent("z", "u", 2, static_cast<EventType>(core::kNumEventTypes))},
       absl::StrCat("event 1: unknown event type ", core::kNumEventTypes)},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(store->AppendEvents(c.batch),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message));
  }
  EXPECT_TRUE(ScanAll(*store).empty());
  EXPECT_THAT(store->CountUserRecords("u"), IsOkAndHolds(0));
  EXPECT_THAT(store->UserEvents(std::string("a\0b", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "user_id contains a NUL byte"));
}

TEST_F(StoreTest, ReadersSeeWholeBatchesOnly) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kBatch = 50;
  constexpr int kBatches = 200;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      absl::StatusOr<std::vector<Event>> events = store->UserEvents("a");
      if (!events.ok() || events->size() % kBatch != 0) ++torn;
      absl::StatusOr<UserRecord> rec = store->GetUser("a");
      if (rec.ok() &&
          rec->counts[static_cast<size_t>(EventType::kClick)] % kBatch != 0) {
        ++torn;
      }
      ++reads;
    }
  });
  int next = 0;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < kBatch; ++i, ++next) {
      batch.push_back(
          MakeEvent(absl::StrCat("e", next), "a", next, EventType::kClick));
    }
    ASSERT_OK(store->AppendEvents(batch));
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  absl::StatusOr<std::vector<Event>> events = store->UserEvents("a");
  ASSERT_OK(events);
  EXPECT_EQ(events->size(), static_cast<size_t>(kBatch * kBatches));
}

TEST_F(StoreTest, UserEventsLimitKeepsNewestInOrder) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back(MakeEvent(absl::StrCat("e", i), "u", 100 - i * 10));
  }
  events.push_back(MakeEvent("other", "u2", 1000));
  ASSERT_OK(store->AppendEvents(events));
  absl::StatusOr<std::vector<Event>> last3 = store->UserEvents("u", 3);
  ASSERT_OK(last3);
  ASSERT_EQ(last3->size(), 3u);
  EXPECT_EQ((*last3)[0].timestamp_ms, 80);
  EXPECT_EQ((*last3)[1].timestamp_ms, 90);
  EXPECT_EQ((*last3)[2].timestamp_ms, 100);
  absl::StatusOr<std::vector<Event>> all = store->UserEvents("u");
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 10u);
  absl::StatusOr<std::vector<Event>> none = store->UserEvents("nobody");
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(StoreTest, UserRecordTracksFirstLastAndCounts) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendEvents(
      std::vector<Event>{MakeEvent("1", "u", 500, EventType::kView),
                         MakeEvent("2", "u", 100, EventType::kPurchase)}));
  ASSERT_OK(store->AppendEvents(
      std::vector<Event>{MakeEvent("3", "u", 900, EventType::kView),
                         MakeEvent("1", "u", 50, EventType::kView)})  // dup
  );
  absl::StatusOr<UserRecord> rec = store->GetUser("u");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->first_seen_ms, 100);
  EXPECT_EQ(rec->last_seen_ms, 900);
  EXPECT_EQ(rec->counts[static_cast<size_t>(EventType::kView)], 2);
  EXPECT_EQ(rec->counts[static_cast<size_t>(EventType::kPurchase)], 1);
  EXPECT_THAT(store->GetUser("nobody"),
              StatusIs(absl::StatusCode::kNotFound, _));
}

TEST_F(StoreTest, ItemsCrud) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  Item mug;
  mug.item_id = "mug";
  mug.title = "Mug";
  mug.categories = {"kitchen/mugs"};
  mug.price = 9.5;
  mug.attributes = {{"color", "red"}};
  Item pan = mug;
  pan.item_id = "pan";
  pan.title = "Pan";
  ASSERT_OK(store->PutItems(std::vector<Item>{mug, pan}));

  absl::StatusOr<Item> got = store->GetItem("mug");
  ASSERT_OK(got);
  EXPECT_EQ(got->title, "Mug");
  EXPECT_EQ(got->attributes.at("color"), "red");

  mug.title = "Big mug";
  ASSERT_OK(store->PutItems(std::vector<Item>{mug}));
  EXPECT_EQ(store->GetItem("mug")->title, "Big mug");

  std::vector<std::string> scanned;
  ASSERT_OK(store->ScanItems([&](std::span<const Item> batch) {
    for (const Item& i : batch) scanned.push_back(i.item_id);
    return absl::OkStatus();
  }));
  EXPECT_EQ(scanned, (std::vector<std::string>{"mug", "pan"}));

  absl::StatusOr<int> deleted =
      store->DeleteItems(std::vector<std::string>{"mug", "missing"});
  ASSERT_OK(deleted);
  EXPECT_EQ(*deleted, 1);
  EXPECT_THAT(store->GetItem("mug"), StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_OK(store->GetItem("pan"));
}

TEST_F(StoreTest, EraseUserRemovesEveryRecordAndKeepsOthers) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events = {
      MakeEvent("a1", "alice", 1), MakeEvent("a2", "alice", 2),
      MakeEvent("a3", "alice", 3), MakeEvent("b1", "bob", 1),
      MakeEvent("b2", "bob", 2),   MakeEvent("x1", "alicex", 1)};
  ASSERT_OK(store->AppendEvents(events));
  // Part of the data in SSTs, part in the memtable.
  ASSERT_OK(store->Flush());
  ASSERT_OK(
      store->AppendEvents(std::vector<Event>{MakeEvent("a4", "alice", 4)}));

  // 4 events + 4 idempotency keys + 4 event-log entries + 1 user record.
  EXPECT_EQ(*store->CountUserRecords("alice"), 13);
  EXPECT_EQ(*store->CountUserRecords("bob"), 7);

  absl::StatusOr<EraseResult> erased = store->EraseUser("alice");
  ASSERT_OK(erased);
  EXPECT_EQ(erased->events_deleted, 4);
  EXPECT_EQ(erased->idempotency_keys_deleted, 4);
  EXPECT_TRUE(erased->profile_deleted);

  EXPECT_EQ(*store->CountUserRecords("alice"), 0);
  EXPECT_EQ(*store->CountUserRecords("bob"), 7);
  EXPECT_EQ(*store->CountUserRecords("alicex"), 4);
  EXPECT_EQ(store->UserEvents("bob")->size(), 2u);
  EXPECT_THAT(store->GetUser("alice"),
              StatusIs(absl::StatusCode::kNotFound, _));

  // Erasure survives a restart, and the erased ids are free again.
  store.reset();
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->CountUserRecords("alice"), 0);
  absl::StatusOr<AppendResult> again =
      store->AppendEvents(std::vector<Event>{MakeEvent("a1", "alice", 1)});
  ASSERT_OK(again);
  EXPECT_EQ(again->accepted, 1);

  absl::StatusOr<EraseResult> nobody = store->EraseUser("nobody");
  ASSERT_OK(nobody);
  EXPECT_EQ(nobody->events_deleted, 0);
  EXPECT_FALSE(nobody->profile_deleted);
}

TEST_F(StoreTest, EraseUserWhileTheUserIsStillWriting) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kBatch = 5;
  std::atomic<int> acked{-1};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int b = 0; !stop.load(); ++b) {
      std::vector<Event> batch;
      for (int i = 0; i < kBatch; ++i) {
        batch.push_back(MakeEvent(absl::StrCat("z", b, "-", i), "zed", b));
      }
      if (store->AppendEvents(batch).ok()) acked = b;
    }
  });
  while (acked.load() < 50) std::this_thread::yield();
  const int acked_before_erase = acked.load();
  absl::StatusOr<EraseResult> erased = store->EraseUser("zed");
  stop = true;
  writer.join();
  ASSERT_OK(erased);
  EXPECT_GE(erased->events_deleted, (acked_before_erase + 1) * kBatch);
  EXPECT_EQ(erased->events_deleted % kBatch, 0);
  EXPECT_EQ(erased->idempotency_keys_deleted, erased->events_deleted);
  absl::StatusOr<std::vector<Event>> left = store->UserEvents("zed");
  ASSERT_OK(left);
  for (const Event& e : *left) {
    EXPECT_GT(e.timestamp_ms, acked_before_erase) << e.event_id;
  }
  // What survived was written after the erase, whole batches with their
  // idempotency keys, event-log entries and a fresh user record.
  EXPECT_EQ(*store->CountUserRecords("zed"),
            static_cast<int64_t>(3 * left->size() + (left->empty() ? 0 : 1)));
}

TEST_F(StoreTest, StatsReflectContents) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 1000; ++i) {
    events.push_back(
        MakeEvent(absl::StrCat("e", i), absl::StrCat("u", i % 10), i));
  }
  ASSERT_OK(store->AppendEvents(events));
  StoreStats before_flush = store->Stats();
  EXPECT_GT(before_flush.memtable_bytes, 0);
  ASSERT_OK(store->Flush());
  StoreStats stats = store->Stats();
  EXPECT_GT(stats.events, 500);
  EXPECT_GT(stats.live_data_bytes, 0);
  EXPECT_GE(stats.users, 1);
}

}  // namespace
}  // namespace aisle::storage
