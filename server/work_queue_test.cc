#include "server/work_queue.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

// A clock the test moves by hand.
class FakeClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

// How one task was answered.
struct Outcome {
  absl::Notification done;
  bool ran = false;
  absl::Status refused;
};

WorkQueue::Task TaskFor(Outcome* out,
                        absl::Time deadline = absl::InfiniteFuture()) {
  WorkQueue::Task task;
  task.deadline = deadline;
  task.run = [out] {
    out->ran = true;
    out->done.Notify();
  };
  task.refuse = [out](absl::Status s) {
    out->refused = std::move(s);
    out->done.Notify();
  };
  return task;
}

// One worker, held busy by a task until release is notified.
class WorkQueueTest : public ::testing::Test {
 protected:
  void Start(int max_queued, absl::Duration max_queue_delay) {
    WorkQueueOptions options;
    options.workers = 1;
    options.max_queued = max_queued;
    options.max_queue_delay = max_queue_delay;
    options.clock = [this] { return clock_.Now(); };
    queue_ = std::make_unique<WorkQueue>(options);
    WorkQueue::Task blocker;
    blocker.run = [this] {
      started_.Notify();
      release_.WaitForNotification();
    };
    blocker.refuse = [](absl::Status) {};
    ASSERT_TRUE(queue_->TryPost(std::move(blocker)));
    started_.WaitForNotification();  // the worker is busy from here on
  }

  FakeClock clock_;
  absl::Notification started_, release_;
  std::unique_ptr<WorkQueue> queue_;
};

TEST_F(WorkQueueTest, FullQueueRefusesPostThenRunsInOrder) {
  Start(/*max_queued=*/2, absl::Hours(1));
  Outcome a, b, c;
  EXPECT_TRUE(queue_->TryPost(TaskFor(&a)));
  EXPECT_TRUE(queue_->TryPost(TaskFor(&b)));
  EXPECT_EQ(queue_->queued(), 2);
  EXPECT_FALSE(queue_->TryPost(TaskFor(&c)));  // full: the caller answers
  release_.Notify();
  a.done.WaitForNotification();
  b.done.WaitForNotification();
  EXPECT_TRUE(a.ran);
  EXPECT_TRUE(b.ran);
  EXPECT_FALSE(c.done.HasBeenNotified());  // neither run nor refused
  Outcome d;  // room again
  EXPECT_TRUE(queue_->TryPost(TaskFor(&d)));
  d.done.WaitForNotification();
  EXPECT_TRUE(d.ran);
}

TEST_F(WorkQueueTest, ExpiredDeadlineIsRefusedWithoutRunning) {
  Start(8, absl::Hours(1));
  Outcome late, in_time;
  EXPECT_TRUE(
      queue_->TryPost(TaskFor(&late, clock_.Now() + absl::Milliseconds(10))));
  EXPECT_TRUE(
      queue_->TryPost(TaskFor(&in_time, clock_.Now() + absl::Seconds(10))));
  clock_.Advance(absl::Milliseconds(50));
  release_.Notify();
  late.done.WaitForNotification();
  in_time.done.WaitForNotification();
  EXPECT_FALSE(late.ran);
  EXPECT_EQ(late.refused.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(in_time.ran);
}

TEST_F(WorkQueueTest, CancelledTaskIsRefusedWithoutRunning) {
  Start(8, absl::Hours(1));
  Outcome out;
  WorkQueue::Task task = TaskFor(&out);
  task.cancelled = [] { return true; };
  EXPECT_TRUE(queue_->TryPost(std::move(task)));
  release_.Notify();
  out.done.WaitForNotification();
  EXPECT_FALSE(out.ran);
  EXPECT_EQ(out.refused.code(), absl::StatusCode::kCancelled);
}

TEST_F(WorkQueueTest, TaskThatWaitedTooLongIsShedAndFresherOnesRun) {
  Start(8, absl::Milliseconds(20));
  Outcome stale, fresh;
  EXPECT_TRUE(queue_->TryPost(TaskFor(&stale)));
  clock_.Advance(absl::Milliseconds(30));
  EXPECT_TRUE(queue_->TryPost(TaskFor(&fresh)));
  release_.Notify();
  stale.done.WaitForNotification();
  fresh.done.WaitForNotification();
  EXPECT_FALSE(stale.ran);
  EXPECT_EQ(stale.refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(stale.refused.message(),
            "server overloaded: waited 30 ms in queue; retry with backoff");
  EXPECT_TRUE(fresh.ran);  // waited 0 ms by the fake clock
}

TEST_F(WorkQueueTest, QueuedTasksAreRefusedUnavailableAtShutdown) {
  Start(1'000'000, absl::Hours(1));
  Outcome queued;
  EXPECT_TRUE(queue_->TryPost(TaskFor(&queued)));
  std::thread stopper([this] { queue_->Shutdown(); });
  // Once Shutdown has begun TryPost refuses; until then each probe is one
  // more queued task, which must be refused too.
  std::atomic<int> probes_refused{0}, probes_ran{0};
  int probes_posted = 0;
  while (probes_posted < 500'000) {
    WorkQueue::Task probe;
    probe.run = [&] { ++probes_ran; };
    probe.refuse = [&](absl::Status s) {
      if (s.code() == absl::StatusCode::kUnavailable) ++probes_refused;
    };
    if (!queue_->TryPost(std::move(probe))) break;
    ++probes_posted;
    std::this_thread::yield();
  }
  ASSERT_LT(probes_posted, 500'000) << "Shutdown never stopped TryPost";
  release_.Notify();  // the running task finishes; the queued ones do not run
  stopper.join();
  ASSERT_TRUE(queued.done.HasBeenNotified());
  EXPECT_FALSE(queued.ran);
  EXPECT_EQ(queued.refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(probes_ran.load(), 0);
  EXPECT_EQ(probes_refused.load(), probes_posted);
  EXPECT_EQ(queue_->queued(), 0);
  queue_.reset();  // a second shutdown is harmless
}

}  // namespace
}  // namespace aisle::server
