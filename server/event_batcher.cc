#include "server/event_batcher.h"

#include <sched.h>

#include <algorithm>
#include <utility>

#include "core/clock.h"

namespace aisle::server {

EventBatcher::EventBatcher(Ingest* ingest, const EventBatcherOptions& options)
    : ingest_(ingest), options_(options), thread_([this] { Run(); }) {}

EventBatcher::~EventBatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void EventBatcher::Submit(std::vector<core::Event> events, int64_t now_ms,
                          Done done) {
  Pending p;
  p.input.events = std::move(events);
  p.input.now_ms = now_ms;
  p.done = std::move(done);
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(p));
}

EventBatcher::Counts EventBatcher::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

void EventBatcher::Run() {
  if (options_.batch_policy) {
    sched_param param{};
    // Best effort, as for the call queue's threads: where it is refused,
    // batches are only smaller.
    sched_setscheduler(0, SCHED_BATCH, &param);
  }
  const size_t max_events = std::max<size_t>(options_.max_batch_events, 1);
  for (;;) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](EventBatcher* b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(b->mu_) {
            return !b->queue_.empty() || b->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left
      size_t n = 0, events = 0;
      while (n < queue_.size() &&
             (n == 0 || events + queue_[n].input.events.size() <= max_events)) {
        events += queue_[n].input.events.size();
        ++n;
      }
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) batch.push_back(std::move(queue_[i]));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
      ++counts_.batches;
      counts_.calls += static_cast<int64_t>(n);
    }
    Store(std::move(batch));
  }
}

void EventBatcher::Store(std::vector<Pending> batch) {
  std::vector<Ingest::EventsInput> inputs;
  inputs.reserve(batch.size());
  for (Pending& p : batch) inputs.push_back(std::move(p.input));
  const int64_t start_ns = core::SteadyNanos();
  absl::StatusOr<std::vector<EventsStored>> stored =
      ingest_->AddEventGroups(std::move(inputs), /*log_sequence=*/0);
  if (options_.on_batch) {
    options_.on_batch(core::SteadyNanos() - start_ns, batch.size());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (stored.ok()) {
      std::move(batch[i].done)(std::move((*stored)[i]));
    } else {
      std::move(batch[i].done)(stored.status());
    }
  }
}

}  // namespace aisle::server
