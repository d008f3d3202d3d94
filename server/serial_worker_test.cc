#include "server/serial_worker.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

TEST(SerialWorkerTest, RunsTasksInOrderAndDrainsOnDestruction) {
  std::vector<int> order;  // only the worker thread writes it
  {
    SerialWorker worker;
    for (int i = 0; i < 100; ++i) {
      worker.Post([&order, i] { order.push_back(i); });
    }
  }  // the destructor runs what is still queued
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

// A pool's tasks run at the same time: each of 4 tasks waits until all 4
// have started, which only happens on 4 threads (bounded: a task gives up
// after 30 s, and the test then fails instead of hanging).
TEST(WorkerPoolTest, RunsTasksConcurrentlyAndDrainsOnDestruction) {
  constexpr int kThreads = 4;
  absl::Mutex mu;
  int started = 0;
  int saw_all = 0;
  int ran = 0;
  {
    WorkerPool pool(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      pool.Post([&] {
        absl::MutexLock lock(&mu);
        ++started;
        auto all_started = [&]() { return started == kThreads; };
        if (mu.AwaitWithTimeout(absl::Condition(&all_started),
                                absl::Seconds(30))) {
          ++saw_all;
        }
      });
    }
    for (int i = 0; i < 100; ++i) {
      pool.Post([&] {
        absl::MutexLock lock(&mu);
        ++ran;
      });
    }
  }  // the destructor runs what is still queued
  EXPECT_EQ(saw_all, kThreads);
  EXPECT_EQ(ran, 100);
}

}  // namespace
}  // namespace aisle::server
