#include "server/admission.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <utility>

#include "core/clock.h"

namespace aisle::server {

std::string_view MethodClassName(MethodClass c) {
  switch (c) {
    case MethodClass::kRead:
      return "read";
    case MethodClass::kWrite:
      return "write";
    case MethodClass::kAdmin:
      return "admin";
  }
  return "unknown";
}

// --- Permit ------------------------------------------------------------------

AdmissionLimiter::Permit::Permit(Permit&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)),
      start_ns_(other.start_ns_),
      sample_(other.sample_) {}

AdmissionLimiter::Permit& AdmissionLimiter::Permit::operator=(
    Permit&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::exchange(other.limiter_, nullptr);
    start_ns_ = other.start_ns_;
    sample_ = other.sample_;
  }
  return *this;
}

AdmissionLimiter::Permit::~Permit() { Release(); }

void AdmissionLimiter::Permit::Release() {
  if (limiter_ == nullptr) return;
  std::exchange(limiter_, nullptr)->Release(start_ns_, sample_);
}

// --- AdmissionLimiter --------------------------------------------------------

AdmissionLimiter::AdmissionLimiter(const AdmissionOptions& options)
    : options_([&] {
        AdmissionOptions o = options;
        o.max_in_flight = std::max(1, o.max_in_flight);
        o.min_limit = std::clamp(o.min_limit, 1, o.max_in_flight);
        o.window_samples = std::max(1, o.window_samples);
        return o;
      }()),
      limit_(options_.mode == AdmissionMode::kOff ? INT_MAX
                                                  : options_.max_in_flight),
      adaptive_limit_(options_.max_in_flight) {}

AdmissionLimiter::Permit AdmissionLimiter::TryAcquire() {
  int current = in_flight_.load(std::memory_order_relaxed);
  do {
    if (current >= limit_.load(std::memory_order_relaxed)) return Permit();
  } while (!in_flight_.compare_exchange_weak(current, current + 1,
                                             std::memory_order_relaxed));
  // The clock is read only for the samples the adaptive limit uses.
  const bool timed = options_.mode == AdmissionMode::kAdaptive;
  return Permit(this, timed ? core::SteadyNanos() : 0);
}

void AdmissionLimiter::Release(int64_t start_ns, bool sample) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (sample && options_.mode == AdmissionMode::kAdaptive) {
    RecordLatency(core::SteadyNanos() - start_ns);
  }
}

void AdmissionLimiter::RecordLatency(int64_t nanos) {
  if (options_.mode != AdmissionMode::kAdaptive) return;
  absl::MutexLock lock(&mu_);
  window_sum_ns_ += static_cast<double>(std::max<int64_t>(nanos, 1));
  if (++window_count_ < options_.window_samples) return;
  const double mean = window_sum_ns_ / window_count_;
  window_count_ = 0;
  window_sum_ns_ = 0;
  baseline_ns_ =
      baseline_ns_ == 0
          ? mean
          : std::min(mean, baseline_ns_ * (1 + options_.baseline_drift));
  if (mean > options_.tolerance * baseline_ns_) {
    adaptive_limit_ *= options_.backoff;
  } else {
    adaptive_limit_ += 1;
  }
  adaptive_limit_ =
      std::clamp(adaptive_limit_, static_cast<double>(options_.min_limit),
                 static_cast<double>(options_.max_in_flight));
  limit_.store(static_cast<int>(adaptive_limit_), std::memory_order_relaxed);
}

// --- Admission ---------------------------------------------------------------

namespace {
AdmissionOptions NeverAdaptive(AdmissionOptions options) {
  if (options.mode == AdmissionMode::kAdaptive) {
    options.mode = AdmissionMode::kFixed;
  }
  return options;
}
}  // namespace

Admission::Admission(const AdmissionOptions& read,
                     const AdmissionOptions& write, AdmissionOptions admin)
    : read_(NeverAdaptive(read)),
      write_(write),
      admin_(NeverAdaptive(std::move(admin))),
      limiters_{&read_, &write_, &admin_} {}

}  // namespace aisle::server
