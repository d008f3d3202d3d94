// Data dir checks at open: writers in this or another process, read-only
// opens, damaged, foreign and newer-schema directories.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

namespace fs = std::filesystem;
using ::aisle::core::Event;
using ::aisle::core::Item;
using ::aisle::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

TEST_F(StoreTest, SecondOpenIsRefusedAsInUse) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(options_);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition, _));
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos)
      << second.status();
}

TEST_F(StoreTest, ReadOnlyOpenNextToWriterSeesFlushedData) {
  auto writer = OpenOrDie();
  ASSERT_NE(writer, nullptr);
  ASSERT_OK(writer->AppendEvents(
      std::vector<Event>{MakeEvent("e1", "u", 1), MakeEvent("e2", "u", 2)}));
  ASSERT_OK(writer->PutModel(Meta("v1", 1), "blob"));
  ASSERT_OK(writer->Flush());

  StoreOptions ro = options_;
  ro.read_only = true;
  auto reader = OpenOrDie(ro);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(ScanAll(*reader).size(), 2u);
  EXPECT_EQ(*reader->GetModelBlob("v1"), "blob");
  EXPECT_THAT(reader->AppendEvents(std::vector<Event>{MakeEvent("e3", "u", 3)})
                  .status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, _));
  EXPECT_THAT(reader->PutItems(std::vector<Item>{}),
              StatusIs(absl::StatusCode::kFailedPrecondition, _));
  // The writer is unaffected.
  EXPECT_OK(writer->AppendEvents(std::vector<Event>{MakeEvent("e3", "u", 3)}));
}

TEST_F(StoreTest, ReadOnlyOpenOfMissingDirIsNotFound) {
  StoreOptions ro = options_;
  ro.read_only = true;
  EXPECT_THAT(Store::Open(ro), StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_FALSE(fs::exists(options_.data_dir));
}

enum class Damage {
  kGarbageCurrent,
  kMissingCurrent,
  kGarbageManifest,
  kTruncatedManifest,
  kGarbageSst
};

class DamagedStoreTest : public StoreTest,
                         public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedStoreTest, OpenFailsAndLeavesFilesAlone) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->AppendEvents(NumberedBatch("u", 0, 100)));
    ASSERT_OK(store->Flush());
  }
  std::string manifest, sst;
  for (const fs::directory_entry& e :
       fs::directory_iterator(options_.data_dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("MANIFEST-")) manifest = e.path();
    if (name.ends_with(".sst") && fs::file_size(e.path()) > 1000) {
      sst = e.path();
    }
  }
  ASSERT_FALSE(manifest.empty());
  ASSERT_FALSE(sst.empty());
  auto garble = [](const std::string& path) {
    const auto size = fs::file_size(path);
    std::mt19937 rng(7);
    std::string junk(size, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << junk;
  };
  const std::string current = options_.data_dir + "/CURRENT";
  switch (GetParam()) {
    case Damage::kGarbageCurrent:
      std::ofstream(current, std::ios::trunc) << "not a manifest name\n";
      break;
    case Damage::kMissingCurrent:
      fs::remove(current);
      break;
    case Damage::kGarbageManifest:
      garble(manifest);
      break;
    case Damage::kTruncatedManifest:
      fs::resize_file(manifest, 10);
      break;
    case Damage::kGarbageSst:
      garble(sst);
      break;
  }
  const std::map<std::string, std::string> before = Snapshot(options_.data_dir);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
  EXPECT_FALSE(store.ok());
  EXPECT_EQ(Snapshot(options_.data_dir), before);
  if (!store.ok()) {
    EXPECT_THAT(store, StatusIs(absl::StatusCode::kDataLoss, _));
  }
}

INSTANTIATE_TEST_SUITE_P(Damages, DamagedStoreTest,
                         ::testing::Values(Damage::kGarbageCurrent,
                                           Damage::kMissingCurrent,
                                           Damage::kGarbageManifest,
                                           Damage::kTruncatedManifest,
                                           Damage::kGarbageSst),
                         [](const ::testing::TestParamInfo<Damage>& info) {
                           switch (info.param) {
                             case Damage::kGarbageCurrent:
                               return "GarbageCurrent";
                             case Damage::kMissingCurrent:
                               return "MissingCurrent";
                             case Damage::kGarbageManifest:
                               return "GarbageManifest";
                             case Damage::kTruncatedManifest:
                               return "TruncatedManifest";
                             case Damage::kGarbageSst:
                               return "GarbageSst";
                           }
                           return "Unknown";
                         });

TEST_F(StoreTest, RefusesForeignNonEmptyDirectory) {
  fs::create_directories(options_.data_dir);
  std::ofstream(options_.data_dir + "/notes.txt") << "mine";
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kFailedPrecondition, _));
  EXPECT_EQ(Snapshot(options_.data_dir).size(), 1u);
}

TEST_F(StoreTest, RefusesNewerSchemaVersion) {
  OpenOrDie().reset();
  PutRaw(options_.data_dir, "meta", "schema_version", "99");
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kFailedPrecondition,
                              HasSubstr("schema version 99")));
  EXPECT_NE(store.status().message().find("schema version 99"),
            absl::string_view::npos)
      << store.status();
}

TEST_F(StoreTest, OpenHeldByAnotherProcessIsRefusedWithoutTouchingFiles) {
  ChildProcess holder([&](int fd) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
    Report(fd, store.ok() ? 1 : 0);
    pause();  // until killed
  });
  ASSERT_TRUE(holder.started());
  ASSERT_EQ(holder.Next(), 1);
  const std::map<std::string, std::string> before = Snapshot(options_.data_dir);
  const std::set<std::string> names_before = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(options_.data_dir)) {
      names.insert(e.path().filename().string());
    }
    return names;
  }();

  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(options_);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition, _));
  EXPECT_NE(second.status().message().find("in use by another aisle process"),
            absl::string_view::npos)
      << second.status();
  // Not even the holder's info LOG was rotated.
  std::set<std::string> names_after;
  for (const auto& e : fs::directory_iterator(options_.data_dir)) {
    names_after.insert(e.path().filename().string());
  }
  EXPECT_EQ(names_after, names_before);
  EXPECT_EQ(Snapshot(options_.data_dir), before);

  StoreOptions ro = options_;
  ro.read_only = true;
  EXPECT_OK(Store::Open(ro));
  holder.Kill();
  holder.Wait();
  EXPECT_OK(Store::Open(options_));
}

}  // namespace
}  // namespace aisle::storage
