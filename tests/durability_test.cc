// Durability of acknowledged events across crashes of the real `aisle serve`
// process: kill -9 at random moments (measured in acknowledged events, not
// time) and SIGTERM with requests in flight.
//
// Invariant checked: every event whose Feedback call returned OK is stored
// exactly once. Events whose call failed (the server died mid-call) may or
// may not be stored; re-sending them settles them, so the expected per-user
// count is exact: acknowledged + unsettled.
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle {
namespace {

using testing::ContextWithDeadline;
using testing::FromGrpc;
using testing::MakeStub;
using testing::ServeProcess;
using testing::SpawnServe;
using testing::TempDir;

constexpr int kUsers = 16;
constexpr int kItems = 100;

uint64_t TestSeed() {
  // Override to reproduce a failure: AISLE_TEST_SEED=<n>.
  if (const char* env = std::getenv("AISLE_TEST_SEED")) {
    return std::strtoull(env, nullptr, 10);
  }
  return 20261125;
}

struct SentEvent {
  std::string event_id;
  std::string user_id;
  std::string item_id;
};

// Events sent by the client threads, sorted by outcome.
struct Ledger {
  std::mutex mu;
  std::condition_variable acked_cv;
  std::vector<SentEvent> acked;      // Feedback returned OK
  std::vector<SentEvent> unsettled;  // the call failed: stored or not
};

v1::Event ToProto(const SentEvent& e) {
  v1::Event p;
  p.set_event_id(e.event_id);
  p.set_user_id(e.user_id);
  p.set_item_id(e.item_id);
  p.set_type(v1::VIEW);
  return p;
}

// Client threads sending Feedback batches of 1..5 events with unique ids
// until stopped, recording each batch's outcome in the ledger.
class FeedbackLoad {
 public:
  FeedbackLoad(const std::string& address, std::string tag, int threads,
               uint64_t seed, Ledger* ledger)
      : ledger_(ledger) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, address, tag, t, seed] {
        auto stub = MakeStub(address);
        std::mt19937_64 rng(seed + static_cast<uint64_t>(t));
        for (int64_t n = 0; !stop_.load(); ++n) {
          v1::FeedbackRequest request;
          std::vector<SentEvent> batch;
          const int size = std::uniform_int_distribution<int>(1, 5)(rng);
          for (int i = 0; i < size; ++i) {
            SentEvent e;
            e.event_id = absl::StrCat(tag, "-", t, "-", n, "-", i);
            e.user_id = absl::StrCat(
                "u", std::uniform_int_distribution<int>(0, kUsers - 1)(rng));
            e.item_id = absl::StrCat(
                "i", std::uniform_int_distribution<int>(0, kItems - 1)(rng));
            *request.add_events() = ToProto(e);
            batch.push_back(std::move(e));
          }
          auto context = ContextWithDeadline(std::chrono::seconds(5));
          v1::FeedbackResponse response;
          grpc::Status status =
              stub->Feedback(context.get(), request, &response);
          std::lock_guard<std::mutex> lock(ledger_->mu);
          auto& into = status.ok() ? ledger_->acked : ledger_->unsettled;
          into.insert(into.end(), batch.begin(), batch.end());
          if (status.ok()) ledger_->acked_cv.notify_all();
          if (!status.ok()) {
            // The server is gone (killed or draining): stop this thread.
            return;
          }
        }
      });
    }
  }
  ~FeedbackLoad() { Stop(); }

  // Blocks until at least `count` events in total are acknowledged, or the
  // timeout expires. Returns whether the count was reached.
  bool WaitForAcked(size_t count, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(ledger_->mu);
    return ledger_->acked_cv.wait_for(
        lock, timeout, [&] { return ledger_->acked.size() >= count; });
  }

  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  Ledger* ledger_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// Sends `events` again in batches; returns (accepted, duplicates).
std::pair<int64_t, int64_t> Resend(v1::Recommender::Stub& stub,
                                   const std::vector<SentEvent>& events) {
  int64_t accepted = 0;
  int64_t duplicates = 0;
  for (size_t start = 0; start < events.size(); start += 500) {
    v1::FeedbackRequest request;
    for (size_t i = start; i < std::min(events.size(), start + 500); ++i) {
      *request.add_events() = ToProto(events[i]);
    }
    auto context = ContextWithDeadline(std::chrono::seconds(30));
    v1::FeedbackResponse response;
    grpc::Status status = stub.Feedback(context.get(), request, &response);
    EXPECT_OK(FromGrpc(status));
    accepted += response.accepted();
    duplicates += response.duplicates();
  }
  return {accepted, duplicates};
}

// Checks the invariant on a freshly started server: unsettled events are
// re-sent (whatever the outcome, they are then stored), acknowledged ones
// must all come back as duplicates, and each user's stored event count must
// equal acknowledged + unsettled events of that user.
void VerifyLedger(const std::string& address, const Ledger& ledger) {
  auto stub = MakeStub(address);
  auto [settled_accepted, settled_duplicates] = Resend(*stub, ledger.unsettled);
  EXPECT_EQ(settled_accepted + settled_duplicates,
            static_cast<int64_t>(ledger.unsettled.size()));

  auto [accepted, duplicates] = Resend(*stub, ledger.acked);
  EXPECT_EQ(accepted, 0) << "acknowledged events were missing after a crash";
  EXPECT_EQ(duplicates, static_cast<int64_t>(ledger.acked.size()));

  std::map<std::string, int64_t> expected;
  for (const auto* list : {&ledger.acked, &ledger.unsettled}) {
    for (const SentEvent& e : *list) ++expected[e.user_id];
  }
  for (const auto& [user, count] : expected) {
    auto context = ContextWithDeadline();
    v1::GetUserRequest request;
    request.set_user_id(user);
    v1::UserProfile profile;
    grpc::Status status = stub->GetUser(context.get(), request, &profile);
    ASSERT_OK(FromGrpc(status)) << user;
    int64_t stored = 0;
    for (const v1::EventCount& c : profile.event_counts()) stored += c.count();
    EXPECT_EQ(stored, count)
        << "user " << user << ": stored events != events sent once";
  }
}

TEST(DurabilityTest, AcknowledgedEventsSurviveKill9) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(absl::StrCat("AISLE_TEST_SEED=", seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string data_dir = dir.Sub("data");
  Ledger ledger;
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<ServeProcess> serve = SpawnServe(data_dir, {}, dir.path());
    ASSERT_OK(serve);
    size_t base = 0;
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      base = ledger.acked.size();
    }
    // Kill after a random number of acknowledged events this round.
    const size_t kill_after =
        std::uniform_int_distribution<size_t>(100, 3000)(rng);
    FeedbackLoad load(serve->address, absl::StrCat("r", round), 4,
                      seed * 31 + static_cast<uint64_t>(round), &ledger);
    ASSERT_TRUE(load.WaitForAcked(base + kill_after, std::chrono::seconds(60)))
        << "round " << round << ": server acknowledged too few events";
    ASSERT_OK(serve->process->Signal(SIGKILL));
    absl::StatusOr<int> code = serve->process->Wait(std::chrono::seconds(30));
    ASSERT_OK(code);
    EXPECT_EQ(*code, 128 + SIGKILL);
    load.Stop();
  }
  absl::StatusOr<ServeProcess> serve = SpawnServe(data_dir, {}, dir.path());
  ASSERT_OK(serve);
  EXPECT_GE(ledger.acked.size(), static_cast<size_t>(kRounds * 100));
  VerifyLedger(serve->address, ledger);
}

TEST(DurabilityTest, SigtermWithRequestsInFlightExitsCleanly) {
  const uint64_t seed = TestSeed() + 1;
  SCOPED_TRACE(absl::StrCat("AISLE_TEST_SEED=", seed - 1));
  TempDir dir;
  const std::string data_dir = dir.Sub("data");
  Ledger ledger;
  {
    absl::StatusOr<ServeProcess> serve = SpawnServe(data_dir, {}, dir.path());
    ASSERT_OK(serve);
    FeedbackLoad load(serve->address, "term", 4, seed, &ledger);
    ASSERT_TRUE(load.WaitForAcked(500, std::chrono::seconds(60)));
    // The client threads are still sending: requests are in flight.
    ASSERT_OK(serve->process->Signal(SIGTERM));
    absl::StatusOr<int> code = serve->process->Wait(std::chrono::seconds(60));
    ASSERT_OK(code);
    EXPECT_EQ(*code, 0) << serve->process->Stderr();
    load.Stop();
  }
  absl::StatusOr<ServeProcess> serve = SpawnServe(data_dir, {}, dir.path());
  ASSERT_OK(serve);
  VerifyLedger(serve->address, ledger);
}

}  // namespace
}  // namespace aisle
