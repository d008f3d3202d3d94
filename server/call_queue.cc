#include "server/call_queue.h"

#include <grpc/support/cpu.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cpu_policy.h"

namespace aisle::server {
namespace {

// The threads gRPC 1.51 runs callback handlers on (its "nexting" threads
// of the callback completion queue): half the cores it counts, 2 to 16.
int GrpcCallbackThreads() {
  return std::clamp(static_cast<int>(gpr_cpu_num_cores()) / 2, 2, 16);
}

std::atomic<uint64_t> next_queue_id{1};
// The queue this thread is enrolled in (0: none).
thread_local uint64_t t_enrolled_in = 0;

void SetPolicy(int tid, bool batch) {
  sched_param param{};
  // Best effort: a thread that exited (ESRCH) or a sandbox that forbids it
  // (EPERM) leaves that thread as it is, which is only slower.
  sched_setscheduler(tid, batch ? SCHED_BATCH : SCHED_OTHER, &param);
}

}  // namespace

CallQueue::CallQueue(const CallQueueOptions& options)
    : options_(options),
      workers_(options.workers > 0 ? options.workers : UsableCores()),
      inline_workers_(
          std::min(workers_, options.inline_workers > 0
                                 ? options.inline_workers
                                 : std::max(1, GrpcCallbackThreads() - 1))),
      id_(next_queue_id.fetch_add(1)),
      relaxed_(options.relax_readers) {
  for (int i = inline_workers_; i < workers_; ++i) {
    helpers_.emplace_back([this] { Help(); });
  }
}

CallQueue::~CallQueue() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    work_cv_.SignalAll();
  }
  for (std::thread& helper : helpers_) helper.join();
}

absl::Time CallQueue::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

size_t CallQueue::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool CallQueue::relaxed() const {
  absl::MutexLock lock(&mu_);
  return relaxed_;
}

void CallQueue::Enrol() {
  if (options_.relax_readers && t_enrolled_in != id_) EnrolNew();
}

void CallQueue::EnrolNew() {
  t_enrolled_in = id_;
  const int tid = static_cast<int>(gettid());
  absl::MutexLock lock(&mu_);
  // A thread enrolled before may come back with an id the kernel reused.
  if (std::find(readers_.begin(), readers_.end(), tid) == readers_.end()) {
    readers_.push_back(tid);
  }
  SetPolicy(tid, relaxed_);
}

void CallQueue::Strained() {
  if (!options_.relax_readers) return;
  absl::MutexLock lock(&mu_);
  last_shed_ = Now();
  if (relaxed_) SetReaders(false);
}

void CallQueue::MaybeRelax() {
  if (!relaxed_ && options_.relax_readers &&
      Now() - last_shed_ > options_.relax_after) {
    SetReaders(true);
  }
}

void CallQueue::SetReaders(bool relaxed) {
  relaxed_ = relaxed;
  for (int tid : readers_) SetPolicy(tid, relaxed);
}

void CallQueue::Submit(Call* call) {
  Enrol();
  bool full = false;  // too many wait to queue this one
  size_t waiting = 0;
  {
    absl::MutexLock lock(&mu_);
    if (working_ < workers_ && working_inline_ < inline_workers_ &&
        queue_.empty()) {
      ++working_;
      ++working_inline_;
    } else if (static_cast<int>(queue_.size()) < options_.max_queued) {
      // Some worker works (else this call would have been worked on): it,
      // or a helper woken by the queue's condition, takes the call.
      queue_.push_back({call, Now()});
      work_cv_.Signal();  // an idle helper, if any, may take it
      return;
    } else {
      full = true;
      waiting = queue_.size();
    }
  }
  if (full) {
    Strained();
    call->Refuse(absl::ResourceExhaustedError(absl::StrCat(
                     "server overloaded: ", waiting,
                     " Recommend calls already wait; retry with backoff")),
                 ShedReason::kLimit);
    return;
  }
  // Not queued: the admission that came just before this checked its
  // deadline and cancellation, so the rules are not read again here.
  call->Work();
  absl::MutexLock lock(&mu_);
  Drain();
  --working_inline_;
  --working_;
  MaybeRelax();
}

void CallQueue::Drain() {
  while (!queue_.empty()) {
    const Waiting next = queue_.front();
    queue_.pop_front();
    mu_.Unlock();
    WorkOrRefuse(next.call, Now() - next.arrival);
    mu_.Lock();
  }
}

void CallQueue::Help() {
  absl::MutexLock lock(&mu_);
  while (true) {
    // A condition variable, not Await: Await's condition is evaluated by
    // whichever thread unlocks, reading this thread's stack.
    while (!((!queue_.empty() && working_ < workers_) ||
             (stopping_ && queue_.empty()))) {
      work_cv_.Wait(&mu_);
    }
    if (queue_.empty()) return;  // stopping, and nothing left
    ++working_;
    Drain();
    --working_;
    MaybeRelax();
  }
}

void CallQueue::WorkOrRefuse(Call* call, absl::Duration waited) {
  const bool late = Now() >= call->deadline();
  const bool stale = waited > options_.max_queue_delay;
  if (late || stale) Strained();
  if (late) {
    call->Refuse(absl::DeadlineExceededError(
                     "the call's deadline passed while it waited to be "
                     "worked on (server overloaded or deadline too short); "
                     "nothing was done"),
                 ShedReason::kDeadline);
  } else if (call->cancelled()) {
    call->Refuse(absl::CancelledError("the client cancelled the call"),
                 ShedReason::kCancelled);
  } else if (stale) {
    call->Refuse(
        absl::ResourceExhaustedError(absl::StrCat(
            "server overloaded: waited ", absl::ToInt64Milliseconds(waited),
            " ms in queue; retry with backoff")),
        ShedReason::kLimit);
  } else {
    call->Work();
  }
}

}  // namespace aisle::server
