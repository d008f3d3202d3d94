// Backups: a checkpoint taken while writing restores a consistent store.
#include <atomic>
#include <filesystem>
#include <fstream>
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

namespace fs = std::filesystem;
using ::aisle::core::Event;
using ::aisle::core::EventType;
using ::aisle::testing::StatusIs;
using ::testing::_;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// Overwrites 8 bytes in the middle of the largest table file in `dir`:
// its footer and index still read, so only a checksum pass sees it.
// False when `dir` holds no table file.
bool DamageLargestTable(const fs::path& dir) {
  fs::path largest;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".sst" &&
        (largest.empty() || entry.file_size() > fs::file_size(largest))) {
      largest = entry.path();
    }
  }
  if (largest.empty()) return false;
  std::fstream f(largest, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(fs::file_size(largest) / 3));
  f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
  return true;
}

TEST_F(StoreTest, CheckpointWhileWritingRestoresConsistentState) {
  options_.durability = Durability::kMachine;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->PutModel(Meta("v1", 1), "model-bytes"));
  ASSERT_OK(store->SetActiveModel("v1"));
  constexpr int kBatch = 10;
  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    int next = 0;
    while (!stop.load()) {
      std::vector<Event> batch;
      for (int i = 0; i < kBatch; ++i, ++next) {
        batch.push_back(MakeEvent(absl::StrCat("w", next), "w", next));
      }
      if (store->AppendEvents(batch).ok()) ++batches;
    }
  });
  // Let some batches land before the checkpoint, and more while it runs.
  while (batches.load() < 20) std::this_thread::yield();
  const std::string checkpoint = root_ + "/checkpoint";
  absl::Status cp = store->Checkpoint(checkpoint);
  const int batches_after_checkpoint = batches.load();
  while (batches.load() < batches_after_checkpoint + 20) {
    std::this_thread::yield();
  }
  stop = true;
  writer.join();
  ASSERT_OK(cp);
  EXPECT_THAT(store->Checkpoint(checkpoint),
              StatusIs(absl::StatusCode::kAlreadyExists, _));
  store.reset();

  // Not into a non-empty directory.
  EXPECT_THAT(RestoreCheckpoint(checkpoint, options_.data_dir),
              StatusIs(absl::StatusCode::kFailedPrecondition, _));

  // Into an existing empty directory.
  const std::string restored = root_ + "/restored";
  fs::create_directories(restored);
  ASSERT_OK(RestoreCheckpoint(checkpoint, restored));
  StoreOptions options = options_;
  options.data_dir = restored;
  auto copy = OpenOrDie(options);
  ASSERT_NE(copy, nullptr);
  std::vector<Event> events = ScanAll(*copy);
  EXPECT_GE(events.size(), 20u * kBatch);
  EXPECT_LT(events.size(), static_cast<size_t>(batches.load()) * kBatch);
  EXPECT_EQ(events.size() % kBatch, 0u);
  // Each batch came whole: its events, their ids, their event-log entries
  // and the user record.
  EXPECT_EQ(*copy->CountUserRecords("w"),
            static_cast<int64_t>(3 * events.size() + 1));
  EXPECT_EQ(copy->GetUser("w")->counts[static_cast<size_t>(EventType::kView)],
            static_cast<int64_t>(events.size()));
  // Re-sending what the checkpoint holds stores nothing.
  absl::StatusOr<AppendResult> resend = copy->AppendEvents(events);
  ASSERT_OK(resend);
  EXPECT_EQ(resend->accepted, 0);
  EXPECT_EQ(*copy->GetActiveModel(), "v1");
  EXPECT_EQ(*copy->GetModelBlob("v1"), "model-bytes");
  // The checkpoint itself is still intact.
  EXPECT_TRUE(fs::exists(fs::path(checkpoint) / "CURRENT"));
}

TEST_F(StoreTest, RestoreRejectsSomethingThatIsNotACheckpoint) {
  fs::create_directories(root_ + "/junk");
  std::ofstream(root_ + "/junk/CURRENT") << "MANIFEST-000099\n";
  const absl::Status s = RestoreCheckpoint(root_ + "/junk", options_.data_dir);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(options_.data_dir));
  EXPECT_FALSE(fs::exists(options_.data_dir + ".restoring"));
  EXPECT_THAT(RestoreCheckpoint(root_ + "/absent", options_.data_dir),
              StatusIs(absl::StatusCode::kNotFound, _));
}

TEST_F(StoreTest, RestoreRejectsACheckpointWithADamagedBlock) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    std::vector<Event> batch;
    for (int i = 0; i < 2000; ++i) {
      batch.push_back(MakeEvent(absl::StrCat("d", i), "u", i));
    }
    ASSERT_OK(store->AppendEvents(batch).status());
    ASSERT_OK(store->Checkpoint(root_ + "/checkpoint"));
  }
  // A damaged copy.
  const fs::path copy = root_ + "/damaged";
  fs::copy(root_ + "/checkpoint", copy);
  ASSERT_TRUE(DamageLargestTable(copy));
  const std::string target = root_ + "/restored";
  EXPECT_THAT(RestoreCheckpoint(copy.string(), target),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("damaged")));
  EXPECT_FALSE(fs::exists(target));
  EXPECT_FALSE(fs::exists(target + ".restoring"));
  // The undamaged checkpoint restores.
  ASSERT_OK(RestoreCheckpoint(root_ + "/checkpoint", target));
}

// A joining cluster node: the checkpoint sits inside the (mounted, so not
// renamable) data dir and becomes its store in place.
TEST_F(StoreTest, AdoptCheckpointMakesItTheDataDirsStoreInPlace) {
  const std::string target = root_ + "/node";
  const std::string inside = target + "/.join";
  fs::create_directories(target);
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    const std::vector<Event> two = {MakeEvent("e1", "u", 1),
                                    MakeEvent("e2", "u", 2)};
    ASSERT_OK(store->AppendEvents(two).status());
    ASSERT_OK(store->Checkpoint(inside));
  }
  // Not while the data dir holds something else.
  std::ofstream(target + "/stray") << "x";
  EXPECT_THAT(
      AdoptCheckpoint(inside, target, {}),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stray")));
  ASSERT_OK(AdoptCheckpoint(inside, target, {"stray"}));
  EXPECT_FALSE(fs::exists(inside));
  fs::remove(target + "/stray");
  StoreOptions options = options_;
  options.data_dir = target;
  auto adopted = OpenOrDie(options);
  ASSERT_NE(adopted, nullptr);
  EXPECT_EQ(ScanAll(*adopted).size(), 2u);
}

TEST_F(StoreTest, AdoptCheckpointRemovesADamagedCheckpointsFiles) {
  const std::string target = root_ + "/node";
  const std::string inside = target + "/.join";
  fs::create_directories(target);
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    std::vector<Event> batch;
    for (int i = 0; i < 2000; ++i) {
      batch.push_back(MakeEvent(absl::StrCat("d", i), "u", i));
    }
    ASSERT_OK(store->AppendEvents(batch).status());
    ASSERT_OK(store->Checkpoint(inside));
  }
  ASSERT_TRUE(DamageLargestTable(inside));
  // Found when the checkpoint is opened (which reads the event log's tail)
  // or when its files are verified after that.
  EXPECT_THAT(AdoptCheckpoint(inside, target, {}),
              StatusIs(absl::StatusCode::kDataLoss,
                       AnyOf(HasSubstr("checkpoint does not open"),
                             HasSubstr("checkpoint is damaged"))));
  // Nothing that opens is left: the data dir is empty again.
  EXPECT_FALSE(fs::exists(target + "/CURRENT"));
  EXPECT_TRUE(fs::is_empty(target));
}

}  // namespace
}  // namespace aisle::storage
