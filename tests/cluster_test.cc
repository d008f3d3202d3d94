// Cluster mode end to end (docs/cluster.md): real nats-server processes
// (cluster/testing/nats_cluster.h) and several Aisle nodes on loopback,
// in-process or as real `aisle serve --cluster` processes, talking over
// real gRPC sockets. Nothing sleeps for timing: every wait polls a
// condition up to a bound.
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cluster/testing/nats_cluster.h"
#include "core/training.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster_util.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::aisle::cluster::testing::NatsCluster;
using ::testing::HasSubstr;

class ClusterTest : public ClusterNodes {};

TEST_F(ClusterTest, WritesToOneNodeAreSeenOnEveryNode) {
  StartNats(3);
  StartNode();
  StartNode();
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse fed,
                       SendFeedback(stub(0), {MakeEvent("a1", "ann", "i1"),
                                              MakeEvent("a2", "ann", "i2"),
                                              MakeEvent("b1", "bob", "i1")}));
  EXPECT_EQ(fed.accepted(), 3);
  EXPECT_GT(fed.log_position(), 0u);
  // Read-your-writes on the node that took the write, at once.
  EXPECT_EQ(Views(stub(0), "ann"), 2);
  // On the other node, through the position token (one call waits at
  // most --cluster-read-wait, then answers stale: wait for not stale).
  ASSERT_TRUE(WaitForPosition(stub(1), fed.log_position()));
  EXPECT_EQ(Views(stub(1), "ann"), 2);
  EXPECT_EQ(Views(stub(1), "bob"), 1);

  // Items and erasure go through the log too.
  v1::UpsertItemsRequest upsert;
  upsert.add_items()->set_item_id("lamp");
  v1::UpsertItemsResponse upserted;
  ASSERT_OK(FromGrpc(
      stub(1).UpsertItems(ContextWithDeadline().get(), upsert, &upserted)));
  v1::GetItemRequest get_item;
  get_item.set_item_id("lamp");
  EXPECT_TRUE(WaitFor([&] {
    v1::Item item;
    return stub(0).GetItem(ContextWithDeadline().get(), get_item, &item).ok();
  }));
  v1::DeleteUserRequest erase;
  erase.set_user_id("ann");
  v1::DeleteUserResponse erased;
  ASSERT_OK(FromGrpc(
      stub(1).DeleteUser(ContextWithDeadline().get(), erase, &erased)));
  EXPECT_EQ(erased.events_deleted(), 2);
  EXPECT_TRUE(WaitFor(
      [&] { return absl::IsNotFound(GetUser(stub(0), "ann").status()); }));
  for (TestServer& node : nodes_) {
    EXPECT_THAT(node.server->store().CountUserRecords("ann"), IsOkAndHolds(0));
  }
}

TEST_F(ClusterTest, UserAttributesReachEveryNodeAndAreErasedOnEvery) {
  StartNats(1);
  StartNode();
  StartNode();
  v1::UpsertUsersRequest upsert;
  v1::User* user = upsert.add_users();
  user->set_user_id("ada");
  (*user->mutable_attributes())["region"] = "north";
  (*user->mutable_attributes())["age_band"] = "25-34";
  v1::UpsertUsersResponse upserted;
  ASSERT_OK(FromGrpc(
      stub(0).UpsertUsers(ContextWithDeadline().get(), upsert, &upserted)));
  EXPECT_EQ(upserted.upserted(), 1);
  const auto attributes = [&](int node) {
    absl::StatusOr<v1::UserProfile> profile = GetUser(stub(node), "ada");
    std::map<std::string, std::string> out;
    if (profile.ok())
      out.insert(profile->attributes().begin(), profile->attributes().end());
    return out;
  };
  const std::map<std::string, std::string> expected = {{"age_band", "25-34"},
                                                       {"region", "north"}};
  EXPECT_EQ(attributes(0), expected);  // read-your-writes
  EXPECT_TRUE(WaitFor([&] { return attributes(1) == expected; }));

  v1::DeleteUserRequest erase;
  erase.set_user_id("ada");
  v1::DeleteUserResponse erased;
  ASSERT_OK(FromGrpc(
      stub(1).DeleteUser(ContextWithDeadline().get(), erase, &erased)));
  EXPECT_TRUE(erased.profile_deleted());
  for (int node = 0; node < 2; ++node) {
    EXPECT_TRUE(WaitFor([&] {
      return absl::IsNotFound(GetUser(stub(node), "ada").status());
    })) << "node "
        << node;
    EXPECT_THAT(nodes_[node].server->store().CountUserRecords("ada"),
                IsOkAndHolds(0))
        << "node " << node;
  }
}

TEST_F(ClusterTest, ImportEventsBatchesGoThroughTheLog) {
  StartNats(1);
  StartNode();
  StartNode();
  auto ctx = ContextWithDeadline();
  v1::ImportEventsResponse imported;
  std::unique_ptr<grpc::ClientWriter<v1::FeedbackRequest>> writer =
      stub(0).ImportEvents(ctx.get(), &imported);
  for (int batch = 0; batch < 3; ++batch) {
    v1::FeedbackRequest request;
    for (int i = 0; i < 50; ++i) {
      *request.add_events() = MakeEvent(absl::StrCat("imp", batch, "-", i),
                                        absl::StrCat("iu", i % 5), "i1");
    }
    ASSERT_TRUE(writer->Write(request));
  }
  ASSERT_TRUE(writer->WritesDone());
  ASSERT_OK(FromGrpc(writer->Finish()));
  EXPECT_EQ(imported.accepted(), 150);
  // Read-your-writes on the importing node; the other catches up.
  EXPECT_EQ(Views(stub(0), "iu0"), 30);
  EXPECT_TRUE(WaitFor([&] { return Views(stub(1), "iu0") == 30; }));
  ASSERT_OK_AND_ASSIGN(std::vector<core::Event> stored,
                       nodes_[1].server->store().UserEvents("iu4"));
  EXPECT_EQ(stored.size(), 30u);
}

TEST_F(ClusterTest, ARetryThroughAnotherNodeIsNotCountedTwice) {
  StartNats(3);
  StartNode();
  StartNode();
  const std::vector<v1::Event> batch = {MakeEvent("r1", "rita", "i1"),
                                        MakeEvent("r2", "rita", "i2")};
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse first,
                       SendFeedback(stub(0), batch));
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse retry,
                       SendFeedback(stub(1), batch));
  EXPECT_EQ(first.accepted(), 2);
  EXPECT_EQ(retry.accepted(), 0);
  EXPECT_EQ(retry.duplicates(), 2);
  EXPECT_EQ(retry.log_position(), first.log_position());  // the log's dedup
  // Another batch repeating one event id: Aisle's own idempotency keys.
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse mixed,
                       SendFeedback(stub(1), {MakeEvent("r2", "rita", "i2"),
                                              MakeEvent("r3", "rita", "i3")}));
  EXPECT_EQ(mixed.accepted(), 1);
  EXPECT_EQ(mixed.duplicates(), 1);
  ASSERT_TRUE(WaitForPosition(stub(0), mixed.log_position()));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Views(stub(i), "rita"), 3) << "node " << i;
    ASSERT_OK_AND_ASSIGN(std::vector<core::Event> stored,
                         nodes_[i].server->store().UserEvents("rita"));
    EXPECT_EQ(stored.size(), 3u) << "node " << i;
  }
}

TEST_F(ClusterTest, WritesContinueWhenANatsServerIsKilled) {
  StartNats(3);
  StartNode();
  StartNode();
  ASSERT_OK(SendFeedback(stub(0), {MakeEvent("k0", "kim", "i0")}).status());
  // Every replica holds it: killing one leaves a quorum that has it all.
  ASSERT_OK(nats_->WaitStreamHealthy("AISLE"));
  ASSERT_OK(nats_->Kill(0));  // SIGKILL: two of three remain, a quorum
  uint64_t position = 0;
  for (int i = 1; i <= 5; ++i) {
    ASSERT_OK_AND_ASSIGN(
        v1::FeedbackResponse fed,
        SendFeedbackWithRetry(stub(i % 2),
                              {MakeEvent(absl::StrCat("k", i), "kim", "i0")}));
    position = std::max<uint64_t>(position, fed.log_position());
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(WaitForPosition(stub(i), position)) << "node " << i;
    EXPECT_EQ(Views(stub(i), "kim"), 6) << "node " << i;
  }
}

TEST_F(ClusterTest, WithoutNatsWritesAreRefusedAndReadsMarkedStale) {
  StartNats(1);
  StartNode();
  ASSERT_OK(
      SendFeedbackWithRetry(stub(0), {MakeEvent("s1", "sam", "i1")}).status());
  ASSERT_OK(nats_->Kill(0));
  // Until the node notices, an append may still wait for its timeout; it
  // then answers UNAVAILABLE too. Never OK.
  absl::StatusOr<v1::FeedbackResponse> refused =
      SendFeedback(stub(0), {MakeEvent("s2", "sam", "i2")});
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("NATS")));
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse rec, Recommend(stub(0), "sam", 0));
  EXPECT_TRUE(rec.stale());
  EXPECT_EQ(Views(stub(0), "sam"), 1);
  // Health: writes NOT_SERVING (2), the server still SERVING (1) for reads.
  auto health = [&](const std::string& service) {
    absl::StatusOr<int> status = HealthCheck(nodes_[0].channel, service,
                                             std::chrono::milliseconds(2000));
    return status.ok() ? *status : -1;
  };
  EXPECT_TRUE(
      WaitFor([&] { return health("aisle.v1.Recommender.writes") == 2; }));
  EXPECT_EQ(health("aisle.v1.Recommender"), 1);

  ASSERT_OK(nats_->Restart(0));
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse fed,
      SendFeedbackWithRetry(stub(0), {MakeEvent("s3", "sam", "i3")}));
  EXPECT_EQ(fed.accepted(), 1);
  EXPECT_EQ(Views(stub(0), "sam"), 2);  // s2 was never acknowledged nor kept
  ASSERT_OK_AND_ASSIGN(rec, Recommend(stub(0), "sam", fed.log_position()));
  EXPECT_FALSE(rec.stale());
  EXPECT_TRUE(
      WaitFor([&] { return health("aisle.v1.Recommender.writes") == 1; }));
}

// Connected to a NATS server that lost the stream's quorum: appends time
// out, so writes report NOT_SERVING (a load balancer or client can route
// writes elsewhere) while reads stay SERVING; back with the quorum.
TEST_F(ClusterTest, WithoutAQuorumWritesReportNotServingWhileConnected) {
  StartNats(3);
  StartNode();
  ASSERT_OK(SendFeedbackWithRetry(stub(0), {MakeEvent("q1", "quinn", "i1")})
                .status());
  auto health = [&](const std::string& service) {
    absl::StatusOr<int> status = HealthCheck(nodes_[0].channel, service,
                                             std::chrono::milliseconds(2000));
    return status.ok() ? *status : -1;
  };
  ASSERT_EQ(health("aisle.v1.Recommender.writes"), 1);
  // Two of three servers gone: the node stays (or gets) connected to the
  // third, which cannot form a quorum.
  ASSERT_OK(nats_->Kill(1));
  ASSERT_OK(nats_->Kill(2));
  EXPECT_TRUE(
      WaitFor([&] { return health("aisle.v1.Recommender.writes") == 2; },
              absl::Seconds(60)));
  EXPECT_EQ(health("aisle.v1.Recommender"), 1);
  EXPECT_EQ(Views(stub(0), "quinn"), 1);  // reads go on

  ASSERT_OK(nats_->Restart(1));
  EXPECT_TRUE(
      WaitFor([&] { return health("aisle.v1.Recommender.writes") == 1; },
              absl::Seconds(60)));
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse fed,
      SendFeedbackWithRetry(stub(0), {MakeEvent("q2", "quinn", "i2")}));
  EXPECT_EQ(fed.accepted(), 1);
}

TEST_F(ClusterTest, AModelActivationSwitchesEveryNode) {
  StartNats(1);
  StartNode();
  StartNode();
  std::vector<v1::Event> events;
  for (int i = 0; i < 300; ++i) {
    events.push_back(MakeEvent(absl::StrCat("m", i), absl::StrCat("u", i % 20),
                               absl::StrCat("i", (i * 7) % 40)));
  }
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse fed, SendFeedback(stub(0), events));
  ASSERT_OK(Recommend(stub(1), "u1", fed.log_position()).status());
  // A version only node 0 stores: activating it publishes it to the
  // cluster's model bucket first, and node 1 fetches it when it applies
  // the activation (cluster_models_test.cc covers training and joining).
  core::TrainingOptions training;
  training.als.factors = 4;
  training.als.iterations = 3;
  training.als.threads = 1;
  training.validate_fraction = 0;
  training.version = "20260101T000000Z-c";
  ASSERT_OK_AND_ASSIGN(
      core::TrainedModel trained,
      core::TrainModelVersion(nodes_[0].server->engine().ExportTrainingData(),
                              training, core::ModelOptions{}));
  ASSERT_OK(nodes_[0].server->store().PutModel(trained.model->metadata(),
                                               trained.model->Serialize()));
  v1::ActivateModelRequest activate;
  activate.set_version("20260101T000000Z-c");
  v1::ModelInfo info;
  ASSERT_OK(FromGrpc(
      stub(0).ActivateModel(ContextWithDeadline().get(), activate, &info)));
  EXPECT_EQ(info.version(), "20260101T000000Z-c");
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse after,
                       SendFeedback(stub(0), {MakeEvent("after", "u1", "i1")}));
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse rec,
                       Recommend(stub(1), "u1", after.log_position()));
  EXPECT_FALSE(rec.stale());
  EXPECT_EQ(rec.model_version(), "20260101T000000Z-c");
  // A version neither this node nor the bucket holds is refused before
  // it is logged.
  activate.set_version("20990101T000000Z-missing");
  EXPECT_THAT(FromGrpc(stub(1).ActivateModel(ContextWithDeadline().get(),
                                             activate, &info)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not stored")));
}

// Real processes: an Aisle node killed with SIGKILL restarts from its own
// store and catches up with what was written meanwhile, nothing lost or
// doubled.
TEST(ClusterProcessTest, AKilledNodeCatchesUpWithNothingLostOrDoubled) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NatsCluster> nats,
                       NatsCluster::Start(3));
  TempDir dir;
  const std::vector<std::string> args = {"--cluster", nats->url_list()};
  ASSERT_OK_AND_ASSIGN(ServeProcess a,
                       SpawnServe(dir.Sub("a"), args, dir.path()));
  ASSERT_OK_AND_ASSIGN(ServeProcess b, SpawnServe(dir.Sub("b"), args, ""));
  auto stub_a = MakeStub(a.address);
  int sent = 0;
  auto send = [&](int n) -> absl::Status {
    for (int i = 0; i < n; ++i, ++sent) {
      absl::StatusOr<v1::FeedbackResponse> r = SendFeedbackWithRetry(
          *stub_a, {MakeEvent(absl::StrCat("p", sent), "pat",
                              absl::StrCat("i", sent % 7))});
      if (!r.ok()) return r.status();
      if (r->accepted() != 1) return absl::InternalError("not accepted");
    }
    return absl::OkStatus();
  };
  ASSERT_OK(send(20));
  ASSERT_OK(b.process->Signal(SIGKILL));
  ASSERT_OK(b.process->Wait(std::chrono::seconds(10)).status());
  ASSERT_OK(send(20));
  // Restarted on the same data dir: it applies only what it lacks.
  ASSERT_OK_AND_ASSIGN(ServeProcess b2, SpawnServe(dir.Sub("b"), args, ""));
  auto stub_b = MakeStub(b2.address);
  EXPECT_TRUE(WaitFor([&] { return Views(*stub_b, "pat") == 40; }))
      << Views(*stub_b, "pat");
  EXPECT_EQ(Views(*stub_a, "pat"), 40);
  // The same state gives the same answers.
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse from_a,
                       Recommend(*stub_a, "pat", 0));
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse from_b,
                       Recommend(*stub_b, "pat", 0));
  ASSERT_EQ(from_a.items_size(), from_b.items_size());
  for (int i = 0; i < from_a.items_size(); ++i) {
    EXPECT_EQ(from_a.items(i).item_id(), from_b.items(i).item_id());
  }
}

}  // namespace
}  // namespace aisle::testing
