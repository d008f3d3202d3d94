#include "server/admission.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace aisle::server {
namespace {

constexpr int64_t kMs = 1'000'000;

AdmissionOptions Options(AdmissionMode mode, int max_in_flight) {
  AdmissionOptions options;
  options.mode = mode;
  options.max_in_flight = max_in_flight;
  options.min_limit = 2;
  options.window_samples = 10;
  return options;
}

// Feeds `windows` whole windows of samples of `latency_ns`.
void Feed(AdmissionLimiter& limiter, int windows, int64_t latency_ns) {
  for (int i = 0; i < windows * 10; ++i) limiter.RecordLatency(latency_ns);
}

TEST(AdmissionTest, FixedLimitRefusesPastItAndFreesOnRelease) {
  AdmissionLimiter limiter(Options(AdmissionMode::kFixed, 2));
  AdmissionLimiter::Permit a = limiter.TryAcquire();
  AdmissionLimiter::Permit b = limiter.TryAcquire();
  AdmissionLimiter::Permit refused = limiter.TryAcquire();
  EXPECT_TRUE(a.admitted());
  EXPECT_TRUE(b.admitted());
  EXPECT_FALSE(refused.admitted());
  EXPECT_EQ(limiter.in_flight(), 2);
  EXPECT_EQ(limiter.limit(), 2);
  {
    AdmissionLimiter::Permit moved = std::move(a);
    EXPECT_FALSE(a.admitted());  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(limiter.in_flight(), 2);
  }
  EXPECT_EQ(limiter.in_flight(), 1);
  EXPECT_TRUE(limiter.TryAcquire().admitted());  // released at once
  EXPECT_EQ(limiter.in_flight(), 1);
  // Latency samples do not move a fixed limit.
  Feed(limiter, 5, 1 * kMs);
  Feed(limiter, 5, 100 * kMs);
  EXPECT_EQ(limiter.limit(), 2);
}

TEST(AdmissionTest, OffAdmitsEverythingAndCounts) {
  AdmissionLimiter limiter(Options(AdmissionMode::kOff, 1));
  std::vector<AdmissionLimiter::Permit> permits;
  for (int i = 0; i < 100; ++i) {
    permits.push_back(limiter.TryAcquire());
    EXPECT_TRUE(permits.back().admitted());
  }
  EXPECT_EQ(limiter.in_flight(), 100);
  permits.clear();
  EXPECT_EQ(limiter.in_flight(), 0);
}

TEST(AdmissionTest, AdaptiveShrinksWhenLatencyGrowsAndGrowsBack) {
  AdmissionLimiter limiter(Options(AdmissionMode::kAdaptive, 40));
  EXPECT_EQ(limiter.limit(), 40);  // starts at the maximum
  Feed(limiter, 3, 1 * kMs);       // the baseline: 1 ms
  EXPECT_EQ(limiter.limit(), 40);  // bounded by the maximum
  // Within tolerance (2x) the limit holds at the maximum.
  Feed(limiter, 1, 2 * kMs);
  EXPECT_EQ(limiter.limit(), 40);
  // Past it: x0.9 per window.
  Feed(limiter, 1, 3 * kMs);
  EXPECT_EQ(limiter.limit(), 36);
  Feed(limiter, 1, 3 * kMs);
  EXPECT_EQ(limiter.limit(), 32);  // 32.4
  // Sustained queueing drives it to the minimum, never below.
  Feed(limiter, 100, 10 * kMs);
  EXPECT_EQ(limiter.limit(), 2);
  // Latency back to the baseline: +1 per window.
  Feed(limiter, 1, 1 * kMs);
  EXPECT_EQ(limiter.limit(), 3);
  Feed(limiter, 5, 1 * kMs);
  EXPECT_EQ(limiter.limit(), 8);
  Feed(limiter, 100, 1 * kMs);
  EXPECT_EQ(limiter.limit(), 40);
}

TEST(AdmissionTest, AdaptiveRefusesAtTheCurrentLimit) {
  AdmissionLimiter limiter(Options(AdmissionMode::kAdaptive, 4));
  Feed(limiter, 1, 1 * kMs);
  Feed(limiter, 20, 10 * kMs);
  ASSERT_EQ(limiter.limit(), 2);
  AdmissionLimiter::Permit a = limiter.TryAcquire();
  AdmissionLimiter::Permit b = limiter.TryAcquire();
  EXPECT_TRUE(a.admitted() && b.admitted());
  EXPECT_FALSE(limiter.TryAcquire().admitted());
}

// The baseline is the lowest window mean, so a slow stretch does not
// become the new normal at once; it drifts up slowly (0.1% a window here)
// so that a permanently slower workload is learnt again.
TEST(AdmissionTest, AdaptiveBaselineDriftsUpToANewNormal) {
  AdmissionOptions options = Options(AdmissionMode::kAdaptive, 10);
  options.baseline_drift = 0.1;
  AdmissionLimiter limiter(options);
  Feed(limiter, 1, 1 * kMs);
  Feed(limiter, 1, 3 * kMs);  // 3 > 2 x 1.1
  EXPECT_EQ(limiter.limit(), 9);
  // After enough windows at 3 ms the baseline has drifted to 1.5 ms and
  // 3 ms is within tolerance again: the limit recovers.
  Feed(limiter, 40, 3 * kMs);
  EXPECT_EQ(limiter.limit(), 10);
}

TEST(AdmissionTest, OnlyWritesAreAdaptive) {
  AdmissionOptions adaptive = Options(AdmissionMode::kAdaptive, 4);
  Admission admission(adaptive, adaptive, adaptive);
  EXPECT_EQ(admission.limiter(MethodClass::kWrite).mode(),
            AdmissionMode::kAdaptive);
  EXPECT_EQ(admission.limiter(MethodClass::kRead).mode(),
            AdmissionMode::kFixed);
  EXPECT_EQ(admission.limiter(MethodClass::kAdmin).mode(),
            AdmissionMode::kFixed);
  EXPECT_EQ(MethodClassName(MethodClass::kWrite), "write");
}

}  // namespace
}  // namespace aisle::server
