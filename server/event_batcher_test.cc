#include "server/event_batcher.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "core/engine.h"
#include "gtest/gtest.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/recommendation_id.h"
#include "storage/store.h"

namespace aisle::server {
namespace {

core::Event View(const std::string& id, const std::string& user,
                 const std::string& item) {
  core::Event e;
  e.event_id = id;
  e.user_id = user;
  e.item_id = item;
  e.type = core::EventType::kView;
  e.timestamp_ms = 1'700'000'000'000;
  return e;
}

// A real store in a temporary directory and a real engine behind Ingest.
class EventBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "aisle_batcher_XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    storage::StoreOptions options;
    options.data_dir = dir_;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    engine_ = std::make_unique<core::Engine>(core::EngineOptions());
    ingest_ = std::make_unique<Ingest>(engine_.get(), store_.get(), &metrics_,
                                       &access_log_, &ids_);
  }
  void TearDown() override {
    ingest_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Submits `events` and keeps the result for Wait.
  struct Call {
    absl::Notification done;
    std::optional<absl::StatusOr<EventsStored>> result;
  };
  void Submit(EventBatcher& batcher, Call& call,
              std::vector<core::Event> events) {
    batcher.Submit(std::move(events), 1'700'000'000'000,
                   [&call](absl::StatusOr<EventsStored> r) {
                     call.result = std::move(r);
                     call.done.Notify();
                   });
  }

  // Submits `event` as a call whose callback then holds the batcher's
  // thread until `release` is notified; returns once it holds it, so that
  // the calls submitted meanwhile queue (one batch after `release`).
  void Hold(EventBatcher& batcher, Call& first, core::Event event,
            absl::Notification& release) {
    batcher.Submit({std::move(event)}, 1'700'000'000'000,
                   [&first, &release](absl::StatusOr<EventsStored> r) {
                     first.result = std::move(r);
                     first.done.Notify();
                     release.WaitForNotification();
                   });
    first.done.WaitForNotification();
  }

  std::string dir_;
  Metrics metrics_{"test"};
  AccessLog access_log_{0.0, "salt"};
  RecommendationIds ids_{{"0123456789abcdef0123456789abcdef"}, 86'400'000};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<core::Engine> engine_;
  std::unique_ptr<Ingest> ingest_;
};

// Calls that arrive while a batch is being answered are stored together,
// each with its own result, as if written one by one in arrival order:
// a repeated id is a duplicate, another user's id a conflict that stores
// nothing of that call, and everything else is stored and applied.
TEST_F(EventBatcherTest, CallsQueuedMeanwhileAreOneBatchWithTheirOwnResults) {
  std::vector<std::pair<int64_t, size_t>> batches;  // (store ns, calls)
  EventBatcherOptions options;
  options.on_batch = [&batches](int64_t ns, size_t calls) {
    batches.emplace_back(ns, calls);
  };
  EventBatcher batcher(ingest_.get(), options);

  // The first call's callback holds the batcher's thread until the others
  // are queued.
  absl::Notification release;
  Call first;
  Hold(batcher, first, View("e0", "u0", "i0"), release);
  Call fresh, repeat, conflict, mixed;
  Submit(batcher, fresh, {View("e1", "u1", "i1"), View("e2", "u1", "i2")});
  Submit(batcher, repeat, {View("e1", "u1", "i1")});  // e1: just above
  Submit(batcher, conflict,
         {View("e3", "u2", "i3"),    // stored nothing:
          View("e0", "u2", "i0")});  // e0 is u0's
  Submit(batcher, mixed, {View("e0", "u0", "i0"), View("e4", "u3", "i4")});
  release.Notify();
  for (Call* c : {&fresh, &repeat, &conflict, &mixed}) {
    c->done.WaitForNotification();
  }

  ASSERT_TRUE(first.result->ok());
  EXPECT_EQ((*first.result)->accepted, 1);
  ASSERT_TRUE(fresh.result->ok());
  EXPECT_EQ((*fresh.result)->accepted, 2);
  EXPECT_EQ((*fresh.result)->duplicates, 0);
  ASSERT_TRUE(repeat.result->ok());
  EXPECT_EQ((*repeat.result)->accepted, 0);
  EXPECT_EQ((*repeat.result)->duplicates, 1);
  ASSERT_TRUE(conflict.result->ok());
  EXPECT_EQ((*conflict.result)->accepted, 0);
  EXPECT_EQ((*conflict.result)->conflicts, std::vector<size_t>{1});
  ASSERT_TRUE(mixed.result->ok());
  EXPECT_EQ((*mixed.result)->accepted, 1);
  EXPECT_EQ((*mixed.result)->duplicates, 1);

  const EventBatcher::Counts counts = batcher.counts();
  EXPECT_EQ(counts.batches, 2);
  EXPECT_EQ(counts.calls, 5);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].second, 1u);
  EXPECT_EQ(batches[1].second, 4u);
  EXPECT_GT(batches[1].first, 0);

  // Stored: e0..e2 and e4 (not e3, refused with its call's conflict), and
  // in the engine.
  absl::StatusOr<storage::UserRecord> u1 = store_->GetUser("u1");
  ASSERT_TRUE(u1.ok()) << u1.status();
  EXPECT_EQ(u1->counts[static_cast<size_t>(core::EventType::kView)], 2);
  EXPECT_TRUE(absl::IsNotFound(store_->GetUser("u2").status()));
  EXPECT_TRUE(store_->GetUser("u3").ok());
  EXPECT_TRUE(engine_->GetUser("u3").has_value());
  EXPECT_FALSE(engine_->GetUser("u2").has_value());
}

// A batch never holds more than max_batch_events events, but a call is
// never split: a larger call is a batch alone.
TEST_F(EventBatcherTest, BatchesStopAtMaxEventsWithoutSplittingACall) {
  std::vector<size_t> batches;
  EventBatcherOptions options;
  options.max_batch_events = 3;
  options.on_batch = [&batches](int64_t, size_t calls) {
    batches.push_back(calls);
  };
  EventBatcher batcher(ingest_.get(), options);
  absl::Notification release;
  Call first;
  Hold(batcher, first, View("f0", "u0", "i0"), release);
  Call a, b, big, c;
  Submit(batcher, a, {View("f1", "u1", "i1")});
  Submit(batcher, b, {View("f2", "u1", "i2"), View("f3", "u1", "i3")});
  Submit(batcher, big,
         {View("f4", "u2", "i1"), View("f5", "u2", "i2"),
          View("f6", "u2", "i3"), View("f7", "u2", "i4")});
  Submit(batcher, c, {View("f8", "u3", "i1")});
  release.Notify();
  for (Call* x : {&a, &b, &big, &c}) x->done.WaitForNotification();
  // {first}, {a, b} (3 events), {big} (4 > 3, alone), {c}.
  EXPECT_EQ(batches, (std::vector<size_t>{1, 2, 1, 1}));
  for (Call* x : {&a, &b, &big, &c}) ASSERT_TRUE(x->result->ok());
  EXPECT_EQ((*big.result)->accepted, 4);
}

// The destructor stores and answers what is still queued.
TEST_F(EventBatcherTest, DestructionAnswersQueuedCalls) {
  Call a, b;
  {
    EventBatcher batcher(ingest_.get(), {});
    Submit(batcher, a, {View("g1", "u1", "i1")});
    Submit(batcher, b, {View("g2", "u2", "i2")});
  }
  ASSERT_TRUE(a.done.HasBeenNotified());
  ASSERT_TRUE(b.done.HasBeenNotified());
  EXPECT_EQ((*a.result)->accepted, 1);
  EXPECT_EQ((*b.result)->accepted, 1);
}

// A store error fails every call of the batch, and nothing of it is
// stored.
TEST_F(EventBatcherTest, AStoreErrorFailsTheWholeBatch) {
  absl::Notification release;
  EventBatcher batcher(ingest_.get(), {});
  Call first;
  Hold(batcher, first, View("h0", "u0", "i0"), release);
  Call a, b;
  Submit(batcher, a, {View("h1", "u1", "i1")});
  // An event the store refuses (a type past the known ones: the store's
  // own guard; the server's validation never lets one through).
  core::Event bad = View("h2", "u2", "i2");
  bad.type = static_cast<core::EventType>(core::kNumEventTypes);
  Submit(batcher, b, {bad});
  release.Notify();
  a.done.WaitForNotification();
  b.done.WaitForNotification();
  EXPECT_FALSE(a.result->ok());
  EXPECT_FALSE(b.result->ok());
  EXPECT_TRUE(absl::IsNotFound(store_->GetUser("u1").status()));
}

}  // namespace
}  // namespace aisle::server
