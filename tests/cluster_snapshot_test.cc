// Snapshots and joining (docs/cluster.md): a node with an empty data dir
// joins from the newest published node snapshot plus the log's tail, so
// the log need not hold all history; a node whose store is behind what the
// log still holds re-joins from a later snapshot at restart, and without
// one refuses to start, saying what to do; after DeleteUser the
// bucket holds no snapshot with the user. Real nats-server processes,
// in-process nodes over real gRPC sockets.
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "cluster/blob_store.h"
#include "cluster/event_log.h"
#include "cluster/testing/nats_cluster.h"
#include "gtest/gtest.h"
#include "server/cluster_snapshots.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"
#include "tests/cluster_util.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

constexpr char kErased[] = "erase-me-5b1d0e";

// Notified when the default logger writes a line containing `text`; added
// to the default logger for the object's life.
class LogWatch : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LogWatch(std::string text) : text_(std::move(text)) {}
  absl::Notification seen;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view line(msg.payload.data(), msg.payload.size());
    if (!seen.HasBeenNotified() && line.find(text_) != std::string_view::npos) {
      seen.Notify();
    }
  }
  void flush_() override {}

 private:
  const std::string text_;
};

class ClusterSnapshotTest : public ClusterNodes {
 protected:
  std::unique_ptr<cluster::BlobStore> Bucket() {
    cluster::BlobStoreOptions options;
    options.servers = nats_->urls();
    options.bucket = server::SnapshotBucketName("AISLE");
    options.connection_name = "snapshot-test";
    absl::StatusOr<std::unique_ptr<cluster::BlobStore>> bucket =
        cluster::ConnectJetStreamBlobs(options);
    EXPECT_OK(bucket.status());
    return bucket.ok() ? *std::move(bucket) : nullptr;
  }

  std::unique_ptr<cluster::EventLog> Log() {
    cluster::LogOptions options;
    options.servers = nats_->urls();
    options.connection_name = "snapshot-test";
    absl::StatusOr<std::unique_ptr<cluster::EventLog>> log =
        cluster::ConnectJetStream(options);
    EXPECT_OK(log.status());
    return log.ok() ? *std::move(log) : nullptr;
  }

  // The snapshots in the bucket, by name.
  std::vector<std::string> Snapshots(cluster::BlobStore& bucket) {
    absl::StatusOr<std::vector<std::string>> names = bucket.List();
    EXPECT_OK(names.status());
    std::vector<std::string> out;
    if (!names.ok()) return out;
    for (const std::string& name : *names) {
      if (server::ParseSnapshotBlobName(name).has_value()) out.push_back(name);
    }
    return out;
  }
};

// Publishing is by hand here (interval -1); the stream has a retention
// limit (1 h, so nothing ages out during the test) and its head is purged
// as retention would, at a known sequence.
void ManualSnapshots(server::ServerConfig& config) {
  config.cluster_snapshot_interval_ms = -1;
  config.cluster_max_age_ms = 3'600'000;
}

TEST_F(ClusterSnapshotTest, AnEmptyNodeJoinsFromTheSnapshotAndTheLogsTail) {
  StartNats(1);
  StartNode(ManualSnapshots);
  // Before the snapshot: events of two users.
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse before,
      SendFeedbackWithRetry(
          stub(0), {MakeEvent("a1", "ann", "i1"), MakeEvent("a2", "ann", "i2"),
                    MakeEvent("b1", "bo", "i1")}));
  ASSERT_TRUE(WaitForPosition(stub(0), before.log_position()));
  ASSERT_OK_AND_ASSIGN(std::string name,
                       nodes_[0].server->PublishClusterSnapshot());
  std::optional<server::SnapshotName> parsed =
      server::ParseSnapshotBlobName(name);
  ASSERT_TRUE(parsed.has_value()) << name;
  EXPECT_GE(parsed->position, before.log_position());

  // After it: the tail, which only the log holds.
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse after,
      SendFeedbackWithRetry(stub(0), {MakeEvent("a3", "ann", "i3"),
                                      MakeEvent("c1", "cy", "i2")}));
  ASSERT_GT(after.log_position(), parsed->position);

  // Retention deletes everything the snapshot covers: the log no longer
  // has its start.
  ASSERT_OK(cluster::testing::PurgeStreamBelow(nats_->url(0), "AISLE",
                                               parsed->position + 1));
  std::unique_ptr<cluster::EventLog> log = Log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(absl::IsOutOfRange(log->OpenReader(1).status()))
      << log->OpenReader(1).status();

  // A node with an empty data dir gets both parts.
  StartNode(ManualSnapshots);
  ASSERT_TRUE(WaitForPosition(stub(1), after.log_position()));
  EXPECT_EQ(Views(stub(1), "ann"), 3);
  EXPECT_EQ(Views(stub(1), "bo"), 1);
  EXPECT_EQ(Views(stub(1), "cy"), 1);
  // And goes on applying what comes next.
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse later,
      SendFeedbackWithRetry(stub(0), {MakeEvent("b2", "bo", "i3")}));
  ASSERT_TRUE(WaitForPosition(stub(1), later.log_position()));
  EXPECT_EQ(Views(stub(1), "bo"), 2);

  // Without a snapshot, an empty node cannot catch up with that log: it
  // refuses to start and says what to do (not serve a partial state).
  std::unique_ptr<cluster::BlobStore> bucket = Bucket();
  ASSERT_NE(bucket, nullptr);
  ASSERT_OK(bucket->Delete(name));
  server::ServerConfig config = TestServerConfig(dir_.Sub("no-snapshot"));
  config.cluster = nats_->url_list();
  ManualSnapshots(config);
  absl::StatusOr<TestServer> refused = StartTestServer(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsOutOfRange(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("snapshot"), std::string::npos)
      << refused.status();
}

TEST_F(ClusterSnapshotTest, ANodeLeftBehindByRetentionReJoinsAtRestart) {
  StartNats(1);
  StartNode(ManualSnapshots);
  StartNode(ManualSnapshots);
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse first,
      SendFeedbackWithRetry(stub(0), {MakeEvent("a1", "ann", "i1"),
                                      MakeEvent("b1", "bo", "i1")}));
  ASSERT_TRUE(WaitForPosition(stub(1), first.log_position()));
  // Node 1 stops with its store at `first`; the cluster goes on.
  nodes_[1].server->Shutdown();
  nodes_[1] = TestServer{};
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse missed,
      SendFeedbackWithRetry(stub(0), {MakeEvent("a2", "ann", "i2"),
                                      MakeEvent("c1", "cy", "i1")}));
  ASSERT_TRUE(WaitForPosition(stub(0), missed.log_position()));
  ASSERT_OK_AND_ASSIGN(std::string name,
                       nodes_[0].server->PublishClusterSnapshot());
  const uint64_t snapshot_at = server::ParseSnapshotBlobName(name)->position;
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse tail,
      SendFeedbackWithRetry(stub(0), {MakeEvent("a3", "ann", "i3")}));
  // Retention deletes what the snapshot covers, entries node 1 never read
  // among them.
  ASSERT_OK(cluster::testing::PurgeStreamBelow(nats_->url(0), "AISLE",
                                               snapshot_at + 1));

  // Restarted on its old data dir, node 1 replaces its store with the
  // snapshot and reads the tail: it has everything, once.
  server::ServerConfig config = TestServerConfig(dir_.Sub("node1"));
  config.cluster = nats_->url_list();
  ManualSnapshots(config);
  ASSERT_OK_AND_ASSIGN(nodes_[1], StartTestServer(config));
  ASSERT_TRUE(WaitForPosition(stub(1), tail.log_position()));
  EXPECT_EQ(Views(stub(1), "ann"), 3);
  EXPECT_EQ(Views(stub(1), "bo"), 1);
  EXPECT_EQ(Views(stub(1), "cy"), 1);

  // Left behind again with no snapshot later than its position, it
  // refuses to start (its store is kept) and says what to do.
  nodes_[1].server->Shutdown();
  nodes_[1] = TestServer{};
  ASSERT_OK(
      SendFeedbackWithRetry(stub(0), {MakeEvent("b2", "bo", "i2")}).status());
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse last,
      SendFeedbackWithRetry(stub(0), {MakeEvent("b3", "bo", "i3")}));
  ASSERT_OK(cluster::testing::PurgeStreamBelow(nats_->url(0), "AISLE",
                                               last.log_position()));
  absl::StatusOr<TestServer> refused = StartTestServer(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsOutOfRange(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("no snapshot later"),
            std::string::npos)
      << refused.status();
  // Once a node that is up to date published one, the restart works.
  ASSERT_TRUE(WaitForPosition(stub(0), last.log_position()));
  ASSERT_OK(nodes_[0].server->PublishClusterSnapshot().status());
  ASSERT_OK_AND_ASSIGN(nodes_[1], StartTestServer(config));
  ASSERT_TRUE(WaitForPosition(stub(1), last.log_position()));
  EXPECT_EQ(Views(stub(1), "bo"), 3);
  EXPECT_EQ(Views(stub(1), "ann"), 3);
}

TEST_F(ClusterSnapshotTest, AfterDeleteUserNoSnapshotInTheBucketHoldsTheUser) {
  StartNats(1);
  StartNode([](server::ServerConfig& config) {
    config.cluster_snapshot_interval_ms = 200;  // checked every 50 ms
  });
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse fed,
      SendFeedbackWithRetry(stub(0), {MakeEvent("x1", kErased, "i1"),
                                      MakeEvent("x2", kErased, "i2"),
                                      MakeEvent("b1", "bob", "i1")}));
  std::unique_ptr<cluster::BlobStore> bucket = Bucket();
  ASSERT_NE(bucket, nullptr);
  // Published on its own, holding the user (which also shows that the
  // search below can find the id in a snapshot's bytes).
  std::string holding;
  ASSERT_TRUE(WaitFor([&] {
    for (const std::string& name : Snapshots(*bucket)) {
      if (server::ParseSnapshotBlobName(name)->position >= fed.log_position()) {
        absl::StatusOr<std::string> bytes = bucket->Get(name);
        if (!bytes.ok()) continue;  // replaced meanwhile
        holding = *std::move(bytes);
        return true;
      }
    }
    return false;
  }));
  EXPECT_NE(holding.find(kErased), std::string::npos);

  v1::DeleteUserRequest erase;
  erase.set_user_id(kErased);
  v1::DeleteUserResponse erased;
  ASSERT_OK(FromGrpc(
      stub(0).DeleteUser(ContextWithDeadline().get(), erase, &erased)));
  std::unique_ptr<cluster::EventLog> log = Log();
  ASSERT_NE(log, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t deleted_at, log->LastSequence());

  // Within a few checks the bucket holds one snapshot, taken after the
  // DeleteUser, and none of its bytes is the user's id.
  std::vector<std::string> left;
  ASSERT_TRUE(WaitFor([&] {
    left = Snapshots(*bucket);
    return left.size() == 1 &&
           server::ParseSnapshotBlobName(left[0])->position >= deleted_at;
  })) << absl::StrJoin(left, ", ");
  ASSERT_OK_AND_ASSIGN(std::string bytes, bucket->Get(left[0]));
  EXPECT_EQ(bytes.find(kErased), std::string::npos);

  // A node joining from it knows bob and not the erased user.
  StartNode([](server::ServerConfig& config) {
    config.cluster_snapshot_interval_ms = -1;
  });
  ASSERT_TRUE(WaitForPosition(stub(1), deleted_at));
  EXPECT_EQ(Views(stub(1), "bob"), 1);
  EXPECT_EQ(Views(stub(1), kErased), 0);
}

// NATS starting with the node (a new cluster, every pod restarted at
// once): until NATS answers, the snapshot bucket cannot be listed. An
// empty node retries for --cluster-join-wait, then exits saying why.
TEST_F(ClusterSnapshotTest, AnEmptyNodeWaitsForNatsBeforeJoining) {
  StartNats(1);
  ASSERT_OK(nats_->Kill(0));
  server::ServerConfig config = TestServerConfig(dir_.Sub("gives-up"));
  config.cluster = nats_->url_list();
  config.cluster_join_wait_ms = 500;
  absl::StatusOr<TestServer> gave_up = StartTestServer(config);
  ASSERT_FALSE(gave_up.ok());
  EXPECT_TRUE(absl::IsUnavailable(gave_up.status())) << gave_up.status();
  EXPECT_NE(gave_up.status().message().find("snapshots cannot be listed"),
            std::string::npos)
      << gave_up.status();

  // Given time, it joins once NATS is back (started only after the node
  // said it retries, so the first attempt surely failed).
  auto watch = std::make_shared<LogWatch>("retrying in");
  spdlog::default_logger()->sinks().push_back(watch);
  config = TestServerConfig(dir_.Sub("waits"));
  config.cluster = nats_->url_list();
  config.cluster_join_wait_ms = 120'000;
  absl::StatusOr<TestServer> joined = absl::UnknownError("not started");
  std::thread starter([&] { joined = StartTestServer(config); });
  const bool retried =
      watch->seen.WaitForNotificationWithTimeout(absl::Seconds(60));
  const absl::Status restarted = nats_->Restart(0);
  starter.join();
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::find(sinks.begin(), sinks.end(), watch));
  ASSERT_OK(restarted);
  EXPECT_TRUE(retried);
  ASSERT_OK(joined.status());
  nodes_.push_back(*std::move(joined));
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse fed,
      SendFeedbackWithRetry(stub(0), {MakeEvent("w1", "wes", "i1")}));
  ASSERT_TRUE(WaitForPosition(stub(0), fed.log_position()));
  EXPECT_EQ(Views(stub(0), "wes"), 1);
}

}  // namespace
}  // namespace aisle::testing
