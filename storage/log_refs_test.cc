// Log refs (cluster mode): which log entries hold a user's id. Recorded
// with the events of each entry for every user it names, moved by
// MergeUsers and MoveLogRefs, deleted (and reported) by EraseUser.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::core::Event;
using ::aisle::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST_F(StoreTest, EveryUserOfAnEntryGetsARefEvenForDuplicatesAndConflicts) {
  auto store = OpenOrDie();
  const std::vector<Event> first = {MakeEvent("a1", "ann", 1),
                                    MakeEvent("b1", "bob", 2)};
  const std::vector<Event> second = {MakeEvent("a1", "ann", 1),  // duplicate
                                     MakeEvent("b1", "cy", 3)};  // conflict
  const std::vector<Event> single_node = {MakeEvent("a2", "ann", 4)};
  const Store::EventGroup groups[] = {
      {first, Store::OnIdConflict::kStoreNothing, 7},
      {second, Store::OnIdConflict::kSkipConflicts, 9}};
  ASSERT_OK(store->AppendEventGroups(groups, 9).status());
  ASSERT_OK(store->AppendEvents(single_node).status());  // no log ref
  EXPECT_THAT(store->LogRefs("ann"), IsOkAndHolds(ElementsAre(7u, 9u)));
  EXPECT_THAT(store->LogRefs("bob"), IsOkAndHolds(ElementsAre(7u)));
  EXPECT_THAT(store->LogRefs("cy"), IsOkAndHolds(ElementsAre(9u)));
  EXPECT_THAT(store->HasLogRef("bob", 7), IsOkAndHolds(true));
  EXPECT_THAT(store->HasLogRef("bob", 9), IsOkAndHolds(false));
  // A user id that is a prefix of another's has only its own refs.
  EXPECT_THAT(store->LogRefs("an"), IsOkAndHolds(IsEmpty()));
}

TEST_F(StoreTest, EraseUserReportsAndDeletesTheRefsAndMergeMovesThem) {
  auto store = OpenOrDie();
  const std::vector<Event> mixed = {MakeEvent("a1", "ann", 1),
                                    MakeEvent("b1", "bob", 2)};
  const std::vector<Event> anns = {MakeEvent("a2", "ann", 3)};
  const std::vector<Event> guest = {MakeEvent("g1", "guest", 4)};
  ASSERT_OK(store->AppendEvents(mixed, 3).status());
  ASSERT_OK(store->AppendEvents(anns, 5).status());
  ASSERT_OK(store->AppendEvents(guest, 6).status());

  ASSERT_OK(store->MergeUsers("guest", "bob", 7).status());
  EXPECT_THAT(store->LogRefs("guest"), IsOkAndHolds(IsEmpty()));
  // Bob's refs: his own at 3, guest's entry at 6 (which holds guest's id:
  // an alias), and the merge entry at 7.
  EXPECT_THAT(store->LogRefs("bob"), IsOkAndHolds(ElementsAre(3u, 6u, 7u)));
  ASSERT_OK_AND_ASSIGN(std::vector<LogRef> bobs, store->UserLogRefs("bob"));
  ASSERT_EQ(bobs.size(), 3u);
  EXPECT_THAT(bobs[0].aliases, IsEmpty());
  EXPECT_EQ(bobs[0].kind, LogRef::Kind::kEvents);
  EXPECT_THAT(bobs[1].aliases, ElementsAre("guest"));
  EXPECT_EQ(bobs[2].kind, LogRef::Kind::kMerge);

  ASSERT_OK_AND_ASSIGN(EraseResult erased, store->EraseUser("ann", 8));
  EXPECT_THAT(erased.log_refs, ElementsAre(3u, 5u));
  EXPECT_THAT(store->LogRefs("ann"), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store->CountUserRecords("ann"), IsOkAndHolds(0));
  EXPECT_THAT(store->LogRefs("bob"), IsOkAndHolds(ElementsAre(3u, 6u, 7u)));
}

// Merging into a user that already has a ref at the same entry keeps both
// ids; merging the merged user on keeps the aliases it had.
TEST_F(StoreTest, MergedRefsKeepEveryIdTheEntryHolds) {
  auto store = OpenOrDie();
  const std::vector<Event> shared = {MakeEvent("a1", "anon", 1),
                                     MakeEvent("b1", "bob", 2)};
  ASSERT_OK(store->AppendEvents(shared, 3).status());
  ASSERT_OK(store->MergeUsers("anon", "bob", 4).status());
  ASSERT_OK(store->MergeUsers("bob", "carl", 5).status());
  ASSERT_OK_AND_ASSIGN(std::vector<LogRef> refs, store->UserLogRefs("carl"));
  ASSERT_EQ(refs.size(), 3u);  // 3 (events), 4 (bob's merge), 5 (merge)
  EXPECT_THAT(refs[0].aliases, ::testing::UnorderedElementsAre("anon", "bob"));
  EXPECT_EQ(refs[1].kind, LogRef::Kind::kMerge);
  EXPECT_THAT(refs[1].aliases, ElementsAre("bob"));
  EXPECT_EQ(refs[2].kind, LogRef::Kind::kMerge);
}

TEST_F(StoreTest, MoveLogRefsMovesOnlyExistingRefsAndRecordsThePosition) {
  auto store = OpenOrDie();
  const std::vector<Event> mixed = {MakeEvent("b1", "bob", 1),
                                    MakeEvent("c1", "cy", 2)};
  ASSERT_OK(store->AppendEvents(mixed, 4).status());
  const std::vector<std::string> users = {"bob", "cy", "dan"};
  EXPECT_THAT(store->MoveLogRefs(users, 4, 11, 11), IsOkAndHolds(2));
  EXPECT_THAT(store->AppliedLogSequence(), IsOkAndHolds(11u));
  EXPECT_THAT(store->LogRefs("bob"), IsOkAndHolds(ElementsAre(11u)));
  EXPECT_THAT(store->LogRefs("cy"), IsOkAndHolds(ElementsAre(11u)));
  EXPECT_THAT(store->LogRefs("dan"), IsOkAndHolds(IsEmpty()));
  // Kept across reopening, like every record.
  store.reset();
  auto reopened = OpenOrDie();
  EXPECT_THAT(reopened->LogRefs("bob"), IsOkAndHolds(ElementsAre(11u)));
}

// Attributes entries (PutUsers with a position) record refs of their own
// kind, which moves keep, and which say whether a later entry set a
// user's attributes.
TEST_F(StoreTest, AttributesRefsAreKeptApartFromEventRefs) {
  auto store = OpenOrDie();
  const std::vector<core::UserAttributes> both = {
      {"ann", {{"tier", "gold"}}, 1}, {"bob", {{"tier", "old"}}, 1}};
  ASSERT_OK(store->PutUsers(both, 3));
  const std::vector<Event> view = {MakeEvent("b1", "bob", 1)};
  ASSERT_OK(store->AppendEvents(view, 5).status());
  EXPECT_THAT(store->LogRefs("bob"), IsOkAndHolds(ElementsAre(3u, 5u)));
  // Bob's later ref (5) is an events entry's: no later attributes.
  EXPECT_THAT(store->HasAttributesRefAfter("bob", 3), IsOkAndHolds(false));
  const std::vector<core::UserAttributes> bob = {{"bob", {{"tier", "new"}}, 2}};
  ASSERT_OK(store->PutUsers(bob, 8));
  EXPECT_THAT(store->HasAttributesRefAfter("bob", 3), IsOkAndHolds(true));
  EXPECT_THAT(store->HasAttributesRefAfter("bob", 8), IsOkAndHolds(false));
  EXPECT_THAT(store->HasAttributesRefAfter("ann", 3), IsOkAndHolds(false));
  // A move keeps the kind: the ref at 8 moves to 12 and is still one.
  const std::vector<std::string> users = {"bob"};
  EXPECT_THAT(store->MoveLogRefs(users, 8, 12, 12), IsOkAndHolds(1));
  EXPECT_THAT(store->HasAttributesRefAfter("bob", 11), IsOkAndHolds(true));
  // Without a position (single-node mode) no ref is recorded.
  ASSERT_OK(store->PutUsers(bob));
  EXPECT_THAT(store->LogRefs("bob"), IsOkAndHolds(ElementsAre(3u, 5u, 12u)));
}

// FindUser: users with a record or only attributes, none past a miss.
TEST_F(StoreTest, FindUserMatchesRecordsAndAttributesOnly) {
  auto store = OpenOrDie();
  const std::vector<Event> view = {MakeEvent("a1", "ann", 1)};
  ASSERT_OK(store->AppendEvents(view).status());
  const std::vector<core::UserAttributes> cy = {{"cy", {{"tier", "x"}}, 1}};
  ASSERT_OK(store->PutUsers(cy));
  std::vector<std::string> seen;
  const auto collect = [&](std::string_view id) {
    seen.emplace_back(id);
    return false;
  };
  EXPECT_THAT(store->FindUser(collect), IsOkAndHolds(std::nullopt));
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre("ann", "cy"));
  EXPECT_THAT(store->FindUser([](std::string_view id) { return id == "cy"; }),
              IsOkAndHolds(std::optional<std::string>("cy")));
  ASSERT_OK(store->EraseUser("cy").status());
  EXPECT_THAT(store->FindUser([](std::string_view id) { return id == "cy"; }),
              IsOkAndHolds(std::nullopt));
}

// A store written before log refs has no such column family: read-only it
// opens without one (no refs); opened for writing, it gets one.
TEST_F(StoreTest, AStoreWithoutTheLogRefsFamilyOpensAndGetsOne) {
  {
    std::unique_ptr<Store> store = OpenOrDie();
    ASSERT_OK(store->AppendEvents({{MakeEvent("e1", "u", 1)}}, 3).status());
  }
  DropRawColumnFamily(options_.data_dir, "log_refs");
  StoreOptions read_only = options_;
  read_only.read_only = true;
  {
    std::unique_ptr<Store> store = OpenOrDie(read_only);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(ScanAll(*store).size(), 1u);
    EXPECT_THAT(store->LogRefs("u"), IsOkAndHolds(IsEmpty()));
  }
  std::unique_ptr<Store> store = OpenOrDie();
  ASSERT_OK(store->AppendEvents({{MakeEvent("e2", "u", 2)}}, 4).status());
  EXPECT_THAT(store->LogRefs("u"), IsOkAndHolds(ElementsAre(4u)));
}

}  // namespace
}  // namespace aisle::storage
