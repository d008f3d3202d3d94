// Crashes and full disks: kill -9 with a torn WAL tail loses no acknowledged
// event; writes that cannot grow files fail cleanly.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

namespace fs = std::filesystem;
using ::aisle::core::Event;

TEST_F(StoreTest, KillNineLosesNoAcknowledgedEventEvenWithTornWalTail) {
  constexpr int kBatch = 10;
  ChildProcess child([&](int fd) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
    if (!store.ok()) _exit(2);
    for (int b = 0;; ++b) {
      if (!(*store)->AppendEvents(NumberedBatch("k", b, kBatch)).ok()) {
        _exit(3);
      }
      Report(fd, b);
    }
  });
  ASSERT_TRUE(child.started());
  int acked = -1;
  while (acked < 200) {
    std::optional<int> b = child.Next();
    ASSERT_TRUE(b.has_value()) << "child stopped early";
    acked = *b;
  }
  child.Kill();
  while (std::optional<int> b = child.Next()) acked = *b;
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status));

  // A torn write at the end of the WAL, as after a power cut mid-append.
  std::string wal;
  for (const fs::directory_entry& e :
       fs::directory_iterator(options_.data_dir)) {
    if (e.path().extension() == ".log") wal = std::max(wal, e.path().string());
  }
  ASSERT_FALSE(wal.empty());
  {
    std::ofstream out(wal, std::ios::binary | std::ios::app);
    std::mt19937 rng(3);
    for (int i = 0; i < 100; ++i) out.put(static_cast<char>(rng()));
  }

  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Event>> events = store->UserEvents("k");
  ASSERT_OK(events);
  EXPECT_GE(events->size(), static_cast<size_t>(acked + 1) * kBatch);
  EXPECT_EQ(events->size() % kBatch, 0u);
  std::set<std::string> ids;
  for (const Event& e : *events) ids.insert(e.event_id);
  for (int b = 0; b <= acked; ++b) {
    for (const Event& e : NumberedBatch("k", b, kBatch)) {
      EXPECT_TRUE(ids.contains(e.event_id)) << e.event_id;
    }
  }
  // The user's record counts every stored event: the killed writer folded
  // none of their deltas, which the open rebuilt from the event log.
  absl::StatusOr<UserRecord> record = store->GetUser("k");
  ASSERT_OK(record);
  EXPECT_EQ(record->counts[static_cast<size_t>(core::EventType::kView)],
            static_cast<int64_t>(events->size()));
  EXPECT_EQ(record->first_seen_ms, events->front().timestamp_ms);
  EXPECT_EQ(record->last_seen_ms, events->back().timestamp_ms);
  // Their idempotency keys, not folded either, were rebuilt too: sent
  // again, every acknowledged batch is a duplicate.
  for (int b = 0; b <= acked; ++b) {
    absl::StatusOr<AppendResult> again =
        store->AppendEvents(NumberedBatch("k", b, kBatch));
    ASSERT_OK(again);
    EXPECT_EQ(again->accepted, 0) << b;
    EXPECT_EQ(again->duplicates, kBatch) << b;
  }
}

TEST_F(StoreTest, WritesFailCleanlyWhenFilesCannotGrow) {
  constexpr int kBatch = 100;
  // The child cannot grow any file past 256 KiB (as on a full disk): its
  // appends must start failing with a status, keep failing, and not crash.
  ChildProcess child([&](int fd) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
    if (!store.ok()) _exit(2);
    signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{256 << 10, 256 << 10};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(5);
    int b = 0;
    for (;; ++b) {
      absl::StatusOr<AppendResult> r =
          (*store)->AppendEvents(NumberedBatch("f", b, kBatch));
      if (!r.ok()) {
        Report(fd, -static_cast<int>(r.status().code()));
        break;
      }
      Report(fd, b);
      if (b > 100000) _exit(6);  // the limit never hit
    }
    for (int retry = 0; retry < 3; ++retry) {
      absl::StatusOr<AppendResult> r =
          (*store)->AppendEvents(NumberedBatch("f", b + 1 + retry, kBatch));
      Report(fd, r.ok() ? 1 : -static_cast<int>(r.status().code()));
    }
    _exit(0);  // skip the destructor's flush, which would fail too
  });
  ASSERT_TRUE(child.started());
  int acked = -1;
  std::vector<int> failures;
  while (std::optional<int> v = child.Next()) {
    if (*v >= 0 && failures.empty()) {
      acked = *v;
    } else {
      failures.push_back(*v);
    }
  }
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << "child crashed, status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(failures.size(), 4u);
  for (int f : failures) {
    const auto code = static_cast<absl::StatusCode>(-f);
    EXPECT_TRUE(code == absl::StatusCode::kUnavailable ||
                code == absl::StatusCode::kResourceExhausted)
        << "status code " << -f;
  }
  EXPECT_GT(acked, 0);

  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Event>> events = store->UserEvents("f");
  ASSERT_OK(events);
  std::set<std::string> ids;
  for (const Event& e : *events) ids.insert(e.event_id);
  for (int b = 0; b <= acked; ++b) {
    for (const Event& e : NumberedBatch("f", b, kBatch)) {
      ASSERT_TRUE(ids.contains(e.event_id)) << e.event_id;
    }
  }
  EXPECT_EQ(events->size() % kBatch, 0u);
}

}  // namespace
}  // namespace aisle::storage
