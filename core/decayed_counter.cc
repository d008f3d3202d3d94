// RankCache: the lazily built ranking over a DecayedCounters.
#include "core/decayed_counter.h"

#include <algorithm>
#include <utility>

namespace aisle::core {

std::shared_ptr<const std::vector<int32_t>> RankCache::Top(
    const DecayedCounters& c, size_t depth) {
  absl::MutexLock lock(&mu_);
  const size_t n = c.size();
  if (order_ && version_ == c.version() &&
      (order_->size() >= depth || order_->size() == nonzero_)) {
    return order_;
  }
  std::vector<int32_t> all;
  all.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (c.Key(static_cast<int32_t>(i)) > 0)
      all.push_back(static_cast<int32_t>(i));
  }
  nonzero_ = all.size();
  const auto better = [&c](int32_t a, int32_t b) {
    const double ka = c.Key(a), kb = c.Key(b);
    return ka != kb ? ka > kb : a < b;
  };
  const size_t d = std::min(all.size(), std::max<size_t>(depth, 1024));
  std::partial_sort(all.begin(), all.begin() + d, all.end(), better);
  all.resize(d);
  order_ = std::make_shared<const std::vector<int32_t>>(std::move(all));
  version_ = c.version();
  return order_;
}

}  // namespace aisle::core
