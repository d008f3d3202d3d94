// Erasure is complete: after DeleteUser no file of the data directory (nor
// a backup taken afterwards, nor /metrics) holds the user's id, and stored
// model versions hold no user vectors at all. Also event retention.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/als.h"
#include "core/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_manager.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The files under `dir` whose bytes contain `needle`, plain or hex-encoded
// (RocksDB's LOG prints keys in hex).
std::vector<std::string> FilesContaining(const std::string& dir,
                                         const std::string& needle) {
  const std::string hex = absl::BytesToHexString(needle);
  std::vector<std::string> found;
  for (const fs::directory_entry& entry :
       fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const std::string text = bytes.str();
    if (text.find(needle) != std::string::npos ||
        absl::AsciiStrToLower(text).find(hex) != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

// A model the way builds before this one stored it: with user vectors.
std::string LegacyModelBlob(const core::Engine::TrainingData& data,
                            const std::string& version) {
  core::AlsOptions als;
  als.factors = 4;
  als.iterations = 3;
  als.threads = 1;
  absl::StatusOr<core::AlsFactors> factors =
      core::TrainAls(data.user_items, als);
  EXPECT_OK(factors);
  if (!factors.ok()) return "";
  core::ModelMetadata metadata;
  metadata.version = version;
  metadata.trained_at_ms = NowMs();
  metadata.factors = als.factors;
  absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
      core::FactorModel::Create(metadata, data.item_ids, factors->items,
                                data.user_ids, factors->users,
                                core::ModelOptions{});
  EXPECT_OK(model);
  EXPECT_GT(model.ok() ? (*model)->num_users() : 0, 0);
  return model.ok() ? (*model)->Serialize() : "";
}

class ErasureTest : public ::testing::Test {
 protected:
  void Feed(TestServer& server, const std::string& user, int events,
            int64_t timestamp_ms = 0) {
    v1::FeedbackRequest request;
    for (int i = 0; i < events; ++i) {
      v1::Event* e = request.add_events();
      e->set_event_id(absl::StrCat(user, "-e", i, "-", timestamp_ms));
      e->set_user_id(user);
      e->set_item_id(absl::StrCat("i", i % 7));
      e->set_type(v1::PURCHASE);
      e->set_timestamp_ms(timestamp_ms);
    }
    v1::FeedbackResponse response;
    ASSERT_OK(FromGrpc(server.stub->Feedback(ContextWithDeadline().get(),
                                             request, &response)));
  }

  // Whether the engine snapshot stored by `server` knows `user`.
  void ExpectSnapshotHolds(TestServer& server, const std::string& user,
                           bool holds) {
    ASSERT_OK_AND_ASSIGN(std::optional<storage::StoredSnapshot> snapshot,
                         server.server->store().GetSnapshot());
    ASSERT_TRUE(snapshot.has_value());
    core::Engine loaded{core::EngineOptions{}};
    ASSERT_OK(loaded.LoadSnapshot(snapshot->pieces));
    EXPECT_EQ(loaded.GetUser(user).has_value(), holds) << user;
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

constexpr char kTarget[] = "erasure-target-4711";

TEST_F(ErasureTest, DeleteUserLeavesNoTraceInTheDataDirOrALaterBackup) {
  server::ServerConfig config = TestServerConfig(data_);
  config.metrics_port = 0;
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(config));
  for (int u = 0; u < 8; ++u) Feed(server, absl::StrCat("u", u), 6);
  Feed(server, "control-user-5522", 6);
  Feed(server, kTarget, 6);

  // A model trained by an older build, with the user's vector in it,
  // arrives through the inbox; it is stored without user vectors.
  const std::string blob = LegacyModelBlob(
      server.server->engine().ExportTrainingData(), "20260101T000000-legacy");
  ASSERT_OK(DropModelInInbox(data_, "20260101T000000-legacy.model", blob));
  ASSERT_OK(server.server->PollModelsOnce());
  ASSERT_OK_AND_ASSIGN(std::string stored, server.server->store().GetModelBlob(
                                               "20260101T000000-legacy"));
  EXPECT_THAT(core::FactorModel::PeekUserVectors(stored), IsOkAndHolds(0));

  // A stored engine snapshot holds the user too (start-up would load it).
  ASSERT_OK(server.server->SnapshotEngine());
  ExpectSnapshotHolds(server, kTarget, true);

  // The check can fail: before erasure the id is in the files.
  ASSERT_OK(server.server->store().Flush());
  ASSERT_THAT(FilesContaining(data_, kTarget), ::testing::Not(IsEmpty()));

  v1::DeleteUserRequest request;
  request.set_user_id(kTarget);
  v1::DeleteUserResponse response;
  ASSERT_OK(FromGrpc(server.stub->DeleteUser(ContextWithDeadline().get(),
                                             request, &response)));
  EXPECT_GT(response.events_deleted(), 0);
  // The snapshot went with the erasure; the next one has no trace of the
  // user (nor does the one written at shutdown).
  {
    ASSERT_OK_AND_ASSIGN(std::optional<storage::StoredSnapshot> snapshot,
                         server.server->store().GetSnapshot());
    EXPECT_FALSE(snapshot.has_value());
  }
  ASSERT_OK(server.server->SnapshotEngine());
  ExpectSnapshotHolds(server, kTarget, false);
  ExpectSnapshotHolds(server, "control-user-5522", true);

  const std::string backup = dir_.Sub("backup");
  ASSERT_OK(server.server->store().Checkpoint(backup));
  ASSERT_OK_AND_ASSIGN(std::string metrics,
                       HttpGet(server.server->metrics_port(), "/metrics"));
  EXPECT_EQ(metrics.find(kTarget), std::string::npos);
  // While serving (the files as they are now) and after shutdown.
  EXPECT_THAT(FilesContaining(data_, kTarget), IsEmpty());
  server.server.reset();
  EXPECT_THAT(FilesContaining(data_, kTarget), IsEmpty());
  EXPECT_THAT(FilesContaining(backup, kTarget), IsEmpty());
  // Everybody else is still there.
  // and visible to this search (which would miss compressed bytes).
  EXPECT_THAT(FilesContaining(data_, "control-user-5522"),
              ::testing::Not(IsEmpty()));
}

TEST_F(ErasureTest, StoredVersionsWithUserVectorsAreRewrittenAtStartUp) {
  std::string blob;
  {
    ASSERT_OK_AND_ASSIGN(TestServer server,
                         StartTestServer(TestServerConfig(data_)));
    Feed(server, "legacy-user-0099", 5);
    Feed(server, "other-user", 5);
    blob = LegacyModelBlob(server.server->engine().ExportTrainingData(),
                           "20260101T000000-old");
    // As an older build stored it.
    ASSERT_OK(server.server->store().PutModel(
        *core::FactorModel::PeekMetadata(blob), blob));
    ASSERT_OK(server.server->store().SetActiveModel("20260101T000000-old"));
  }
  ASSERT_OK_AND_ASSIGN(TestServer server,
                       StartTestServer(TestServerConfig(data_)));
  ASSERT_OK_AND_ASSIGN(std::string stored, server.server->store().GetModelBlob(
                                               "20260101T000000-old"));
  EXPECT_THAT(core::FactorModel::PeekUserVectors(stored), IsOkAndHolds(0));
  EXPECT_EQ(server.server->engine().Stats().model_version,
            "20260101T000000-old")
      << "the rewritten version still serves";
}

TEST_F(ErasureTest, RetentionJobDeletesOldEvents) {
  server::ServerConfig config = TestServerConfig(data_);
  config.event_retention_ms = 24LL * 3600 * 1000;
  config.event_retention_interval_ms = 20;
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(config));
  const int64_t three_days_ago = NowMs() - 3LL * 24 * 3600 * 1000;
  Feed(server, "old-and-new", 4, three_days_ago);
  Feed(server, "old-and-new", 3, NowMs() - 1000);
  // The job runs every 20 ms; poll (bounded) until it has.
  absl::StatusOr<std::vector<core::Event>> events;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    events = server.server->store().UserEvents("old-and-new");
    if (events.ok() && events->size() == 3) break;
  }
  ASSERT_OK(events.status());
  ASSERT_EQ(events->size(), 3u);
  for (const core::Event& e : *events) {
    EXPECT_GT(e.timestamp_ms, three_days_ago) << e.event_id;
  }
}

TEST(StoreRetentionTest, DeleteEventsBeforeKeepsLaterOnes) {
  TempDir dir;
  storage::StoreOptions options;
  options.data_dir = dir.Sub("data");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Store> store,
                       storage::Store::Open(options));
  std::vector<core::Event> events;
  for (int64_t ts : {1, 500, 999, 1000, 1001}) {
    core::Event e;
    e.event_id = absl::StrCat("e", ts);
    e.user_id = "u";
    e.item_id = "i";
    e.type = core::EventType::kView;
    e.timestamp_ms = ts;
    events.push_back(e);
  }
  ASSERT_OK(store->AppendEvents(events).status());
  EXPECT_THAT(store->DeleteEventsBefore(1000), IsOkAndHolds(3));
  ASSERT_OK_AND_ASSIGN(std::vector<core::Event> left, store->UserEvents("u"));
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].timestamp_ms, 1000);
  EXPECT_EQ(left[1].timestamp_ms, 1001);
}

}  // namespace
}  // namespace aisle::testing
