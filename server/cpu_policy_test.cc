#include "server/cpu_policy.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
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

// The nice value of the calling thread (per thread on Linux).
int MyNice() {
  return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
}

// The policy and nice value of a new thread that demotes itself under
// `policy`, and of a thread it starts.
struct Demoted {
  int policy = -1, nice = -100, child_policy = -1, child_nice = -100;
};
Demoted DemoteANewThread(CpuPolicy policy) {
  Demoted d;
  std::thread([&d, policy] {
    ASSERT_TRUE(DemoteThisThread(policy).ok());
    d.policy = MyPolicy();
    d.nice = MyNice();
    std::thread([&d] {
      d.child_policy = MyPolicy();
      d.child_nice = MyNice();
    }).join();
  }).join();
  return d;
}

TEST(CpuPolicyTest, DemoteIsIdleUnderBatchAndNiceUnderNormal) {
  ASSERT_TRUE(ApplyCpuPolicy(CpuPolicy::kNormal).ok());
  const int mine = MyNice();
  const Demoted idle = DemoteANewThread(CpuPolicy::kAdaptive);
  EXPECT_EQ(idle.policy, SCHED_IDLE);
  EXPECT_EQ(idle.child_policy, SCHED_IDLE);
  const Demoted nice = DemoteANewThread(CpuPolicy::kNormal);
  EXPECT_EQ(nice.policy, SCHED_OTHER);
  EXPECT_EQ(nice.nice, std::max(mine, 10));
  EXPECT_EQ(nice.child_nice, nice.nice);
  // The caller is untouched.
  EXPECT_EQ(MyPolicy(), SCHED_OTHER);
  EXPECT_EQ(MyNice(), mine);
}

TEST(CpuPolicyTest, Names) {
  EXPECT_STREQ(CpuPolicyName(CpuPolicy::kBatch), "batch");
  EXPECT_STREQ(CpuPolicyName(CpuPolicy::kNormal), "normal");
}

TEST(UsableCoresTest, ReadsACgroupCpuLimit) {
  EXPECT_EQ(CpuMaxLimit("200000 100000"), 2.0);
  EXPECT_EQ(CpuMaxLimit("150000 100000\n"), 1.5);
  EXPECT_EQ(CpuMaxLimit("max 100000"), std::nullopt);
  EXPECT_EQ(CpuMaxLimit("-1 100000"), std::nullopt);  // v1: no limit
  EXPECT_EQ(CpuMaxLimit(""), std::nullopt);
  EXPECT_EQ(CpuMaxLimit("100000"), std::nullopt);
  EXPECT_EQ(CpuMaxLimit("a b"), std::nullopt);
}

TEST(UsableCoresTest, AtLeastOneAndNoMoreThanTheAffinity) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const int cores = UsableCores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, CPU_COUNT(&set));
  // Pinned to one core, as with taskset.
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) {
      CPU_SET(c, &one);
      break;
    }
  }
  int pinned = 0;
  std::thread([&] {
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    pinned = UsableCores();
  }).join();
  EXPECT_EQ(pinned, 1);
}

}  // namespace
}  // namespace aisle::server
