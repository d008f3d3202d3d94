#include "server/work_queue.h"

#include <sched.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace aisle::server {
namespace {

// The cores this process may run on: a server pinned with taskset gets as
// many workers as cores it can use, not as many as the machine has.
int UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

WorkQueue::WorkQueue(const WorkQueueOptions& options) : options_(options) {
  const int n = options.workers > 0 ? options.workers : UsableCores();
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
}

WorkQueue::~WorkQueue() { Shutdown(); }

void WorkQueue::Shutdown() {
  absl::MutexLock join_lock(&join_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  // Workers only return when stopping_, and TryPost refuses once it is set:
  // nothing is added to `left` after this swap.
  std::deque<Queued> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  for (Queued& q : left) {
    std::move(q.task.refuse)(absl::UnavailableError(
        "the server is shutting down; the call was not worked on; retry"));
  }
}

absl::Time WorkQueue::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

bool WorkQueue::TryPost(Task task) {
  const absl::Time arrival = Now();
  absl::MutexLock lock(&mu_);
  if (stopping_ || static_cast<int>(queue_.size()) >= options_.max_queued) {
    return false;
  }
  queue_.push_back(Queued{std::move(task), arrival});
  return true;
}

bool WorkQueue::HasWorkOrStopping() const {
  return stopping_ || !queue_.empty();
}

int WorkQueue::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

void WorkQueue::Work() {
  while (true) {
    Queued q;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WorkQueue::HasWorkOrStopping));
      if (stopping_) return;
      q = std::move(queue_.front());
      queue_.pop_front();
    }
    const absl::Time now = Now();
    Task& task = q.task;
    if (now >= task.deadline) {
      std::move(task.refuse)(absl::DeadlineExceededError(
          "the call's deadline passed while it waited for a worker (server "
          "overloaded or deadline too short); nothing was done"));
    } else if (task.cancelled && task.cancelled()) {
      std::move(task.refuse)(
          absl::CancelledError("the client cancelled the call"));
    } else if (const absl::Duration waited = now - q.arrival;
               waited > options_.max_queue_delay) {
      std::move(task.refuse)(absl::ResourceExhaustedError(absl::StrCat(
          "server overloaded: waited ", absl::ToInt64Milliseconds(waited),
          " ms in queue; retry with backoff")));
    } else {
      std::move(task.run)();
    }
  }
}

}  // namespace aisle::server
