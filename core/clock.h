// Elapsed-time helpers for logs, progress lines and metrics. Monotonic
// (steady_clock): never affected by wall-clock changes.
#ifndef AISLE_CORE_CLOCK_H_
#define AISLE_CORE_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace aisle::core {

using SteadyClock = std::chrono::steady_clock;

// Seconds elapsed since `start`.
inline double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Nanoseconds on the steady clock, for stamps kept as integers.
inline int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// Seconds elapsed since a SteadyNanos() stamp.
inline double SecondsSinceNanos(int64_t start_ns) {
  return static_cast<double>(SteadyNanos() - start_ns) * 1e-9;
}

}  // namespace aisle::core

#endif  // AISLE_CORE_CLOCK_H_
