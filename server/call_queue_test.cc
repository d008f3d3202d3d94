#include "server/call_queue.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

using ::testing::HasSubstr;

std::atomic<int> work_order{0};  // the order calls were worked on in

// A call that records how it was answered, and on which thread. Work can
// be held until released, to keep a worker busy.
class TestCall : public CallQueue::Call {
 public:
  explicit TestCall(absl::Time deadline = absl::InfiniteFuture())
      : deadline_(deadline) {}

  absl::Time deadline() const override { return deadline_; }
  bool cancelled() const override { return cancelled_.load(); }
  void Work() override {
    worked_on = std::this_thread::get_id();
    worker_tid = static_cast<int>(gettid());
    policy = sched_getscheduler(0);
    order = work_order.fetch_add(1);
    started_.Notify();
    if (hold_) release_.WaitForNotification();
    Answered(absl::OkStatus(), std::nullopt);
  }
  void Refuse(const absl::Status& status, ShedReason reason) override {
    Answered(status, reason);
  }

  void Hold() { hold_ = true; }
  void Release() { release_.Notify(); }
  void Cancel() { cancelled_ = true; }
  void WaitUntilWorking() { started_.WaitForNotification(); }

  int answers() const { return answers_.load(); }
  absl::Status status;  // valid once answered
  std::optional<ShedReason> reason;
  std::thread::id worked_on;
  int worker_tid = 0;
  int policy = -1;  // the working thread's scheduling policy
  int order = -1;

 private:
  void Answered(const absl::Status& s, std::optional<ShedReason> r) {
    status = s;
    reason = r;
    answers_.fetch_add(1);
  }

  const absl::Time deadline_;
  std::atomic<bool> cancelled_{false};
  bool hold_ = false;
  absl::Notification started_, release_;
  std::atomic<int> answers_{0};
};

// Options whose queued calls are never shed for waiting, however slow the
// machine (a sanitizer build): only the rule under test refuses.
CallQueueOptions Patient(int workers) {
  CallQueueOptions options;
  options.workers = workers;
  options.max_queue_delay = absl::InfiniteDuration();
  return options;
}

// Submits `call` on a thread of its own, which then works on it (and on
// whatever queues meanwhile); returns once it is working on `call`.
std::thread WorkOn(CallQueue* queue, TestCall* call) {
  call->Hold();
  std::thread worker([queue, call] { queue->Submit(call); });
  call->WaitUntilWorking();
  return worker;
}

TEST(CallQueueTest, AnIdleQueueWorksOnTheCallOnTheSubmittingThread) {
  CallQueue queue(CallQueueOptions{});
  TestCall call;
  queue.Submit(&call);
  EXPECT_EQ(call.answers(), 1);
  EXPECT_TRUE(call.status.ok());
  EXPECT_EQ(call.worked_on, std::this_thread::get_id());
  EXPECT_EQ(queue.queued(), 0u);
}

TEST(CallQueueTest, ACallPastTheWorkersWaitsAndTheBusyWorkerTakesItInOrder) {
  CallQueue queue(Patient(1));
  TestCall first, second, third;
  std::thread worker = WorkOn(&queue, &first);
  queue.Submit(&second);  // returns at once: the only worker is busy
  queue.Submit(&third);
  EXPECT_EQ(queue.queued(), 2u);
  EXPECT_EQ(second.answers(), 0);
  const std::thread::id worker_id = worker.get_id();
  first.Release();
  worker.join();  // the worker leaves only once the queue is empty
  EXPECT_EQ(queue.queued(), 0u);
  for (TestCall* call : {&first, &second, &third}) {
    EXPECT_EQ(call->answers(), 1);
    EXPECT_TRUE(call->status.ok()) << call->status;
    EXPECT_EQ(call->worked_on, worker_id);
  }
  EXPECT_LT(first.order, second.order);
  EXPECT_LT(second.order, third.order);
}

// Past the inline workers a call queues, and a helper thread of the queue
// works on it at once when the workers allow another.
TEST(CallQueueTest, AHelperTakesAQueuedCallWhileTheInlineWorkerIsBusy) {
  CallQueueOptions options = Patient(2);
  options.inline_workers = 1;
  CallQueue queue(options);
  TestCall first, second;
  std::thread worker = WorkOn(&queue, &first);
  const std::thread::id worker_id = worker.get_id();
  second.Hold();
  queue.Submit(&second);      // returns at once: queued
  second.WaitUntilWorking();  // while `first` is still held
  EXPECT_NE(second.worked_on, worker_id);
  EXPECT_NE(second.worked_on, std::this_thread::get_id());
  EXPECT_EQ(first.answers(), 0);
  // Both workers are busy now: a third call waits for one of them.
  TestCall third;
  queue.Submit(&third);
  EXPECT_EQ(queue.queued(), 1u);
  second.Release();
  first.Release();
  worker.join();
  for (TestCall* call : {&first, &second}) EXPECT_TRUE(call->status.ok());
  // The inline worker or the helper takes `third` (bounded wait: a lost
  // call fails the test instead of hanging it).
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (third.answers() == 0 && absl::Now() < give_up) {
    std::this_thread::yield();
  }
  EXPECT_EQ(third.answers(), 1);
  EXPECT_TRUE(third.status.ok());
}

TEST(CallQueueTest, ACallArrivingWhileTheQueueIsFullIsRefusedAtOnce) {
  CallQueueOptions options = Patient(1);
  options.max_queued = 2;
  CallQueue queue(options);
  TestCall first, a, b, refused;
  std::thread worker = WorkOn(&queue, &first);
  queue.Submit(&a);
  queue.Submit(&b);
  queue.Submit(&refused);
  EXPECT_EQ(refused.answers(), 1);  // before the worker is released
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.status.message()),
              HasSubstr("2 Recommend calls already wait"));
  EXPECT_EQ(refused.reason, ShedReason::kLimit);
  first.Release();
  worker.join();
  EXPECT_TRUE(a.status.ok());
  EXPECT_TRUE(b.status.ok());
}

TEST(CallQueueTest, QueuedCallsAreRefusedUnworkedByTheRulesInTurn) {
  // The clock moves only when the test moves it.
  auto now = std::make_shared<std::atomic<int64_t>>(0);
  const absl::Time epoch = absl::Now();
  CallQueueOptions options;
  options.workers = 1;
  options.max_queue_delay = absl::Milliseconds(20);
  options.clock = [now, epoch] {
    return epoch + absl::Milliseconds(now->load());
  };
  CallQueue queue(options);

  TestCall first;
  std::thread worker = WorkOn(&queue, &first);
  TestCall stale;                                 // waits 30 ms
  TestCall late(epoch + absl::Milliseconds(10));  // deadline passes
  TestCall cancelled;                             // client gives up
  queue.Submit(&stale);
  queue.Submit(&late);
  queue.Submit(&cancelled);
  cancelled.Cancel();
  *now = 15;
  TestCall fresh;  // waits 15 ms: within the delay
  queue.Submit(&fresh);
  *now = 30;
  first.Release();
  worker.join();

  EXPECT_EQ(stale.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(stale.status.message()),
              HasSubstr("waited 30 ms in queue; retry"));
  EXPECT_EQ(stale.reason, ShedReason::kLimit);
  EXPECT_EQ(late.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.reason, ShedReason::kDeadline);
  EXPECT_EQ(cancelled.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(cancelled.reason, ShedReason::kCancelled);
  EXPECT_TRUE(fresh.status.ok()) << fresh.status;
  for (TestCall* call : {&stale, &late, &cancelled}) {
    EXPECT_EQ(call->worked_on, std::thread::id()) << "worked on, not refused";
  }
}

// A clock that moves only when the test moves it (milliseconds).
std::function<absl::Time()> TestClock(std::shared_ptr<std::atomic<int64_t>> now,
                                      absl::Time epoch) {
  return [now, epoch] { return epoch + absl::Milliseconds(now->load()); };
}

TEST(CallQueueTest, WithoutRelaxedReadersThePolicyIsLeftAlone) {
  CallQueue queue(CallQueueOptions{});
  TestCall call;
  queue.Submit(&call);
  EXPECT_EQ(call.policy, SCHED_OTHER);
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
  EXPECT_FALSE(queue.relaxed());
}

// relax_readers: the submitting threads run under SCHED_BATCH until a call
// is shed for load, under SCHED_OTHER from then until relax_after passes
// without one, then under SCHED_BATCH again.
TEST(CallQueueTest, RelaxedReadersWakeAtOnceFromTheFirstCallShedForLoad) {
  auto now = std::make_shared<std::atomic<int64_t>>(0);
  CallQueueOptions options = Patient(1);
  options.max_queued = 1;
  options.relax_readers = true;
  options.relax_after = absl::Seconds(1);
  options.clock = TestClock(now, absl::Now());
  CallQueue queue(options);
  EXPECT_TRUE(queue.relaxed());

  TestCall calm;
  queue.Submit(&calm);
  EXPECT_EQ(calm.policy, SCHED_BATCH);
  EXPECT_EQ(sched_getscheduler(0), SCHED_BATCH);  // this thread, enrolled

  TestCall first, queued, refused;
  std::thread worker = WorkOn(&queue, &first);
  EXPECT_EQ(first.policy, SCHED_BATCH);
  queue.Submit(&queued);
  queue.Submit(&refused);  // the queue is full: shed for load
  EXPECT_EQ(refused.reason, ShedReason::kLimit);
  EXPECT_FALSE(queue.relaxed());
  // Both enrolled threads, the busy worker too, are woken at once now.
  EXPECT_EQ(sched_getscheduler(first.worker_tid), SCHED_OTHER);
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
  first.Release();
  worker.join();
  EXPECT_EQ(queued.policy, SCHED_OTHER);
  EXPECT_FALSE(queue.relaxed());  // less than relax_after since the shed

  *now = 900;
  TestCall soon;
  queue.Submit(&soon);
  EXPECT_EQ(soon.policy, SCHED_OTHER);
  EXPECT_FALSE(queue.relaxed());

  *now = 1100;  // relax_after passed without a call shed
  TestCall later;
  queue.Submit(&later);
  EXPECT_TRUE(queue.relaxed());  // once the queue was found empty
  EXPECT_EQ(sched_getscheduler(0), SCHED_BATCH);
  TestCall relaxed;
  queue.Submit(&relaxed);
  EXPECT_EQ(relaxed.policy, SCHED_BATCH);

  // Leave this thread as the other tests expect it.
  const sched_param param{};
  ASSERT_EQ(sched_setscheduler(0, SCHED_OTHER, &param), 0);
}

// A call shed by a queue rule (waited too long, deadline passed) strains
// the queue as a full queue does; a cancelled one does not.
TEST(CallQueueTest, RelaxedReadersAreWokenByAStaleCallButNotByACancelledOne) {
  auto now = std::make_shared<std::atomic<int64_t>>(0);
  CallQueueOptions options;
  options.workers = 1;
  options.max_queue_delay = absl::Milliseconds(20);
  options.relax_readers = true;
  options.clock = TestClock(now, absl::Now());
  CallQueue queue(options);

  TestCall first, cancelled;
  std::thread worker = WorkOn(&queue, &first);
  queue.Submit(&cancelled);
  cancelled.Cancel();
  first.Release();
  worker.join();
  EXPECT_EQ(cancelled.reason, ShedReason::kCancelled);
  EXPECT_TRUE(queue.relaxed());

  TestCall second, stale;
  worker = WorkOn(&queue, &second);
  queue.Submit(&stale);
  *now = 30;
  second.Release();
  worker.join();
  EXPECT_EQ(stale.reason, ShedReason::kLimit);
  EXPECT_FALSE(queue.relaxed());

  const sched_param param{};
  ASSERT_EQ(sched_setscheduler(0, SCHED_OTHER, &param), 0);
}

// Many threads submit at once, as gRPC's threads do: every call is
// answered exactly once and no more than `workers` work at the same time.
TEST(CallQueueTest, ConcurrentSubmitsAnswerEveryCallOnceWithinTheWorkers) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 2000;
  constexpr int kWorkers = 3;
  CallQueueOptions options = Patient(kWorkers);
  options.max_queued = 1000000;  // nothing refused for a full queue either
  auto queue = std::make_unique<CallQueue>(options);

  std::atomic<int> working{0}, most_working{0};
  class CountingCall : public TestCall {
   public:
    CountingCall(std::atomic<int>* working, std::atomic<int>* most)
        : working_(working), most_(most) {}
    void Work() override {
      const int now = working_->fetch_add(1) + 1;
      int seen = most_->load();
      while (now > seen && !most_->compare_exchange_weak(seen, now)) {
      }
      TestCall::Work();
      working_->fetch_sub(1);
    }

   private:
    std::atomic<int>* working_;
    std::atomic<int>* most_;
  };
  std::vector<std::unique_ptr<CountingCall>> calls;
  for (int i = 0; i < kThreads * kCallsPerThread; ++i) {
    calls.push_back(std::make_unique<CountingCall>(&working, &most_working));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        queue->Submit(calls[t * kCallsPerThread + i].get());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  queue.reset();  // waits for the helpers, which empty the queue first
  for (const auto& call : calls) {
    ASSERT_EQ(call->answers(), 1);
    ASSERT_TRUE(call->status.ok()) << call->status;
  }
  EXPECT_LE(most_working.load(), kWorkers);
  EXPECT_GE(most_working.load(), 1);
}

TEST(CallQueueTest, ZeroWorkersMeansTheUsableCores) {
  CallQueue queue(CallQueueOptions{});
  EXPECT_GE(queue.workers(), 1);
  EXPECT_GE(queue.inline_workers(), 1);
  EXPECT_LE(queue.inline_workers(), queue.workers());
  CallQueueOptions two;
  two.workers = 2;
  two.inline_workers = 5;  // never more than the workers
  CallQueue capped(two);
  EXPECT_EQ(capped.workers(), 2);
  EXPECT_EQ(capped.inline_workers(), 2);
}

}  // namespace
}  // namespace aisle::server
