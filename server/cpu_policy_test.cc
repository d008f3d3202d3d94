#include "server/cpu_policy.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

// The policy of the calling thread (sched_getscheduler(0) is per thread).
int MyPolicy() { return sched_getscheduler(0); }

// A thread that exists before ApplyCpuPolicy and reports its policy after.
class Bystander {
 public:
  Bystander()
      : thread_([this] {
          started_.Notify();
          check_.WaitForNotification();
          policy_ = MyPolicy();
        }) {
    started_.WaitForNotification();
  }
  int PolicyNow() {
    check_.Notify();
    thread_.join();
    return policy_;
  }

 private:
  absl::Notification started_, check_;
  std::atomic<int> policy_{-1};
  std::thread thread_;
};

int PolicyOfANewThread() {
  int policy = -1;
  std::thread([&policy] { policy = MyPolicy(); }).join();
  return policy;
}

TEST(CpuPolicyTest, BatchReachesThreadsThatExistAndThreadsStartedLater) {
  Bystander before;
  ASSERT_TRUE(ApplyCpuPolicy(CpuPolicy::kBatch).ok());
  EXPECT_EQ(MyPolicy(), SCHED_BATCH);
  EXPECT_EQ(before.PolicyNow(), SCHED_BATCH);
  EXPECT_EQ(PolicyOfANewThread(), SCHED_BATCH);
}

TEST(CpuPolicyTest, NormalPutsEveryThreadBack) {
  ASSERT_TRUE(ApplyCpuPolicy(CpuPolicy::kBatch).ok());
  Bystander before;
  ASSERT_TRUE(ApplyCpuPolicy(CpuPolicy::kNormal).ok());
  EXPECT_EQ(MyPolicy(), SCHED_OTHER);
  EXPECT_EQ(before.PolicyNow(), SCHED_OTHER);
  EXPECT_EQ(PolicyOfANewThread(), SCHED_OTHER);
}

TEST(CpuPolicyTest, Names) {
  EXPECT_STREQ(CpuPolicyName(CpuPolicy::kBatch), "batch");
  EXPECT_STREQ(CpuPolicyName(CpuPolicy::kNormal), "normal");
}

}  // namespace
}  // namespace aisle::server
