// Opening data directories: a missing one, and one a writer already holds.
#include "cli/data_dir.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

namespace fs = std::filesystem;
using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

class CliDataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("aisle-cli-data-dir-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CliDataDirTest, OpenExistingNamesAMissingDirectory) {
  EXPECT_THAT(
      OpenExisting(dir_.string(), /*read_only=*/true),
      StatusIs(absl::StatusCode::kNotFound, "no data dir " + dir_.string()));
}

// A second writer in this process stands in for a running server.
TEST_F(CliDataDirTest, OpenBesideServerFallsBackToReadOnly) {
  storage::StoreOptions options;
  options.data_dir = dir_.string();
  ASSERT_OK_AND_ASSIGN(auto server, storage::Store::Open(options));

  bool server_running = false;
  int opens = 0;
  auto open = [&](bool read_only) {
    ++opens;
    return OpenExisting(dir_.string(), read_only);
  };
  StoreOrError store = OpenBesideServer(open, &server_running);
  ASSERT_OK(store);
  EXPECT_TRUE(server_running);
  EXPECT_EQ(opens, 2);

  server.reset();
  store->reset();
  opens = 0;
  ASSERT_OK(OpenBesideServer(open, &server_running));
  EXPECT_FALSE(server_running);
  EXPECT_EQ(opens, 1);
}

TEST_F(CliDataDirTest, InUseIsTheLockError) {
  storage::StoreOptions options;
  options.data_dir = dir_.string();
  ASSERT_OK_AND_ASSIGN(auto first, storage::Store::Open(options));
  StoreOrError second = storage::Store::Open(options);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("in use")));
  EXPECT_TRUE(IsDataDirInUse(second.status()));
  EXPECT_FALSE(IsDataDirInUse(absl::NotFoundError("in use")));
}

}  // namespace
}  // namespace aisle::cli
