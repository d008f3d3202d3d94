#include "core/dense_slots.h"

#include <utility>

namespace aisle::core {
namespace {

// Arrays not in use on this thread, every entry -1.
std::vector<std::unique_ptr<std::vector<int32_t>>>& Pool() {
  thread_local std::vector<std::unique_ptr<std::vector<int32_t>>> pool;
  return pool;
}

}  // namespace

DenseSlots::DenseSlots(size_t size) {
  auto& pool = Pool();
  if (pool.empty()) {
    slots_ = std::make_unique<std::vector<int32_t>>();
  } else {
    slots_ = std::move(pool.back());
    pool.pop_back();
  }
  if (slots_->size() < size) slots_->resize(size, -1);
}

DenseSlots::~DenseSlots() {
  for (int32_t item : touched_) (*slots_)[static_cast<size_t>(item)] = -1;
  Pool().push_back(std::move(slots_));
}

}  // namespace aisle::core
