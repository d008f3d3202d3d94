// PrefetchAhead: walks a container a few elements ahead of a loop over it
// and asks the cache for what the loop will read at each element's key.
// For loops whose body reads arrays at random indices (a count, a slot, a
// model row per co-occurring item): in a large catalog each read is a
// cache miss, and without the walk ahead they wait for memory one at a
// time.
//
//   PrefetchAhead ahead(pairs, [&](int32_t item) {
//     __builtin_prefetch(counts.data() + item);
//   });
//   for (const auto& [item, c] : pairs) {
//     ahead.Step();
//     ... counts[item] ...
//   }
//
// The container must outlive the object and not change while it is used.
// Thread safety: an object is used by one thread.
#ifndef AISLE_CORE_PREFETCH_AHEAD_H_
#define AISLE_CORE_PREFETCH_AHEAD_H_

#include <utility>

namespace aisle::core {

template <typename Container, typename Fetch>
class PrefetchAhead {
 public:
  // How far ahead: enough loads in flight to cover a memory access.
  static constexpr int kDistance = 8;

  // Prefetches the first kDistance elements' keys (`fetch(element.first)`).
  PrefetchAhead(const Container& container, Fetch fetch)
      : next_(container.begin()),
        end_(container.end()),
        fetch_(std::move(fetch)) {
    for (int k = 0; k < kDistance; ++k) Step();
  }

  // Prefetches the next element's key, if any is left; call once per
  // element the loop reads.
  void Step() {
    if (next_ == end_) return;
    fetch_(next_->first);
    ++next_;
  }

 private:
  typename Container::const_iterator next_, end_;
  Fetch fetch_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_PREFETCH_AHEAD_H_
