// DenseSlots: where an engine item sits in a list being built, found by
// indexing an array instead of hashing. A request that sums scores over a
// few thousand items (co-occurrence of the user's recent items, the
// content match of new items) spends most of its time in a hash map's
// probes otherwise.
//
//   DenseSlots at(num_items);
//   for (...) {
//     int32_t& p = at[item];
//     if (p < 0) { p = list.size(); list.push_back(...); }
//     list[p] += ...;
//   }
//
// The array (one int32_t per item, all -1 between uses) belongs to the
// thread and is reused by every request on it; the destructor resets the
// entries this use touched, so a use costs what it touches, not the
// catalog. Uses may nest (each takes its own array from the thread's
// pool). Memory: 4 bytes per item per thread (per nesting level), kept
// for the thread's life.
//
// Thread safety: an object is used by the thread that created it only.
#ifndef AISLE_CORE_DENSE_SLOTS_H_
#define AISLE_CORE_DENSE_SLOTS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace aisle::core {

class DenseSlots {
 public:
  // Items are in [0, size).
  explicit DenseSlots(size_t size);
  ~DenseSlots();
  DenseSlots(const DenseSlots&) = delete;
  DenseSlots& operator=(const DenseSlots&) = delete;

  // The slot of `item` (0 <= item < size): -1 until the caller sets it.
  int32_t& operator[](int32_t item) {
    int32_t& slot = (*slots_)[static_cast<size_t>(item)];
    if (slot < 0) touched_.push_back(item);
    return slot;
  }
  // Starts loading the slot of `item` into the cache, for a caller that
  // knows the items it will look up a few steps ahead (a slot is a cache
  // miss in a large catalog).
  void Prefetch(int32_t item) const {
    __builtin_prefetch(slots_->data() + item);
  }

 private:
  std::unique_ptr<std::vector<int32_t>> slots_;
  std::vector<int32_t> touched_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_DENSE_SLOTS_H_
