// One remembered yes/no per item, valid for one model binding (its
// serial): "does this item's co-occurrence list hold a cold item", which
// Recommend would otherwise find out by scanning the list on every call.
//
// Contract (the engine's mutex does the ordering):
//   - Grow, Forget and ForgetAll change the table: call them holding the
//     engine's exclusive lock.
//   - Get and Put are for readers holding the engine's shared lock. Put
//     is a relaxed atomic store, so readers may race to remember the same
//     answer; a writer's Forget (exclusive) happens before or after a
//     whole read.
//   - Get answers only for the serial the answer was put under: a new
//     model binding (another serial) asks again, without a reset at the
//     swap. Serial 0 means "never": it is not a binding's.
// Not copyable (an atomic view of a plain vector); a few bytes per item.
#ifndef AISLE_CORE_MODEL_FLAGS_H_
#define AISLE_CORE_MODEL_FLAGS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace aisle::core {

class ModelFlags {
 public:
  ModelFlags() = default;
  ModelFlags(const ModelFlags&) = delete;
  ModelFlags& operator=(const ModelFlags&) = delete;

  // Items [0, n) exist; new ones start forgotten.
  void Grow(size_t n) {
    if (n > flags_.size()) flags_.resize(n, 0);
  }
  void Forget(int32_t item) {
    if (static_cast<size_t>(item) < flags_.size()) flags_[item] = 0;
  }
  void ForgetAll(size_t n) { flags_.assign(n, 0); }

  // The answer put for `item` under `serial`, if any.
  std::optional<bool> Get(int32_t item, uint64_t serial) const {
    if (static_cast<size_t>(item) >= flags_.size()) return std::nullopt;
    const uint32_t v =
        std::atomic_ref<uint32_t>(flags_[item]).load(std::memory_order_relaxed);
    if (v == 0 || (v >> 1) != Tag(serial)) return std::nullopt;
    return (v & 1) != 0;
  }
  void Put(int32_t item, uint64_t serial, bool yes) const {
    if (static_cast<size_t>(item) >= flags_.size()) return;
    std::atomic_ref<uint32_t>(flags_[item])
        .store((Tag(serial) << 1) | (yes ? 1 : 0), std::memory_order_relaxed);
  }

 private:
  // 31 bits of the serial, never 0 (a serial 2^31 swaps later shares a
  // tag with an old one only if no event touched the item in between).
  static uint32_t Tag(uint64_t serial) {
    const auto t = static_cast<uint32_t>(serial & 0x7fffffffu);
    return t == 0 ? 1 : t;
  }

  mutable std::vector<uint32_t> flags_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_MODEL_FLAGS_H_
