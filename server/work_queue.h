// WorkQueue: a small pool of worker threads fed by a bounded FIFO, so that
// the wait of a request that cannot be worked on yet happens where the
// server can see it, bound it and shed it. Without it the reads ran on
// gRPC's callback threads and the queue that grew under overload sat before
// the handler, inside gRPC, where no limit applied.
//
// A gRPC handler admits the call (service.h), then TryPost()s a Task and
// returns at once; a worker later either runs it or refuses it. Every task
// posted is answered exactly once: `run` or `refuse`, never both.
//
// Before running a task a worker checks, in this order:
//   1. its deadline (the call's): passed -> refuse(DEADLINE_EXCEEDED);
//   2. `cancelled` (the client's): true -> refuse(CANCELLED);
//   3. its sojourn, the time it waited in the queue: longer than
//      max_queue_delay -> refuse(RESOURCE_EXHAUSTED, "server overloaded:
//      waited N ms in queue; retry with backoff"). This is CoDel's idea
//      reduced to its core: under a spike the stale head of the queue is
//      shed, so the tasks behind it, whose callers still wait, are served
//      in time instead of every caller getting a late answer.
// None of these do the task's work.
//
// Example:
//   WorkQueue reads(options);
//   WorkQueue::Task task;
//   task.deadline = ...;
//   task.run = [...] { ... work ...; answer OK or the work's error; };
//   task.refuse = [...](absl::Status s) { answer s; };
//   if (!reads.TryPost(std::move(task))) answer RESOURCE_EXHAUSTED;
//
// Shutdown (called by the destructor, or earlier): TryPost refuses from
// then on; the workers stop after the task each is running; every task
// still queued is refused with UNAVAILABLE, in FIFO order, on the calling
// thread; then the workers are joined. (The server drains gRPC before
// destroying the service, so in practice the queue is empty by then; the
// rule makes the rare case deterministic.)
//
// Thread safety: TryPost, queued() and Shutdown may be called from any
// thread.
// TryPost is O(1) under one short lock and never blocks on a task. `run`
// and `refuse` are called on a worker thread (or the one calling
// Shutdown) without the lock held.
#ifndef AISLE_SERVER_WORK_QUEUE_H_
#define AISLE_SERVER_WORK_QUEUE_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aisle::server {

struct WorkQueueOptions {
  // Worker threads. 0 = the cores this process may run on (its CPU
  // affinity, so a server pinned to one core gets one worker). Default: 0.
  int workers = 0;
  // Tasks waiting (not yet running); past it TryPost returns false.
  // Default: 64.
  int max_queued = 64;
  // Longest wait in the queue before a task is refused (rule 3 above).
  // Default: 20 ms.
  absl::Duration max_queue_delay = absl::Milliseconds(20);
  // What arrival times, sojourns and deadlines are measured with. Null:
  // absl::Now. Tests inject a clock to drive rules 1 and 3 without sleeping.
  std::function<absl::Time()> clock;
};

class WorkQueue {
 public:
  struct Task {
    // When the caller stops waiting; InfiniteFuture = no deadline.
    absl::Time deadline = absl::InfiniteFuture();
    // Optional: true once the caller cancelled.
    std::function<bool()> cancelled;
    // The work; it answers the caller itself. Required.
    absl::AnyInvocable<void() &&> run;
    // Answers the caller with the given error instead of doing the work
    // (see the rules above). Required.
    absl::AnyInvocable<void(absl::Status) &&> refuse;
  };

  // Starts the workers.
  explicit WorkQueue(const WorkQueueOptions& options);
  // Shutdown().
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `task`, stamped with its arrival time, and returns true; returns
  // false (and drops `task` unrun and unrefused: the caller answers) when
  // max_queued tasks are already waiting or the queue is shutting down.
  bool TryPost(Task task);

  // See the file comment. Returns once the workers are joined and every
  // queued task refused. Idempotent; not to be called from a task.
  void Shutdown();

  // Tasks waiting, not counting those being run.
  int queued() const;
  int workers() const { return static_cast<int>(threads_.size()); }

 private:
  struct Queued {
    Task task;
    absl::Time arrival;
  };
  absl::Time Now() const;
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Work();

  const WorkQueueOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;               // serializes Shutdown
  std::vector<std::thread> threads_;  // last: started once the rest exists
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_WORK_QUEUE_H_
