// Engine snapshots in the store: stored atomically with their position,
// the event log after them, erasure dropping them, and the checks that
// keep a stale or incomplete snapshot from being used.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;

std::vector<std::string> EventIds(const Store& store, uint64_t after) {
  std::vector<std::string> ids;
  EXPECT_OK(store.ScanEventsAfter(
      after,
      [&](std::span<const core::Event> batch) {
        for (const core::Event& e : batch) ids.push_back(e.event_id);
        return absl::OkStatus();
      },
      /*batch_size=*/2));
  return ids;
}

TEST_F(StoreTest, SnapshotRoundTripAndTheEventsAfterIt) {
  std::unique_ptr<Store> store = OpenOrDie();
  ASSERT_OK_AND_ASSIGN(std::optional<StoredSnapshot> none,
                       store->GetSnapshot());
  EXPECT_FALSE(none.has_value());
  // Arrival order, not (user, time) order: "b" then "a", time going back.
  ASSERT_OK(store->AppendEvents({{MakeEvent("e1", "b", 50)}}).status());
  ASSERT_OK(store->AppendEvents({{MakeEvent("e2", "a", 40)}}).status());
  ASSERT_OK_AND_ASSIGN(SnapshotPosition at, store->SnapshotPositionNow());
  ASSERT_OK(store->AppendEvents({{MakeEvent("e3", "c", 10)}}).status());
  ASSERT_OK(store->AppendEvents({{MakeEvent("e4", "a", 5)}}).status());
  EXPECT_EQ(EventIds(*store, 0),
            (std::vector<std::string>{"e1", "e2", "e3", "e4"}));
  EXPECT_EQ(EventIds(*store, at.event_sequence),
            (std::vector<std::string>{"e3", "e4"}));

  const std::vector<std::string> pieces = {"first", std::string(1000, 'x'), ""};
  ASSERT_OK(store->PutSnapshot(at, pieces));
  // The log up to the snapshot is gone; the rest stays.
  EXPECT_EQ(EventIds(*store, 0), (std::vector<std::string>{"e3", "e4"}));

  store.reset();
  store = OpenOrDie();  // survives a restart
  ASSERT_OK_AND_ASSIGN(std::optional<StoredSnapshot> got, store->GetSnapshot());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->pieces, pieces);
  EXPECT_EQ(got->position.event_sequence, at.event_sequence);
  EXPECT_EQ(EventIds(*store, got->position.event_sequence),
            (std::vector<std::string>{"e3", "e4"}));

  // A newer snapshot replaces it whole (fewer pieces: none of the old
  // ones remain).
  ASSERT_OK_AND_ASSIGN(SnapshotPosition later, store->SnapshotPositionNow());
  EXPECT_GT(later.event_sequence, at.event_sequence);
  ASSERT_OK(store->PutSnapshot(later, std::vector<std::string>{"only"}));
  ASSERT_OK_AND_ASSIGN(got, store->GetSnapshot());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->pieces, std::vector<std::string>{"only"});
  EXPECT_TRUE(EventIds(*store, 0).empty());
}

TEST_F(StoreTest, ErasureDropsTheSnapshotAndRefusesAnOlderOne) {
  std::unique_ptr<Store> store = OpenOrDie();
  ASSERT_OK(store
                ->AppendEvents(
                    {{MakeEvent("e1", "gone", 1), MakeEvent("e2", "kept", 2)}})
                .status());
  ASSERT_OK_AND_ASSIGN(SnapshotPosition before, store->SnapshotPositionNow());
  ASSERT_OK(store->PutSnapshot(before, std::vector<std::string>{"gone"}));
  ASSERT_OK(store
                ->AppendEvents(
                    {{MakeEvent("e3", "gone", 3), MakeEvent("e4", "kept", 4)}})
                .status());
  ASSERT_OK_AND_ASSIGN(SnapshotPosition taken, store->SnapshotPositionNow());

  ASSERT_OK(store->EraseUser("gone").status());
  ASSERT_OK_AND_ASSIGN(std::optional<StoredSnapshot> got, store->GetSnapshot());
  EXPECT_FALSE(got.has_value());
  // A snapshot taken before the erasure may hold the user: refused.
  EXPECT_THAT(store->PutSnapshot(taken, std::vector<std::string>{"gone"}),
              StatusIs(absl::StatusCode::kAborted, _));
  ASSERT_OK_AND_ASSIGN(got, store->GetSnapshot());
  EXPECT_FALSE(got.has_value());
  // The log holds only the other user's event, and no record of the user
  // is left anywhere.
  EXPECT_EQ(EventIds(*store, before.event_sequence),
            std::vector<std::string>{"e4"});
  ASSERT_OK_AND_ASSIGN(int64_t left, store->CountUserRecords("gone"));
  EXPECT_EQ(left, 0);
  // One taken after it is stored.
  ASSERT_OK_AND_ASSIGN(SnapshotPosition after, store->SnapshotPositionNow());
  EXPECT_OK(store->PutSnapshot(after, std::vector<std::string>{"kept"}));
}

TEST_F(StoreTest, AMissingPieceIsDataLoss) {
  {
    std::unique_ptr<Store> store = OpenOrDie();
    ASSERT_OK_AND_ASSIGN(SnapshotPosition at, store->SnapshotPositionNow());
    ASSERT_OK(store->PutSnapshot(at, std::vector<std::string>{"a", "b"}));
  }
  // Overwrite the manifest with one that claims a third piece.
  SnapshotManifest m;
  m.generation = 1;
  m.pieces = 3;
  m.bytes = 3;
  PutRaw(options_.data_dir, "snapshot", std::string(kSnapshotManifestKey),
         EncodeSnapshotManifest(m));
  std::unique_ptr<Store> store = OpenOrDie();
  EXPECT_THAT(store->GetSnapshot(), StatusIs(absl::StatusCode::kDataLoss, _));
}

TEST_F(StoreTest, AnotherWriterInBetweenInvalidatesTheSnapshot) {
  {
    std::unique_ptr<Store> store = OpenOrDie();
    ASSERT_OK(store->AppendEvents({{MakeEvent("e1", "u", 1)}}).status());
    ASSERT_OK_AND_ASSIGN(SnapshotPosition at, store->SnapshotPositionNow());
    ASSERT_OK(store->PutSnapshot(at, std::vector<std::string>{"s"}));
  }
  {
    // A plain reopen keeps it.
    std::unique_ptr<Store> store = OpenOrDie();
    ASSERT_OK_AND_ASSIGN(std::optional<StoredSnapshot> got,
                         store->GetSnapshot());
    EXPECT_TRUE(got.has_value());
  }
  // An older aisle opening the store bumps the open generation without
  // recording it for snapshots (and appends without logging).
  PutRaw(options_.data_dir, "snapshot", std::string(kSnapshotGenerationKey),
         "0");
  std::unique_ptr<Store> store = OpenOrDie();
  ASSERT_OK_AND_ASSIGN(std::optional<StoredSnapshot> got, store->GetSnapshot());
  EXPECT_FALSE(got.has_value());
}

TEST_F(StoreTest, ReadOnlyOpenOfAStoreWithoutTheSnapshotFamily) {
  {
    std::unique_ptr<Store> store = OpenOrDie();
    ASSERT_OK(store->AppendEvents({{MakeEvent("e1", "u", 1)}}).status());
  }
  DropRawColumnFamily(options_.data_dir, "snapshot");
  StoreOptions read_only = options_;
  read_only.read_only = true;
  std::unique_ptr<Store> store = OpenOrDie(read_only);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ScanAll(*store).size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::optional<StoredSnapshot> got, store->GetSnapshot());
  EXPECT_FALSE(got.has_value());
}

}  // namespace
}  // namespace aisle::storage
