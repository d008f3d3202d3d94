// Engine snapshots across restarts of a real server: a restart loads the
// snapshot and replays only the newer events; a damaged snapshot is
// ignored (every event is replayed); a clean shutdown leaves a snapshot
// that covers everything.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

void Feed(TestServer& server, const std::string& user, int events,
          int64_t timestamp_ms) {
  v1::FeedbackRequest request;
  for (int i = 0; i < events; ++i) {
    v1::Event* e = request.add_events();
    e->set_event_id(absl::StrCat(user, "-", timestamp_ms, "-", i));
    e->set_user_id(user);
    e->set_item_id(absl::StrCat("i", i % 5));
    e->set_type(v1::PURCHASE);
    e->set_timestamp_ms(timestamp_ms + i);
  }
  v1::FeedbackResponse response;
  ASSERT_OK(FromGrpc(
      server.stub->Feedback(ContextWithDeadline().get(), request, &response)));
}

// Events per user as the engine reports them ("?" when unknown).
std::string Profile(TestServer& server, const std::string& user) {
  v1::GetUserRequest request;
  request.set_user_id(user);
  v1::UserProfile response;
  const grpc::Status status =
      server.stub->GetUser(ContextWithDeadline().get(), request, &response);
  if (!status.ok()) return "?";
  int64_t events = 0;
  for (const auto& c : response.event_counts()) events += c.count();
  return absl::StrCat(user, ":", events);
}

class SnapshotTest : public ::testing::Test {
 protected:
  server::ServerConfig Config() {
    server::ServerConfig config = TestServerConfig(data_);
    config.snapshot_interval_ms = -1;  // only when the test asks
    return config;
  }
  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(SnapshotTest, RestartLoadsTheSnapshotAndReplaysOnlyNewerEvents) {
  const int64_t old_ms = NowMs() - 10LL * 24 * 3600 * 1000;
  const int64_t new_ms = NowMs() - 1000;
  {
    ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
    Feed(server, "before", 4, old_ms);
    ASSERT_OK(server.server->SnapshotEngine());
    Feed(server, "after", 3, new_ms);
    Feed(server, "before", 2, new_ms);
    // The events the snapshot holds leave the store: only a restart that
    // loads the snapshot still knows them; the newer ones are in the store
    // only (not in the snapshot).
    ASSERT_OK_AND_ASSIGN(int64_t deleted,
                         server.server->store().DeleteEventsBefore(new_ms));
    ASSERT_EQ(deleted, 4);
    EXPECT_EQ(Profile(server, "before"), "before:6");
  }
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  EXPECT_EQ(Profile(server, "before"), "before:6");
  EXPECT_EQ(Profile(server, "after"), "after:3");
  EXPECT_EQ(server.server->engine().Stats().events, 9);
}

TEST_F(SnapshotTest, ADamagedSnapshotIsIgnoredAndEveryEventReplayed) {
  {
    ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
    Feed(server, "u1", 4, NowMs() - 5000);
    Feed(server, "u2", 2, NowMs() - 4000);
    ASSERT_OK(server.server->SnapshotEngine());
    ASSERT_OK_AND_ASSIGN(std::optional<storage::StoredSnapshot> good,
                         server.server->store().GetSnapshot());
    ASSERT_TRUE(good.has_value());
    // The same position, one byte flipped: covers every event, loads none.
    std::vector<std::string> pieces = good->pieces;
    pieces.front()[pieces.front().size() / 2] ^= 1;
    ASSERT_OK_AND_ASSIGN(storage::SnapshotPosition at,
                         server.server->store().SnapshotPositionNow());
    ASSERT_OK(server.server->store().PutSnapshot(at, pieces));
  }
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  EXPECT_EQ(Profile(server, "u1"), "u1:4");
  EXPECT_EQ(Profile(server, "u2"), "u2:2");
  EXPECT_EQ(server.server->engine().Stats().events, 6);
}

TEST_F(SnapshotTest, CleanShutdownLeavesASnapshotCoveringEveryEvent) {
  server::ServerConfig config = Config();
  config.snapshot_interval_ms = 3'600'000;  // at shutdown, not before
  {
    ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(config));
    Feed(server, "u1", 3, NowMs() - 5000);
    ASSERT_OK_AND_ASSIGN(std::optional<storage::StoredSnapshot> none,
                         server.server->store().GetSnapshot());
    EXPECT_FALSE(none.has_value());
  }
  storage::StoreOptions options;
  options.data_dir = data_;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Store> store,
                       storage::Store::Open(options));
  ASSERT_OK_AND_ASSIGN(std::optional<storage::StoredSnapshot> stored,
                       store->GetSnapshot());
  ASSERT_TRUE(stored.has_value());
  int64_t newer = 0;
  ASSERT_OK(store->ScanEventsAfter(stored->position.event_sequence,
                                   [&](std::span<const core::Event> batch) {
                                     newer += batch.size();
                                     return absl::OkStatus();
                                   }));
  EXPECT_EQ(newer, 0);
  core::Engine engine{core::EngineOptions{}};
  ASSERT_OK(engine.LoadSnapshot(stored->pieces));
  EXPECT_EQ(engine.Stats().events, 3);
}

}  // namespace
}  // namespace aisle::testing
