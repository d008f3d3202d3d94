// The applied log position (cluster mode): recorded by the same write as
// the data it belongs to, kept across reopening, untouched by a write that
// failed.
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

}  // namespace
}  // namespace aisle::storage
