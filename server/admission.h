// Admission control: a bound on the RPCs being worked on, per method class,
// so that past capacity a request is refused at once (RESOURCE_EXHAUSTED,
// before any engine or storage work) instead of making every request late.
//
// Classes (service.cc maps each RPC to one):
//   read   Recommend, GetItem, GetUser, Rank    the traffic that spikes
//   write  Feedback, ImportEvents, UpsertItems, DeleteItems, MergeUsers
//   admin  GetModelInfo, ListModels, ActivateModel, DeleteUser,
//          GetExperimentReport
// The operator's calls are a class of their own so that they still get
// through while reads are being shed.
//
// Modes:
//   fixed     the limit is max_in_flight.
//   adaptive  (write only. Reads are fixed: Recommend's CallQueue sheds
//             what waited past its delay target, which measures overload
//             directly; an adaptive limit on top of it counted the queue's
//             own wait as latency and settled at a fifth of the capacity.
//             Admin is always fixed: its mix of microsecond and
//             multi-second calls says nothing about load. Single-node
//             Feedback gives no samples: its time is mostly the wait to
//             be stored with others, event_batcher.h; the limit still
//             bounds how many wait.)
//             the limit moves between min_limit and max_in_flight with the
//             latency of finished requests, AIMD in the manner of Netflix's
//             concurrency-limits. Samples are taken in windows of
//             window_samples; the window's mean latency is compared with
//             the baseline, the lowest window mean seen (the latency without
//             queueing; it drifts up by baseline_drift per window so that a
//             slower model or catalog is learnt again). Mean above tolerance
//             x baseline: the limit is multiplied by backoff; otherwise it
//             grows by 1. Counting samples instead of reading a clock makes
//             the limiter deterministic for a given sequence of samples.
//   off       no limit (the in-flight count is still kept for the gauge).
//
// Example:
//   AdmissionLimiter reads(options);
//   AdmissionLimiter::Permit permit = reads.TryAcquire();
//   if (!permit.admitted()) return RESOURCE_EXHAUSTED;
//   ... work ...;  // ~Permit releases the slot and reports the latency
//
// Thread safety: all methods may be called concurrently. TryAcquire is one
// compare-and-swap loop on an atomic; a latency sample takes one short lock.
#ifndef AISLE_SERVER_ADMISSION_H_
#define AISLE_SERVER_ADMISSION_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace aisle::server {

enum class MethodClass { kRead, kWrite, kAdmin };
inline constexpr int kNumMethodClasses = 3;
std::string_view MethodClassName(MethodClass c);  // "read", "write", "admin"

enum class AdmissionMode { kOff, kFixed, kAdaptive };

struct AdmissionOptions {
  AdmissionMode mode = AdmissionMode::kAdaptive;
  // The fixed limit, or the adaptive one's upper bound (and start).
  int max_in_flight = 64;
  // Adaptive only: see the file comment.
  int min_limit = 2;
  int window_samples = 100;
  double tolerance = 2.0;
  double backoff = 0.9;
  double baseline_drift = 1.0 / 1024;
};

class AdmissionLimiter {
 public:
  // A slot for one request. Move-only; releasing it (destructor) frees the
  // slot and, unless SkipSample was called, reports the time since
  // TryAcquire as a latency sample.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept;
    Permit& operator=(Permit&& other) noexcept;
    ~Permit();

    bool admitted() const { return limiter_ != nullptr; }
    // For calls whose duration is not a measure of load (a stream that
    // lasts as long as the client sends).
    void SkipSample() { sample_ = false; }

   private:
    friend class AdmissionLimiter;
    Permit(AdmissionLimiter* limiter, int64_t start_ns)
        : limiter_(limiter), start_ns_(start_ns) {}
    void Release();

    AdmissionLimiter* limiter_ = nullptr;
    int64_t start_ns_ = 0;
    bool sample_ = true;
  };

  explicit AdmissionLimiter(const AdmissionOptions& options);
  AdmissionLimiter(const AdmissionLimiter&) = delete;
  AdmissionLimiter& operator=(const AdmissionLimiter&) = delete;

  // A permit when fewer than limit() requests are in flight (always with
  // mode off), else a permit that is not admitted().
  Permit TryAcquire();

  // Adaptive mode: one finished request's latency; adjusts the limit at the
  // end of each window. Called by ~Permit; public so that tests can drive
  // the limiter with chosen latencies. No effect in the other modes.
  void RecordLatency(int64_t nanos);

  int limit() const { return limit_.load(std::memory_order_relaxed); }
  int in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  AdmissionMode mode() const { return options_.mode; }

 private:
  void Release(int64_t start_ns, bool sample);

  const AdmissionOptions options_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> limit_;

  absl::Mutex mu_;
  double adaptive_limit_ ABSL_GUARDED_BY(mu_);  // limit_ is its floor
  int window_count_ ABSL_GUARDED_BY(mu_) = 0;
  double window_sum_ns_ ABSL_GUARDED_BY(mu_) = 0;
  double baseline_ns_ ABSL_GUARDED_BY(mu_) = 0;  // 0 = none yet
};

// One limiter per method class.
class Admission {
 public:
  // `read`, `write`, `admin`: the options of each class (admin's adaptive
  // mode is taken as fixed).
  Admission(const AdmissionOptions& read, const AdmissionOptions& write,
            AdmissionOptions admin);
  AdmissionLimiter& limiter(MethodClass c) {
    return *limiters_[static_cast<int>(c)];
  }
  const AdmissionLimiter& limiter(MethodClass c) const {
    return *limiters_[static_cast<int>(c)];
  }

 private:
  AdmissionLimiter read_, write_, admin_;
  std::array<AdmissionLimiter*, kNumMethodClasses> limiters_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_ADMISSION_H_
