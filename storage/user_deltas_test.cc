// User records and idempotency keys kept in memory until a fold
// (user_deltas.cc, pending_ids.cc): what GetUser, appends, erasure,
// merges, retention and FindUser see before and after folds and reopens.
// kill -9 with unfolded deltas and keys: crash_test.cc.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::core::Event;
using ::aisle::core::EventType;
using ::aisle::testing::StatusIs;
using ::testing::_;

int64_t Count(const UserRecord& r, EventType type) {
  return r.counts[static_cast<size_t>(type)];
}

TEST_F(StoreTest, UserRecordCountsUnfoldedEventsAndAFoldKeepsThem) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendEvents(
      std::vector<Event>{MakeEvent("v1", "u", 5), MakeEvent("v2", "u", 7),
                         MakeEvent("p1", "u", 3, EventType::kPurchase)}));
  absl::StatusOr<UserRecord> before = store->GetUser("u");
  ASSERT_OK(before);
  EXPECT_EQ(Count(*before, EventType::kView), 2);
  EXPECT_EQ(Count(*before, EventType::kPurchase), 1);
  EXPECT_EQ(before->first_seen_ms, 3);
  EXPECT_EQ(before->last_seen_ms, 7);
  // 3 events, 3 idempotency keys, 3 event-log entries and the record.
  EXPECT_EQ(*store->CountUserRecords("u"), 10);

  ASSERT_OK(store->Flush());  // folds
  absl::StatusOr<UserRecord> folded = store->GetUser("u");
  ASSERT_OK(folded);
  EXPECT_EQ(Count(*folded, EventType::kView), 2);
  EXPECT_EQ(Count(*folded, EventType::kPurchase), 1);
  EXPECT_EQ(*store->CountUserRecords("u"), 10);

  // A stored record and a delta add up.
  ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("v3", "u", 9)}));
  absl::StatusOr<UserRecord> after = store->GetUser("u");
  ASSERT_OK(after);
  EXPECT_EQ(Count(*after, EventType::kView), 3);
  EXPECT_EQ(after->first_seen_ms, 3);
  EXPECT_EQ(after->last_seen_ms, 9);
  EXPECT_EQ(*store->CountUserRecords("u"), 13);
  EXPECT_THAT(store->GetUser("nobody"),
              StatusIs(absl::StatusCode::kNotFound, _));

  // Whole after a reopen, read-only as writable.
  store.reset();
  for (bool read_only : {true, false}) {
    StoreOptions options = options_;
    options.read_only = read_only;
    auto reopened = OpenOrDie(options);
    ASSERT_NE(reopened, nullptr);
    absl::StatusOr<UserRecord> r = reopened->GetUser("u");
    ASSERT_OK(r);
    EXPECT_EQ(Count(*r, EventType::kView), 3) << read_only;
    EXPECT_EQ(Count(*r, EventType::kPurchase), 1) << read_only;
  }
}

TEST_F(StoreTest, ErasureTakesTheUnfoldedRecordWithIt) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("u1", "u", 1),
                                                   MakeEvent("w1", "w", 1),
                                                   MakeEvent("u2", "u", 2)}));
  absl::StatusOr<EraseResult> erased = store->EraseUser("u");
  ASSERT_OK(erased);
  EXPECT_TRUE(erased->profile_deleted);
  EXPECT_EQ(erased->idempotency_keys_deleted, 2);  // both unfolded
  EXPECT_THAT(store->GetUser("u"), StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_EQ(*store->CountUserRecords("u"), 0);
  ASSERT_OK(store->Flush());  // a fold after the erasure writes nothing back
  EXPECT_EQ(*store->CountUserRecords("u"), 0);
  // The erased keys are free again; w's unfolded one is still w's.
  absl::StatusOr<AppendResult> again = store->AppendEvents(
      std::vector<Event>{MakeEvent("u1", "u", 3), MakeEvent("w1", "u", 3)},
      /*log_sequence=*/0, Store::OnIdConflict::kSkipConflicts);
  ASSERT_OK(again);
  EXPECT_EQ(again->accepted, 1);
  EXPECT_EQ(again->conflicts, std::vector<size_t>{1});
  ASSERT_OK(store->EraseUser("u"));

  store.reset();
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->GetUser("u"), StatusIs(absl::StatusCode::kNotFound, _));
  absl::StatusOr<UserRecord> w = store->GetUser("w");
  ASSERT_OK(w);
  EXPECT_EQ(Count(*w, EventType::kView), 1);
}

TEST_F(StoreTest, MergeMovesTheUnfoldedRecord) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendEvents(
      std::vector<Event>{MakeEvent("k1", "known", 10, EventType::kPurchase)}));
  ASSERT_OK(store->Flush());  // `known` has a stored record
  ASSERT_OK(store->AppendEvents(std::vector<Event>{
      MakeEvent("a1", "anon", 4), MakeEvent("a2", "anon", 12)}));

  absl::StatusOr<MergeResult> merged = store->MergeUsers("anon", "known");
  ASSERT_OK(merged);
  EXPECT_TRUE(merged->profile_merged);
  EXPECT_EQ(merged->idempotency_keys_moved, 2);  // both unfolded
  EXPECT_THAT(store->GetUser("anon"), StatusIs(absl::StatusCode::kNotFound, _));
  // The moved keys are known's now: a duplicate for known, a conflict for
  // anon (before a fold and, below, after a reopen).
  const auto expect_keys_moved = [](Store& s) {
    absl::StatusOr<AppendResult> mine =
        s.AppendEvents(std::vector<Event>{MakeEvent("a1", "known", 4)});
    ASSERT_OK(mine);
    EXPECT_EQ(mine->duplicates, 1);
    absl::StatusOr<AppendResult> theirs =
        s.AppendEvents(std::vector<Event>{MakeEvent("a2", "anon", 12)},
                       /*log_sequence=*/0, Store::OnIdConflict::kSkipConflicts);
    ASSERT_OK(theirs);
    EXPECT_EQ(theirs->conflicts, std::vector<size_t>{0});
  };
  expect_keys_moved(*store);
  const auto expect_merged = [](const UserRecord& r) {
    EXPECT_EQ(Count(r, EventType::kView), 2);
    EXPECT_EQ(Count(r, EventType::kPurchase), 1);
    EXPECT_EQ(r.first_seen_ms, 4);
    EXPECT_EQ(r.last_seen_ms, 12);
  };
  absl::StatusOr<UserRecord> known = store->GetUser("known");
  ASSERT_OK(known);
  expect_merged(*known);

  store.reset();
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  known = store->GetUser("known");
  ASSERT_OK(known);
  expect_merged(*known);
  EXPECT_THAT(store->GetUser("anon"), StatusIs(absl::StatusCode::kNotFound, _));
  expect_keys_moved(*store);
}

// Idempotency keys are folded too (pending_ids.cc): an id is a duplicate
// (or, for another user, a conflict) from its first append on, before a
// fold, after one and after reopens.
TEST_F(StoreTest, AnUnfoldedIdempotencyKeyCountsFromItsFirstAppend) {
  const auto expect_known = [](Store& s, const std::string& when) {
    absl::StatusOr<AppendResult> same =
        s.AppendEvents(std::vector<Event>{MakeEvent("x", "u", 1)});
    ASSERT_OK(same);
    EXPECT_EQ(same->accepted, 0) << when;
    EXPECT_EQ(same->duplicates, 1) << when;
    absl::StatusOr<AppendResult> other =
        s.AppendEvents(std::vector<Event>{MakeEvent("x", "v", 1)},
                       /*log_sequence=*/0, Store::OnIdConflict::kSkipConflicts);
    ASSERT_OK(other);
    EXPECT_EQ(other->conflicts, std::vector<size_t>{0}) << when;
  };
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("x", "u", 1)}));
    expect_known(*store, "unfolded");
    ASSERT_OK(store->Flush());
    expect_known(*store, "folded");
    ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("y", "u", 2)}));
  }  // closed: folds y
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  expect_known(*store, "reopened");
  absl::StatusOr<AppendResult> y =
      store->AppendEvents(std::vector<Event>{MakeEvent("y", "u", 2)});
  ASSERT_OK(y);
  EXPECT_EQ(y->duplicates, 1);
  // 2 events, 2 keys, 2 event-log entries and the record.
  EXPECT_EQ(*store->CountUserRecords("u"), 7);
}

TEST_F(StoreTest, RetentionKeepsTheCountsOfTheEventsItDeletes) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  for (int t = 1; t <= 10; ++t) {
    events.push_back(MakeEvent(absl::StrCat("e", t), "u", t));
  }
  ASSERT_OK(store->AppendEvents(events));  // unfolded so far
  absl::StatusOr<int64_t> deleted = store->DeleteEventsBefore(6);
  ASSERT_OK(deleted);
  EXPECT_EQ(*deleted, 5);
  EXPECT_EQ(store->UserEvents("u")->size(), 5u);
  absl::StatusOr<UserRecord> r = store->GetUser("u");
  ASSERT_OK(r);
  EXPECT_EQ(Count(*r, EventType::kView), 10);
  EXPECT_EQ(r->first_seen_ms, 1);

  store.reset();
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  r = store->GetUser("u");
  ASSERT_OK(r);
  EXPECT_EQ(Count(*r, EventType::kView), 10);
}

// An older aisle (one that merges records per event and keeps no marker)
// that opened the store after a writer that kept deltas: that writer's
// marker is not trusted, so nothing is counted twice.
TEST_F(StoreTest, AMarkerFromBeforeAnotherWritersOpenIsNotReplayed) {
  {
    auto store = OpenOrDie();  // the first open: generation 1
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("e1", "u", 1),
                                                     MakeEvent("e2", "u", 2),
                                                     MakeEvent("e3", "u", 3)}));
  }  // folded at close
  // As if generation 1 had left all three unfolded, then an older aisle
  // (snapshot-aware, so the event log stays) had opened as generation 2.
  const uint64_t before_first_event = (uint64_t{1} << 40) - 1;
  PutRaw(options_.data_dir, "meta", kUserDeltasKey,
         absl::StrCat("1 ", before_first_event));
  PutRaw(options_.data_dir, "meta", kOpenGenerationKey, "2");
  PutRaw(options_.data_dir, "snapshot", std::string(kSnapshotGenerationKey),
         "2");

  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  int64_t logged = 0;  // the events a replay would have counted again
  ASSERT_OK(store->ScanEventsAfter(
      before_first_event, [&](std::span<const Event> events) {
        logged += static_cast<int64_t>(events.size());
        return absl::OkStatus();
      }));
  EXPECT_EQ(logged, 3);
  absl::StatusOr<UserRecord> r = store->GetUser("u");
  ASSERT_OK(r);
  EXPECT_EQ(Count(*r, EventType::kView), 3);
}

TEST_F(StoreTest, FindUserFindsAUserWhoseRecordIsUnfolded) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(
      store->AppendEvents(std::vector<Event>{MakeEvent("s1", "solo", 1)}));
  absl::StatusOr<std::optional<std::string>> found =
      store->FindUser([](std::string_view id) { return id == "solo"; });
  ASSERT_OK(found);
  EXPECT_EQ(*found, std::optional<std::string>("solo"));
  found = store->FindUser([](std::string_view id) { return id == "none"; });
  ASSERT_OK(found);
  EXPECT_EQ(*found, std::nullopt);
}

}  // namespace
}  // namespace aisle::storage
