// The applied log position (cluster mode): recorded by the same write as
// the data it belongs to, kept across reopening, untouched by a write that
// failed; several entries' events in one write (AppendEventGroups).
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::core::Event;
using ::aisle::core::Item;
using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::_;

TEST_F(StoreTest, EveryKindOfWriteRecordsItsLogPosition) {
  {
    auto store = OpenOrDie();
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(0u));
    std::vector<Event> events = {MakeEvent("e1", "alice", 100)};
    ASSERT_OK(store->AppendEvents(events, 5).status());
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(5u));
    // Nothing new to store: the position still moves.
    ASSERT_OK_AND_ASSIGN(AppendResult again, store->AppendEvents(events, 6));
    EXPECT_EQ(again.duplicates, 1);
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(6u));
    Item item;
    item.item_id = "mug";
    ASSERT_OK(store->PutItems(std::vector<Item>{item}, 7));
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(7u));
    EXPECT_THAT(store->DeleteItems(std::vector<std::string>{"mug", "x"}, 8),
                IsOkAndHolds(1));
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(8u));
    ASSERT_OK(store->EraseUser("alice", 9).status());
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(9u));
    ASSERT_OK(store->SetAppliedLogSequence(10));
    // A write without a position leaves it alone.
    ASSERT_OK(store->AppendEvents(std::vector<Event>{MakeEvent("e2", "bob", 1)})
                  .status());
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(10u));
    // A refused write records nothing.
    EXPECT_THAT(
        store->AppendEvents(std::vector<Event>{MakeEvent("", "bob", 2)}, 11),
        StatusIs(absl::StatusCode::kInvalidArgument, _));
    EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(10u));
  }
  auto reopened = OpenOrDie();
  EXPECT_THAT(reopened->AppliedLogSequence(), IsOkAndHolds(10u));
  EXPECT_EQ(ScanAll(*reopened).size(), 1u);  // bob's; alice was erased
}

// Cluster mode applies consecutive log entries in one write: the results
// and the stored state must be those of applying them one at a time.
TEST_F(StoreTest, EventGroupsInOneWriteActAsConsecutiveAppends) {
  const std::vector<std::vector<Event>> groups = {
      {MakeEvent("e1", "alice", 100), MakeEvent("e2", "alice", 101)},
      // e1 again (a duplicate of the first group) and a new one.
      {MakeEvent("e1", "alice", 100), MakeEvent("e3", "bob", 102)},
      // e3 for another user: a conflict; all or nothing refuses the group.
      {MakeEvent("e3", "carol", 103), MakeEvent("e4", "carol", 104)},
      // The same conflict in a group that skips conflicts: e5 is stored.
      {MakeEvent("e3", "dave", 105), MakeEvent("e5", "dave", 106)},
  };
  const Store::OnIdConflict policy[] = {
      Store::OnIdConflict::kStoreNothing, Store::OnIdConflict::kStoreNothing,
      Store::OnIdConflict::kStoreNothing, Store::OnIdConflict::kSkipConflicts};
  std::vector<AppendResult> one_by_one;
  std::vector<Event> one_by_one_state;
  {
    StoreOptions other = options_;
    other.data_dir = root_ + "/one_by_one";
    auto store = OpenOrDie(other);
    for (size_t g = 0; g < groups.size(); ++g) {
      ASSERT_OK_AND_ASSIGN(AppendResult r,
                           store->AppendEvents(groups[g], g + 1, policy[g]));
      one_by_one.push_back(r);
    }
    one_by_one_state = ScanAll(*store);
  }
  auto store = OpenOrDie();
  std::vector<Store::EventGroup> together;
  for (size_t g = 0; g < groups.size(); ++g) {
    together.push_back({groups[g], policy[g]});
  }
  ASSERT_OK_AND_ASSIGN(std::vector<AppendResult> results,
                       store->AppendEventGroups(together, 4));
  ASSERT_EQ(results.size(), one_by_one.size());
  for (size_t g = 0; g < results.size(); ++g) {
    SCOPED_TRACE(g);
    EXPECT_EQ(results[g].stored, one_by_one[g].stored);
    EXPECT_EQ(results[g].accepted, one_by_one[g].accepted);
    EXPECT_EQ(results[g].duplicates, one_by_one[g].duplicates);
    EXPECT_EQ(results[g].conflicts, one_by_one[g].conflicts);
  }
  EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(4u));
  const std::vector<Event> state = ScanAll(*store);
  ASSERT_EQ(state.size(), one_by_one_state.size());
  for (size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(state[i].event_id, one_by_one_state[i].event_id);
    EXPECT_EQ(state[i].user_id, one_by_one_state[i].user_id);
  }
  ASSERT_OK_AND_ASSIGN(UserRecord alice, store->GetUser("alice"));
  EXPECT_EQ(alice.first_seen_ms, 100);
  EXPECT_EQ(alice.last_seen_ms, 101);

  // One unstorable event refuses every group, and records no position.
  std::vector<Event> good = {MakeEvent("e9", "erin", 1)};
  std::vector<Event> bad = {MakeEvent("", "erin", 2)};
  const Store::EventGroup refused[] = {{good}, {bad}};
  EXPECT_THAT(store->AppendEventGroups(refused, 5),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("group 1, event 0")));
  EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(4u));
  EXPECT_EQ(ScanAll(*store).size(), state.size());
}

}  // namespace
}  // namespace aisle::storage
