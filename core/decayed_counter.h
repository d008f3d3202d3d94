// Exponentially decayed per-item counters (popularity, trending) and a
// cached ranking over them.
//
// DecayedCounters keeps, per item, the sum of event weights each decayed
// from its event time to a common "now": value_i * exp(-lambda (now -
// base)). Adding is O(1); the base moves forward (rescaling every value)
// only when the exponent would overflow. Not thread-safe: the engine
// guards it with its mutex.
//
// RankCache orders items by a counter, best first, ties by index; built
// lazily to the depth asked for and rebuilt when the counter changed.
// Thread-safe (its own mutex), so readers holding the engine's shared lock
// can share one.
#ifndef AISLE_CORE_DECAYED_COUNTER_H_
#define AISLE_CORE_DECAYED_COUNTER_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace aisle::core {

class DecayedCounters {
 public:
  // A half-life <= 0 means no decay.
  explicit DecayedCounters(double half_life_ms)
      : lambda_(half_life_ms > 0 ? kLn2 / half_life_ms : 0) {}

  // Adds weight `w` for item `i` at time `t` (ms). Inline: once per event.
  void Add(int32_t i, double w, int64_t t) {
    if (static_cast<size_t>(i) >= values_.size()) values_.resize(i + 1, 0);
    if (!has_base_) {
      base_ = t;
      has_base_ = true;
    }
    double e = lambda_ * static_cast<double>(t - base_);
    if (e > kMaxExponent) {
      const double scale = std::exp(-e);
      for (double& v : values_) v *= scale;
      base_ = t;
      e = 0;
    }
    values_[i] += w * std::exp(e);
    ++version_;
  }
  // Ranking key: proportional to the decayed score at any common "now".
  double Key(int32_t i) const {
    return static_cast<size_t>(i) < values_.size() ? values_[i] : 0;
  }
  // Asks the cache for what Key(i) reads (for loops over many items).
  void Prefetch(int32_t i) const {
    if (static_cast<size_t>(i) < values_.size()) {
      __builtin_prefetch(values_.data() + i);
    }
  }
  // The decayed score at `now` (ms).
  double ScoreAt(int32_t i, int64_t now) const { return Key(i) * DecayAt(now); }
  // The factor from a key to its score at `now`: Key(i) * DecayAt(now) ==
  // ScoreAt(i, now), for scoring many items at one "now" with one exp.
  double DecayAt(int64_t now) const {
    return std::exp(-lambda_ * static_cast<double>(now - base_));
  }
  size_t size() const { return values_.size(); }
  // Changes on every Add: a ranking built at another version is stale.
  uint64_t version() const { return version_; }

  // The raw state, for engine snapshots (core/engine_snapshot.cc): values
  // are relative to base() (ms), which is meaningful only if has_base().
  int64_t base() const { return base_; }
  bool has_base() const { return has_base_; }
  const std::vector<double>& values() const { return values_; }
  // Replaces the state with one read from a snapshot written with the same
  // half-life; a new version, so cached rankings are rebuilt.
  void Restore(int64_t base, bool has_base, std::vector<double> values) {
    base_ = base;
    has_base_ = has_base;
    values_ = std::move(values);
    ++version_;
  }

 private:
  static constexpr double kLn2 = 0.69314718055994530942;
  static constexpr double kMaxExponent = 500;
  double lambda_;
  int64_t base_ = 0;
  bool has_base_ = false;
  std::vector<double> values_;
  uint64_t version_ = 0;
};

class RankCache {
 public:
  // Items with a positive key, best first, at least `depth` of them when
  // that many exist (at least 1024 are ranked per rebuild). The caller
  // must keep `c` from changing during the call (the engine's shared lock).
  std::shared_ptr<const std::vector<int32_t>> Top(const DecayedCounters& c,
                                                  size_t depth);

 private:
  absl::Mutex mu_;
  std::shared_ptr<const std::vector<int32_t>> order_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  size_t nonzero_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_DECAYED_COUNTER_H_
