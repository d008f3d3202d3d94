// Models through the cluster (docs/cluster.md, "Models through the
// cluster"): `aisle train --cluster` and `aisle models import --cluster`
// (the real binary) train on (or check against) the log,
// publishes the version to the cluster's model bucket and logs its
// activation; every node, including one that joins afterwards, ends up
// serving it with the same answers; an inbox drop in cluster mode reaches
// every node; a damaged chunk set is refused by a node that must fetch it.
// Real nats-server processes, in-process nodes over real gRPC sockets.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/blob_store.h"
#include "cluster/testing/nats_cluster.h"
#include "core/training.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_manager.h"
#include "tests/cluster_util.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

// Whether node `server`'s engine answered `user`'s FOR_YOU with the ANN
// index (true) or by exact search (false: no index in place yet).
bool UsedAnnIndex(server::AisleServer& server, const std::string& user) {
  core::RecommendRequest request;
  request.user_id = user;
  request.scenario = core::Scenario::kForYou;
  request.include_seen = true;
  core::RecommendTrace trace;
  EXPECT_OK(server.engine().Recommend(request, &trace).status());
  return trace.used_ann;
}

// Lets go of a FIFO that a reader may be blocked opening: a writer opens
// and closes it (the reader then reads EOF), and the name is removed (a
// later open finds no file). Never blocks: O_RDWR on a FIFO does not wait.
void ReleaseFifo(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_NONBLOCK);
  unlink(path.c_str());
  if (fd >= 0) close(fd);
}

class ClusterModelsTest : public ClusterNodes {
 protected:
  // 40 catalog items and 300 events of 20 users over them, through node
  // 0; returns the position of the last one.
  uint64_t Feed() {
    v1::UpsertItemsRequest upsert;
    for (int i = 0; i < 40; ++i) {
      upsert.add_items()->set_item_id(absl::StrCat("i", i));
    }
    v1::UpsertItemsResponse upserted;
    EXPECT_OK(FromGrpc(
        stub(0).UpsertItems(ContextWithDeadline().get(), upsert, &upserted)));
    std::vector<v1::Event> events;
    for (int i = 0; i < 300; ++i) {
      events.push_back(MakeEvent(absl::StrCat("e", i),
                                 absl::StrCat("u", i % 20),
                                 absl::StrCat("i", (i * 7 + i / 20) % 40)));
    }
    absl::StatusOr<v1::FeedbackResponse> fed = SendFeedback(stub(0), events);
    EXPECT_OK(fed.status());
    return fed.ok() ? fed->log_position() : 0;
  }

  std::string ModelVersion(int node) {
    v1::ModelInfo info;
    grpc::Status s = stub(node).GetModelInfo(ContextWithDeadline().get(),
                                             v1::GetModelInfoRequest(), &info);
    return s.ok() ? info.version() : "";
  }

  // Waits until every node serves `version`.
  bool AllServe(const std::string& version) {
    return WaitFor([&] {
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (ModelVersion(static_cast<int>(i)) != version) return false;
      }
      return true;
    });
  }

  // Every node gives sampled users the same answer, from `version`.
  void ExpectSameAnswers(const std::string& version, uint64_t position) {
    for (int u = 0; u < 20; u += 3) {
      const std::string user = absl::StrCat("u", u);
      std::vector<std::string> first;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        ASSERT_OK_AND_ASSIGN(
            v1::RecommendResponse rec,
            Recommend(stub(static_cast<int>(n)), user, position));
        EXPECT_EQ(rec.model_version(), version) << "node " << n;
        EXPECT_FALSE(rec.stale());
        std::vector<std::string> items;
        for (const auto& item : rec.items()) items.push_back(item.item_id());
        EXPECT_FALSE(items.empty());
        if (n == 0) {
          first = items;
        } else {
          EXPECT_EQ(items, first) << user << " on node " << n;
        }
      }
    }
  }

  // A model trained in-process on node 0's state.
  std::shared_ptr<const core::FactorModel> Train(const std::string& version) {
    core::TrainingOptions training;
    training.als.factors = 4;
    training.als.iterations = 3;
    training.als.threads = 1;
    training.validate_fraction = 0;
    training.version = version;
    absl::StatusOr<core::TrainedModel> trained =
        core::TrainModelVersion(nodes_[0].server->engine().ExportTrainingData(),
                                training, core::ModelOptions{});
    EXPECT_OK(trained.status());
    return trained.ok() ? trained->model : nullptr;
  }

  absl::StatusOr<std::unique_ptr<cluster::BlobStore>> Bucket() {
    cluster::BlobStoreOptions options;
    options.servers = nats_->urls();
    return cluster::ConnectJetStreamBlobs(options);
  }
};

TEST_F(ClusterModelsTest,
       TrainAndImportPublishAndEveryNodeIncludingALateOneSwitches) {
  StartNats(3);
  StartNode();
  StartNode();
  const uint64_t fed = Feed();
  const std::string version = "20260301T000000Z-tr";
  ASSERT_OK_AND_ASSIGN(
      RunResult run,
      RunAisle({"train", "--cluster", nats_->url_list(), "--data-dir",
                dir_.Sub("trainer"), "--factors", "4", "--iterations", "3",
                "--threads", "1", "--validate-fraction", "0", "--segments", "0",
                "--version", version},
               {}, std::chrono::seconds(120)));
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  EXPECT_THAT(run.out, HasSubstr("published to bucket AISLE_MODELS"));
  EXPECT_THAT(run.out, HasSubstr("activation logged at position"));
  // The trainer applied the log: it trained on all 20 users.
  EXPECT_THAT(run.out, HasSubstr("20 users x "));
  ASSERT_TRUE(AllServe(version));
  // Neither node had the blob: both fetched it.
  for (TestServer& node : nodes_) {
    EXPECT_OK(node.server->store().GetModelBlob(version).status());
  }
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse after,
                       SendFeedback(stub(1), {MakeEvent("x", "u1", "i2")}));
  ExpectSameAnswers(version, std::max(fed, after.log_position()));
  // A node joining now, with an empty data dir, gets the version too.
  StartNode();
  EXPECT_EQ(ModelVersion(2), version);
  ExpectSameAnswers(version, after.log_position());

  // Factors trained elsewhere go the same way (aisle models import).
  const std::string factors = dir_.Sub("items.tsv");
  {
    std::ofstream out(factors);
    for (int i = 0; i < 40; ++i) {
      out << "i" << i << "\t" << (i % 5) * 0.1 << " " << (i % 7) * 0.1
          << " 0.5 " << (i % 3) * 0.2 << "\n";
    }
  }
  ASSERT_OK_AND_ASSIGN(
      RunResult imported,
      RunAisle({"models", "import", "--cluster", nats_->url_list(),
                "--data-dir", dir_.Sub("trainer"), "--item-factors", factors,
                "--version", "20260305T000000Z-imp"},
               {}, std::chrono::seconds(120)));
  ASSERT_EQ(imported.exit_code, 0) << imported.err << imported.out;
  EXPECT_THAT(imported.out, HasSubstr("40 of 40 items have a vector"));
  ASSERT_TRUE(AllServe("20260305T000000Z-imp"));
  ExpectSameAnswers("20260305T000000Z-imp", after.log_position());
}

TEST_F(ClusterModelsTest, AnInboxDropReachesEveryNode) {
  StartNats(1);
  StartNode();
  StartNode();
  Feed();
  std::shared_ptr<const core::FactorModel> model = Train("20260302T000000Z-in");
  ASSERT_NE(model, nullptr);
  const std::string inbox =
      server::ModelInboxDir(nodes_[0].server->config().data_dir);
  std::filesystem::create_directories(inbox);
  {
    std::ofstream out(inbox + "/20260302T000000Z-in.model", std::ios::binary);
    out << model->Serialize();
  }
  ASSERT_OK(nodes_[0].server->PollModelsOnce());
  // Activated through the log: node 1 switches as well, not node 0 alone.
  ASSERT_TRUE(AllServe("20260302T000000Z-in"));
  EXPECT_FALSE(std::filesystem::exists(inbox + "/20260302T000000Z-in.model"));
}

TEST_F(ClusterModelsTest, ADamagedChunkSetIsRefusedAndTheOldModelServes) {
  StartNats(1);
  StartNode();
  const uint64_t fed = Feed();
  v1::ModelInfo info;
  for (const std::string version :
       {"20260303T000000Z-a", "20260304T000000Z-b"}) {
    std::shared_ptr<const core::FactorModel> model = Train(version);
    ASSERT_NE(model, nullptr);
    ASSERT_OK(nodes_[0].server->store().PutModel(model->metadata(),
                                                 model->Serialize()));
    v1::ActivateModelRequest activate;
    activate.set_version(version);
    ASSERT_OK(FromGrpc(
        stub(0).ActivateModel(ContextWithDeadline().get(), activate, &info)));
  }
  // b's second chunk is damaged in the bucket after it was published.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<cluster::BlobStore> bucket, Bucket());
  ASSERT_OK_AND_ASSIGN(std::optional<cluster::BlobInfo> b,
                       bucket->Stat("20260304T000000Z-b"));
  ASSERT_TRUE(b.has_value());
  ASSERT_OK(cluster::testing::SetBucketKey(
      nats_->url(0), "AISLE_MODELS",
      cluster::BlobKeyPrefix("20260304T000000Z-b") + ".chunk.0",
      std::string("damaged")));
  EXPECT_THAT(bucket->Get("20260304T000000Z-b"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bytes")));
  // A node joining now fetches a, refuses b, and keeps serving a.
  StartNode([](server::ServerConfig& config) { config.metrics_port = 0; });
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse rec,
                       Recommend(stub(1), "u1", fed));
  EXPECT_EQ(rec.model_version(), "20260303T000000Z-a");
  EXPECT_THAT(nodes_[1].server->store().GetModelBlob("20260304T000000Z-b"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  ASSERT_OK_AND_ASSIGN(std::string text,
                       HttpGet(nodes_[1].server->metrics_port(), "/metrics"));
  std::map<std::string, double> samples = ParseMetricSamples(text);
  EXPECT_EQ(samples["aisle_cluster_model_fetches_total{result=\"ok\"}"], 1);
  EXPECT_EQ(samples["aisle_cluster_model_fetches_total{result=\"refused\"}"],
            1);
}

// Applying an activation must not build the model's ANN index on the log
// applier's thread: a large index takes seconds, and meanwhile every
// write through every node would wait for the applier. The engine builds
// it in the background instead. Here that build is held at a step the
// test controls (the engine first reads the index cache, and this
// version's cached checksum file is a FIFO nobody writes to yet), so the
// test can tell, whatever the machine's speed, that a later write through
// the node was applied and acknowledged while the index was still pending.
TEST_F(ClusterModelsTest,
       AnActivationDoesNotHoldTheApplierWhileItsIndexBuilds) {
  StartNats(1);
  auto small_index = [](server::ServerConfig& config) {
    config.engine.model.ann_min_items = 10;  // the 40 items get an index
    config.engine.model.ann.threads = 1;
  };
  StartNode(small_index);
  StartNode(small_index);
  Feed();
  // The index is searched when the catalog is large next to what a
  // request needs (core/retrieval.cc): 400 items with vectors.
  constexpr int kItems = 400;
  v1::UpsertItemsRequest upsert;
  for (int i = 0; i < kItems; ++i) {
    upsert.add_items()->set_item_id(absl::StrCat("i", i));
  }
  v1::UpsertItemsResponse upserted;
  ASSERT_OK(FromGrpc(
      stub(0).UpsertItems(ContextWithDeadline().get(), upsert, &upserted)));
  const std::string version = "20260306T000000Z-ix";
  core::ModelMetadata metadata;
  metadata.version = version;
  metadata.factors = 4;
  metadata.parameters = {{"regularization", "0.1"}};
  std::vector<std::string> ids;
  core::RowMatrix vectors(kItems, 4);
  for (int i = 0; i < kItems; ++i) {
    ids.push_back(absl::StrCat("i", i));
    for (int f = 0; f < 4; ++f)
      vectors(i, f) = 0.1f + ((i * 7 + f * 3) % 11) * 0.05f;
  }
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<const core::FactorModel> model,
      core::FactorModel::Create(metadata, ids, vectors, {}, core::RowMatrix(),
                                core::ModelOptions{}));
  ASSERT_OK(nodes_[0].server->store().PutModel(model->metadata(),
                                               model->Serialize()));
  const std::string fifo =
      server::AnnCacheDir(nodes_[1].server->config().data_dir) + "/" + version +
      ".hnsw.sum";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << fifo;
  struct Release {
    std::string path;
    ~Release() { ReleaseFifo(path); }  // also when an assertion fails
  } release{fifo};

  v1::ActivateModelRequest activate;
  activate.set_version(version);
  v1::ModelInfo info;
  ASSERT_OK(FromGrpc(
      stub(0).ActivateModel(ContextWithDeadline().get(), activate, &info)));
  // A write through node 1 after the activation: acknowledged only once
  // node 1 applied it, i.e. after it applied the activation before it.
  ASSERT_OK_AND_ASSIGN(v1::FeedbackResponse later,
                       SendFeedback(stub(1), {MakeEvent("late", "u1", "i3")}));
  EXPECT_EQ(later.accepted(), 1);
  EXPECT_EQ(ModelVersion(1), version);
  // ... while its index is still pending: searches are exact.
  EXPECT_FALSE(UsedAnnIndex(*nodes_[1].server, "u1"));
  // Node 0 had no such obstacle: its index comes in the background.
  EXPECT_TRUE(WaitFor([&] { return UsedAnnIndex(*nodes_[0].server, "u1"); }));

  ReleaseFifo(fifo);  // node 1's engine now builds the index
  EXPECT_TRUE(WaitFor([&] { return UsedAnnIndex(*nodes_[1].server, "u1"); }));
}

}  // namespace
}  // namespace aisle::testing
