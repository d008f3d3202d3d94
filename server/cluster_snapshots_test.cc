// The parts of cluster snapshots that need no NATS: blob names and the
// packing of a checkpoint's files (tests/cluster_snapshot_test.cc runs the
// whole path against real nats-server processes).
#include "server/cluster_snapshots.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::server {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the test's temporary directory, removed after.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/cluster-snapshots-XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

TEST(ClusterSnapshotsTest, NamesSortByPositionAndParseBack) {
  const std::string a = SnapshotBlobName({9, 1700000000000});
  const std::string b = SnapshotBlobName({10, 1600000000000});
  EXPECT_LT(a, b);
  std::optional<SnapshotName> parsed = ParseSnapshotBlobName(b);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->position, 10u);
  EXPECT_EQ(parsed->taken_ms, 1600000000000);
  EXPECT_FALSE(ParseSnapshotBlobName("model-v1").has_value());
  EXPECT_FALSE(ParseSnapshotBlobName(a.substr(0, a.size() - 1)).has_value());
  EXPECT_FALSE(ParseSnapshotBlobName("snapshot-0000000000000000000x-"
                                     "1700000000000")
                   .has_value());
}

TEST(ClusterSnapshotsTest, PackAndUnpackRoundTripEveryFile) {
  TempDir dir;
  const fs::path from = dir.Sub("from");
  fs::create_directories(from / "subdir");  // not packed
  std::ofstream(from / "CURRENT") << "MANIFEST-000005\n";
  std::ofstream(from / "empty");
  std::string binary(70000, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i);
  std::ofstream(from / "000007.sst", std::ios::binary) << binary;
  ASSERT_OK_AND_ASSIGN(std::string packed, PackDirectory(from.string()));

  const fs::path to = dir.Sub("to");
  ASSERT_OK(UnpackDirectory(packed, to.string()));
  EXPECT_EQ(ReadFile(to / "CURRENT"), "MANIFEST-000005\n");
  EXPECT_EQ(ReadFile(to / "000007.sst"), binary);
  EXPECT_TRUE(fs::exists(to / "empty"));
  EXPECT_FALSE(fs::exists(to / "subdir"));
  // Not over an existing directory.
  EXPECT_FALSE(UnpackDirectory(packed, to.string()).ok());
}

TEST(ClusterSnapshotsTest, UnpackRefusesBytesItDidNotMake) {
  TempDir dir;
  const fs::path from = dir.Sub("from");
  fs::create_directories(from);
  std::ofstream(from / "file") << "contents";
  ASSERT_OK_AND_ASSIGN(std::string packed, PackDirectory(from.string()));
  // Cut short, wrong header, and a name that climbs out of the directory.
  EXPECT_TRUE(absl::IsInvalidArgument(
      UnpackDirectory(packed.substr(0, packed.size() - 1), dir.Sub("a"))));
  EXPECT_TRUE(
      absl::IsInvalidArgument(UnpackDirectory("not a snapshot", dir.Sub("b"))));
  std::string climbing = packed;
  const size_t at = climbing.find("file");
  ASSERT_NE(at, std::string::npos);
  climbing.replace(at, 4, "../x");
  EXPECT_TRUE(absl::IsInvalidArgument(UnpackDirectory(climbing, dir.Sub("c"))));
  EXPECT_FALSE(fs::exists(fs::path(dir.Sub("c")).parent_path() / "x"));
}

}  // namespace
}  // namespace aisle::server
