// Erasure in the stream (docs/cluster.md): DeleteUser in cluster mode
// erases the user from every node AND from the replicated log itself
// (server/log_erasure.h), including entries the user shared with other
// users, whose other events stay. Real nats-server processes (3, R3),
// in-process nodes over real gRPC sockets; then every message of the
// stream is read back and every file of every node's data dir is searched
// for the user's id.
#include <filesystem>
#include <fstream>
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

class ClusterErasureTest : public ClusterNodes {
 protected:
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
  };
  uint64_t position = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    ASSERT_OK_AND_ASSIGN(
        v1::FeedbackResponse fed,
        SendFeedbackWithRetry(stub(static_cast<int>(b % 3)), batches[b]));
    position = std::max<uint64_t>(position, fed.log_position());
  }
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(WaitForPosition(stub(n), position)) << "node " << n;
    EXPECT_EQ(Views(stub(n), kErased), 4) << "node " << n;
  }

  v1::DeleteUserRequest erase;
  erase.set_user_id(kErased);
  v1::DeleteUserResponse erased;
  ASSERT_OK(FromGrpc(
      stub(1).DeleteUser(ContextWithDeadline().get(), erase, &erased)));
  EXPECT_EQ(erased.events_deleted(), 4);
  // A later write is applied by every node after the erasure (each node
  // also erases from the log, from the same state: duplicates of the same
  // work, de-duplicated by JetStream).
  ASSERT_OK_AND_ASSIGN(
      v1::FeedbackResponse fence,
      SendFeedbackWithRetry(stub(2), {MakeEvent("z1", "zed", "i1")}));
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(WaitForPosition(stub(n), fence.log_position())) << "node " << n;
  }

  // The log: no entry holds the id but the DeleteUser entry itself (a
  // node that was down must still read it; docs/cluster.md). The two
  // shared entries were re-appended without the user's events.
  int replacements = 0;
  int delete_entries = 0;
  for (const cluster::LogEntry& entry : ReadWholeLog()) {
    ASSERT_OK_AND_ASSIGN(cluster::v1::LogEntry parsed,
                         server::ParseLogEntry(entry.payload));
    if (parsed.kind_case() == cluster::v1::LogEntry::kDeleteUser) {
      ++delete_entries;
      continue;
    }
    EXPECT_EQ(entry.payload.find(kErased), std::string::npos)
        << "log entry " << entry.sequence << " holds the erased id";
    if (parsed.kind_case() == cluster::v1::LogEntry::kEvents &&
        parsed.events().replaces() != 0) {
      ++replacements;
    }
  }
  EXPECT_EQ(delete_entries, 1);
  EXPECT_EQ(replacements, 2);

  // Every node: the user is gone, the others' counts are unchanged.
  for (int n = 0; n < 3; ++n) {
    EXPECT_TRUE(absl::IsNotFound(GetUser(stub(n), kErased).status()))
        << "node " << n;
    EXPECT_EQ(Views(stub(n), "bob"), 2) << "node " << n;
    EXPECT_EQ(Views(stub(n), "cy"), 2) << "node " << n;
    EXPECT_THAT(nodes_[n].server->store().CountUserRecords(kErased),
                IsOkAndHolds(0));
  }
  // A node joining now replays the log as it is: the replacements give it
  // the others' events, and nothing of the user.
  StartNode();
  ASSERT_TRUE(WaitForPosition(stub(3), fence.log_position()));
  EXPECT_EQ(Views(stub(3), "bob"), 2);
  EXPECT_EQ(Views(stub(3), "cy"), 2);
  EXPECT_EQ(Views(stub(3), "zed"), 1);
  EXPECT_TRUE(absl::IsNotFound(GetUser(stub(3), kErased).status()));
  // No file of any node's data dir holds the id.
  for (size_t n = 0; n < nodes_.size(); ++n) {
    EXPECT_EQ(FilesHolding(nodes_[n].server->config().data_dir, kErased),
              std::vector<std::string>{})
        << "node " << n;
  }
}

}  // namespace
}  // namespace aisle::testing
