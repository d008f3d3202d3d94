// EventLog on real nats-server processes (NatsCluster): order, reading
// from a position, de-duplication by id, connection loss, and a JetStream
// cluster losing one of three servers.
#include "cluster/event_log.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cluster/testing/nats_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cluster {
namespace {

using ::aisle::cluster::testing::NatsCluster;
using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

LogOptions OptionsFor(const NatsCluster& nats) {
  LogOptions options;
  options.servers = nats.urls();
  options.append_timeout = absl::Seconds(2);
  return options;
}

// Polls `condition` until it holds or `timeout` passes.
template <typename Fn>
bool WaitFor(Fn condition, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Reads entries until `count` arrived or a read waited 10 s for nothing.
std::vector<LogEntry> ReadEntries(LogReader& reader, size_t count) {
  std::vector<LogEntry> entries;
  while (entries.size() < count) {
    absl::StatusOr<std::optional<LogEntry>> next =
        reader.Next(absl::Seconds(10));
    if (!next.ok() || !next->has_value()) break;
    entries.push_back(**std::move(next));
  }
  return entries;
}

// Appends with the same id until JetStream acknowledges (a fail-over can
// make single attempts fail; retrying with the id is the documented way).
absl::StatusOr<Appended> AppendWithRetry(EventLog& log, const std::string& id,
                                         const std::string& payload) {
  absl::StatusOr<Appended> result;
  for (int attempt = 0; attempt < 300; ++attempt) {
    result = log.Append(id, payload);
    if (result.ok() || !absl::IsUnavailable(result.status())) return result;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return result;
}

TEST(ParseServerListTest, AcceptsNatsUrlsAndRejectsTheRest) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> servers,
                       ParseServerList("nats://a:4222, nats://b:4222"));
  EXPECT_THAT(servers, ElementsAre("nats://a:4222", "nats://b:4222"));
  for (const char* bad :
       {"", "a:4222", "nats://a:1,,nats://b:2", "nats://", "http://a:4222"}) {
    EXPECT_THAT(
        ParseServerList(bad),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nats://")))
        << bad;
  }
}

TEST(EventLogTest, DeliversAppendedEntriesInOrderFromAnyPosition) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NatsCluster> nats,
                       NatsCluster::Start(1));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLog> log,
                       ConnectJetStream(OptionsFor(*nats)));
  for (int i = 1; i <= 20; ++i) {
    ASSERT_OK_AND_ASSIGN(Appended appended, log->Append(absl::StrCat("id-", i),
                                                        absl::StrCat("p", i)));
    EXPECT_EQ(appended.sequence, static_cast<uint64_t>(i));
    EXPECT_FALSE(appended.duplicate);
  }
  EXPECT_THAT(log->LastSequence(), IsOkAndHolds(20u));

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LogReader> from_start,
                       log->OpenReader(1));
  std::vector<LogEntry> all = ReadEntries(*from_start, 20);
  ASSERT_EQ(all.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(all[i].sequence, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(all[i].payload, absl::StrCat("p", i + 1));
  }

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LogReader> tail, log->OpenReader(16));
  std::vector<LogEntry> last = ReadEntries(*tail, 5);
  ASSERT_EQ(last.size(), 5u);
  EXPECT_EQ(last.front().sequence, 16u);
  EXPECT_EQ(last.back().sequence, 20u);
  // Nothing more until something is appended; then it arrives.
  ASSERT_OK_AND_ASSIGN(std::optional<LogEntry> none,
                       tail->Next(absl::Milliseconds(50)));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK(log->Append("id-21", "p21").status());
  std::vector<LogEntry> next = ReadEntries(*tail, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].sequence, 21u);
  EXPECT_EQ(next[0].payload, "p21");
}

TEST(EventLogTest, AnIdAppendedTwiceIsStoredOnce) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NatsCluster> nats,
                       NatsCluster::Start(1));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLog> a,
                       ConnectJetStream(OptionsFor(*nats)));
  // A second client, as a retry through another node would be.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLog> b,
                       ConnectJetStream(OptionsFor(*nats)));
  ASSERT_OK_AND_ASSIGN(Appended first, a->Append("event-1", "x"));
  ASSERT_OK_AND_ASSIGN(Appended other, a->Append("event-2", "y"));
  ASSERT_OK_AND_ASSIGN(Appended again, b->Append("event-1", "x"));
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.sequence, first.sequence);
  EXPECT_NE(other.sequence, first.sequence);
  EXPECT_THAT(a->LastSequence(), IsOkAndHolds(2u));
  EXPECT_THAT(a->Append("", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(EventLogTest, WithoutNatsAppendsAreUnavailableUntilItIsBack) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NatsCluster> nats,
                       NatsCluster::Start(1));
  std::atomic<int> disconnects{0}, reconnects{0};
  LogOptions options = OptionsFor(*nats);
  options.on_connection_change = [&](bool connected) {
    ++(connected ? reconnects : disconnects);
  };
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLog> log,
                       ConnectJetStream(options));
  ASSERT_OK(log->Append("before", "1").status());
  EXPECT_TRUE(log->connected());

  ASSERT_OK(nats->Kill(0));
  ASSERT_TRUE(WaitFor([&] { return !log->connected(); }));
  EXPECT_THAT(log->Append("during", "2"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("NATS")));
  EXPECT_THAT(log->OpenReader(1),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  // The callbacks come from NATS's callback thread, after the status.
  EXPECT_TRUE(WaitFor([&] { return disconnects.load() >= 1; }));

  ASSERT_OK(nats->Restart(0));
  ASSERT_TRUE(WaitFor([&] { return log->connected(); }));
  ASSERT_OK_AND_ASSIGN(Appended after, AppendWithRetry(*log, "after", "3"));
  EXPECT_EQ(after.sequence,
            2u);  // file storage kept "before"; "during" never stored
  EXPECT_TRUE(WaitFor([&] { return reconnects.load() >= 1; }));
}

TEST(EventLogTest, ConnectsWhileNatsIsDownAndCatchesUpLater) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NatsCluster> nats,
                       NatsCluster::Start(1));
  ASSERT_OK(nats->Kill(0));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLog> log,
                       ConnectJetStream(OptionsFor(*nats)));
  EXPECT_FALSE(log->connected());
  EXPECT_THAT(log->Append("x", "1"),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  ASSERT_OK(nats->Restart(0));
  ASSERT_TRUE(WaitFor([&] { return log->connected(); }));
  ASSERT_OK(AppendWithRetry(*log, "x", "1").status());
}

TEST(EventLogTest, ThreeServersKeepTakingAppendsWhenOneIsKilled) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NatsCluster> nats,
                       NatsCluster::Start(3));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLog> log,
                       ConnectJetStream(OptionsFor(*nats)));
  constexpr int kPerPhase = 30;
  int next_id = 0;
  auto append_phase = [&]() -> absl::Status {
    for (int i = 0; i < kPerPhase; ++i, ++next_id) {
      absl::StatusOr<Appended> a = AppendWithRetry(
          *log, absl::StrCat("e", next_id), absl::StrCat("p", next_id));
      if (!a.ok()) return a.status();
    }
    return absl::OkStatus();
  };
  // The stream exists once an append made sure of it (connecting only
  // tries to create it, and may time out on a loaded machine); then every
  // replica must be current before one is killed.
  ASSERT_OK(append_phase());
  ASSERT_OK(nats->WaitStreamHealthy("AISLE"));
  for (int victim : {0, 2}) {
    // One server down at a time: the other two are a quorum.
    ASSERT_OK(nats->Kill(victim));
    ASSERT_OK(append_phase());
    ASSERT_OK(nats->Restart(victim));
    ASSERT_OK(nats->WaitStreamHealthy("AISLE"));
  }
  // Every acknowledged entry is there exactly once, in order, whichever
  // server the reader lands on.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LogReader> reader, log->OpenReader(1));
  std::vector<LogEntry> entries = ReadEntries(*reader, 3 * kPerPhase);
  ASSERT_EQ(entries.size(), static_cast<size_t>(3 * kPerPhase));
  for (int i = 0; i < 3 * kPerPhase; ++i) {
    EXPECT_EQ(entries[i].payload, absl::StrCat("p", i)) << i;
    if (i > 0) {
      EXPECT_GT(entries[i].sequence, entries[i - 1].sequence);
    }
  }
  ASSERT_OK_AND_ASSIGN(std::optional<LogEntry> extra,
                       reader->Next(absl::Milliseconds(100)));
  EXPECT_FALSE(extra.has_value());
}

}  // namespace
}  // namespace aisle::cluster
