// The parts of cluster snapshots that need no NATS: blob names (packing is
// directory_pack_test.cc; tests/cluster_snapshot_test.cc runs the whole
// path against real nats-server processes).
#include "server/cluster_snapshots.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::server {
namespace {

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

}  // namespace
}  // namespace aisle::server
