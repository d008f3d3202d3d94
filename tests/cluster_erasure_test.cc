// Erasure in the stream (docs/cluster.md): DeleteUser in cluster mode
// erases the user from every node AND from the replicated log itself
// (server/log_erasure.h), including entries the user shared with other
// users, whose other events stay. Real nats-server processes (3, R3),
// in-process nodes over real gRPC sockets; then every message of the
// stream is read back and every file of every node's data dir is searched
// for the user's id.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/event_log.h"
#include "gtest/gtest.h"
#include "server/log_entry.h"
#include "tests/cluster_util.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

// Distinctive enough that finding it anywhere means it was not erased.
constexpr char kErased[] = "erase-me-7f3a9c";
// An anonymous id merged into kErased before the erasure.
constexpr char kMerged[] = "anon-merged-5e1b07";

class ClusterErasureTest : public ClusterNodes {
 protected:
  // UpsertUsers of users' "tier" attribute.
  static absl::Status UpsertTier(
      v1::Recommender::Stub& stub,
      const std::vector<std::pair<std::string, std::string>>& tiers) {
    v1::UpsertUsersRequest request;
    for (const auto& [user, tier] : tiers) {
      v1::User* u = request.add_users();
      u->set_user_id(user);
      (*u->mutable_attributes())["tier"] = tier;
    }
    v1::UpsertUsersResponse response;
    return FromGrpc(
        stub.UpsertUsers(ContextWithDeadline().get(), request, &response));
  }
  // The user's "tier" attribute as the node reports it ("" if none).
  static std::string Tier(v1::Recommender::Stub& stub,
                          const std::string& user) {
    absl::StatusOr<v1::UserProfile> profile = GetUser(stub, user);
    if (!profile.ok()) return "";
    auto it = profile->attributes().find("tier");
    return it == profile->attributes().end() ? "" : it->second;
  }

  // The files under `dir` whose bytes contain `needle`.
  static std::vector<std::string> FilesHolding(const std::string& dir,
                                               const std::string& needle) {
    std::vector<std::string> found;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      if (bytes.find(needle) != std::string::npos) {
        found.push_back(entry.path().string());
      }
    }
    return found;
  }

  // Every entry the log holds now, read from the start with a reader of
  // its own.
  std::vector<cluster::LogEntry> ReadWholeLog() {
    cluster::LogOptions options;
    options.servers = nats_->urls();
    options.connection_name = "erasure-test";
    absl::StatusOr<std::unique_ptr<cluster::EventLog>> log =
        cluster::ConnectJetStream(options);
    EXPECT_OK(log.status());
    if (!log.ok()) return {};
    absl::StatusOr<uint64_t> last = (*log)->LastSequence();
    EXPECT_OK(last.status());
    std::vector<cluster::LogEntry> entries;
    {
      absl::StatusOr<std::unique_ptr<cluster::LogReader>> reader =
          (*log)->OpenReader(1);
      EXPECT_OK(reader.status());
      if (!reader.ok() || !last.ok()) return {};
      const absl::Time deadline = absl::Now() + absl::Seconds(30);
      while (absl::Now() < deadline) {
        absl::StatusOr<std::optional<cluster::LogEntry>> next =
            (*reader)->Next(absl::Seconds(1));
        EXPECT_OK(next.status());
        if (!next.ok()) break;
        if (!next->has_value()) {
          // Erased entries are skipped: the reader is done once nothing
          // more arrives and the last one read is the log's end (or it
          // is erased too).
          if (entries.empty() || entries.back().sequence >= *last) break;
          continue;
        }
        entries.push_back(**next);
        if (entries.back().sequence >= *last) break;
      }
    }
    return entries;
  }
};

TEST_F(ClusterErasureTest, DeleteUserErasesTheUserFromTheLogAndEveryNode) {
  StartNats(3);
  StartNode();
  StartNode();
  StartNode();
  // Entries shared with other users, and entries of the user alone,
  // written through different nodes.
  const std::vector<std::vector<v1::Event>> batches = {
      {MakeEvent("x1", kErased, "i1"), MakeEvent("b1", "bob", "i1"),
       MakeEvent("c1", "cy", "i2")},
      {MakeEvent("x2", kErased, "i2"), MakeEvent("x3", kErased, "i3")},
      {MakeEvent("b2", "bob", "i3")},
      {MakeEvent("x4", kErased, "i1"), MakeEvent("c2", "cy", "i3")},
      {MakeEvent("x1", kErased, "i1")},  // a duplicate still holds the id
      {MakeEvent("m1", kMerged, "i2")},
      {MakeEvent("m2", kMerged, "i3"), MakeEvent("c3", "cy", "i2")},
  };
  uint64_t position = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    ASSERT_OK_AND_ASSIGN(
        v1::FeedbackResponse fed,
        SendFeedbackWithRetry(stub(static_cast<int>(b % 3)), batches[b]));
    position = std::max<uint64_t>(position, fed.log_position());
  }
  v1::MergeUsersRequest merge;
  merge.set_from_user_id(kMerged);
  merge.set_to_user_id(kErased);
  v1::MergeUsersResponse merged;
  ASSERT_OK(FromGrpc(
      stub(2).MergeUsers(ContextWithDeadline().get(), merge, &merged)));
  // Attributes: an entry shared with bob, then a later one of bob's
  // alone. A node that never applied the shared entry (it joins after the
  // erasure) must not take bob's older attributes from its replacement.
  ASSERT_OK(UpsertTier(stub(0), {{kErased, "gold"}, {"bob", "old"}}));
  ASSERT_OK(UpsertTier(stub(1), {{"bob", "new"}}));
  {
    // A fence: applied after both upserts.
    ASSERT_OK_AND_ASSIGN(
        v1::FeedbackResponse fed,
        SendFeedbackWithRetry(stub(1), {MakeEvent("f1", "fence", "i2")}));
    position = fed.log_position();
  }
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(WaitForPosition(stub(n), position)) << "node " << n;
    EXPECT_EQ(Views(stub(n), kErased), 6) << "node " << n;
  }

  v1::DeleteUserRequest erase;
  erase.set_user_id(kErased);
  v1::DeleteUserResponse erased;
  ASSERT_OK(FromGrpc(
      stub(1).DeleteUser(ContextWithDeadline().get(), erase, &erased)));
  EXPECT_EQ(erased.events_deleted(), 6);
  // A later write is applied by every node after the erasure (each node
  // also erases from the log, from the same state: duplicates of the same
  // work, de-duplicated by JetStream).
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse fence,
      SendFeedbackWithRetry(stub(2), {MakeEvent("z1", "zed", "i1")}));
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(WaitForPosition(stub(n), fence.log_position())) << "node " << n;
  }

  // The log: no entry holds the id, the DeleteUser entry included (it
  // holds the user's digest: a node that was down must still find the
  // user; docs/cluster.md). The two shared entries were re-appended
  // without the user's events.
  int replacements = 0;
  int delete_entries = 0;
  for (const cluster::LogEntry& entry : ReadWholeLog()) {
    ASSERT_OK_AND_ASSIGN(cluster::v1::LogEntry parsed,
                         server::ParseLogEntry(entry.payload));
    EXPECT_EQ(entry.payload.find(kErased), std::string::npos)
        << "log entry " << entry.sequence << " holds the erased id";
    EXPECT_EQ(entry.payload.find(kMerged), std::string::npos)
        << "log entry " << entry.sequence << " holds the merged id";
    if (parsed.kind_case() == cluster::v1::LogEntry::kDeleteUserDigest) {
      EXPECT_EQ(parsed.delete_user_digest(), server::UserDigest(kErased));
      ++delete_entries;
    }
    if ((parsed.kind_case() == cluster::v1::LogEntry::kEvents &&
         parsed.events().replaces() != 0) ||
        (parsed.kind_case() == cluster::v1::LogEntry::kUpsertUsers &&
         parsed.upsert_users().replaces() != 0)) {
      ++replacements;
    }
  }
  EXPECT_EQ(delete_entries, 1);
  // Three events entries (one with the merged user's), one attributes.
  EXPECT_EQ(replacements, 4);

  // Every node: the user is gone, the others' counts are unchanged.
  for (int n = 0; n < 3; ++n) {
    EXPECT_TRUE(absl::IsNotFound(GetUser(stub(n), kErased).status()))
        << "node " << n;
    EXPECT_EQ(Views(stub(n), "bob"), 2) << "node " << n;
    EXPECT_EQ(Views(stub(n), "cy"), 3) << "node " << n;
    EXPECT_EQ(Tier(stub(n), "bob"), "new") << "node " << n;
    EXPECT_THAT(nodes_[n].server->store().CountUserRecords(kErased),
                IsOkAndHolds(0));
    EXPECT_THAT(nodes_[n].server->store().CountUserRecords(kMerged),
                IsOkAndHolds(0));
  }
  // A node joining now replays the log as it is: the replacements give it
  // the others' events, and nothing of the user.
  StartNode();
  ASSERT_TRUE(WaitForPosition(stub(3), fence.log_position()));
  EXPECT_EQ(Views(stub(3), "bob"), 2);
  EXPECT_EQ(Views(stub(3), "cy"), 3);
  EXPECT_EQ(Views(stub(3), "zed"), 1);
  EXPECT_EQ(Tier(stub(3), "bob"), "new");
  EXPECT_TRUE(absl::IsNotFound(GetUser(stub(3), kErased).status()));
  EXPECT_TRUE(absl::IsNotFound(GetUser(stub(3), kMerged).status()));
  // No file of any node's data dir holds the id.
  for (size_t n = 0; n < nodes_.size(); ++n) {
    for (const char* id : {kErased, kMerged}) {
      EXPECT_EQ(FilesHolding(nodes_[n].server->config().data_dir, id),
                std::vector<std::string>{})
          << "node " << n << ", " << id;
    }
  }
  // NATS's own files: js_EraseMsg overwrites the message in the stream's
  // store at once, but the stream's Raft log keeps the entry until NATS
  // compacts it after its own snapshot (measured: about 3 minutes). Too
  // long for every run: AISLE_LONG_TESTS=1 waits for it (up to 10 min).
  if (const char* e = std::getenv("AISLE_LONG_TESTS");
      e && e == std::string("1")) {
    const absl::Time start = absl::Now();
    const auto held = [&] {
      std::vector<std::string> files = FilesHolding(nats_->dir(), kErased);
      for (std::string& f : FilesHolding(nats_->dir(), kMerged)) {
        files.push_back(std::move(f));
      }
      return files;
    };
    std::vector<std::string> files = held();
    while (!files.empty() && absl::Now() - start < absl::Minutes(10)) {
      absl::SleepFor(absl::Seconds(5));
      files = held();
    }
    EXPECT_EQ(files, std::vector<std::string>{});
    std::cout << "NATS files free of the ids after " << absl::Now() - start
              << "\n";
  }
}

// A log written before DeleteUser entries held a digest holds the id
// itself: it is still applied. A digest that names no stored user erases
// nothing, and the entry is still recorded as applied.
TEST_F(ClusterErasureTest, OlderDeleteUserEntriesAndUnknownDigestsAreApplied) {
  StartNats(1);
  StartNode();
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse fed,
      SendFeedbackWithRetry(stub(0), {MakeEvent("o1", "old-form", "i1"),
                                      MakeEvent("k1", "kept", "i1")}));
  ASSERT_TRUE(WaitForPosition(stub(0), fed.log_position()));

  cluster::LogOptions options;
  options.servers = nats_->urls();
  options.connection_name = "erasure-test";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<cluster::EventLog> log,
                       cluster::ConnectJetStream(options));
  cluster::v1::LogEntry older;
  older.set_delete_user("old-form");
  ASSERT_OK(log->Append("legacy-delete-1", older.SerializeAsString()).status());
  cluster::v1::LogEntry unknown;
  unknown.set_delete_user_digest(server::UserDigest("never-stored"));
  ASSERT_OK_AND_ASSIGN(
      cluster::Appended last,
      log->Append("unknown-delete-1", unknown.SerializeAsString()));

  ASSERT_TRUE(WaitForPosition(stub(0), last.sequence));
  EXPECT_TRUE(absl::IsNotFound(GetUser(stub(0), "old-form").status()));
  EXPECT_THAT(nodes_[0].server->store().CountUserRecords("old-form"),
              IsOkAndHolds(0));
  EXPECT_EQ(Views(stub(0), "kept"), 1);
}

}  // namespace
}  // namespace aisle::testing
