// CallQueue: where Recommend calls wait to be worked on, in a queue the
// server can see, bound and shed, worked mostly by the gRPC threads that
// run the handlers, so that a call costs no hand-off between threads.
//
// Why a queue at all: gRPC's callback handlers run on its few threads
// (half the cores, at least two, at most 16). A handler that works on its
// call at once leaves a spike's calls waiting inside gRPC, before any
// handler, where no bound applies and nothing is shed: at twice the
// capacity 97% of the answers came too late. Why not only a pool of Aisle
// threads: every call then moves between threads twice (measured: a read
// loop on gRPC's asynchronous API cost 23% more server CPU per FOR_YOU
// call than working in the handler, scripts/ab_server.sh).
//
// How: Submit() is called from the handler. While fewer than
// `inline_workers` handlers (and fewer than `workers` threads in all) are
// working, the caller works on its own call at once, then on whatever
// queued meanwhile, oldest first, until the queue is empty. Otherwise the
// handler only queues the call (or refuses it when `max_queued` already
// wait) and returns, so at least one gRPC thread keeps reading new calls
// off the connections and the queue sees every waiting call. The cores
// that gRPC's threads cannot cover are worked by `workers -
// inline_workers` helper threads of the queue, which take queued calls
// while fewer than `workers` work. Before working on a queued call, a
// worker refuses it unworked when
//   1. its deadline passed          -> DEADLINE_EXCEEDED,
//   2. the client cancelled         -> CANCELLED,
//   3. it waited longer than max_queue_delay (CoDel's idea at its core:
//      under a spike the stale head is shed, so the calls behind it, whose
//      callers still wait, are answered in time) -> RESOURCE_EXHAUSTED.
// The queue is never left non-empty without a worker: a call is queued only
// while some worker works, and a worker leaves only when it finds the
// queue empty, under the lock that Submit queues under.
//
// Relaxed readers (CallQueueOptions::relax_readers): the free gRPC thread
// is woken for every arriving call and for every completion the working
// one posts (gRPC 1.51 delivers callback completions through its threads'
// shared queue), and under SCHED_OTHER the woken thread preempts the
// worker: on one core, a FOR_YOU call was cut about once, 2.4 context
// switches and a third more CPU per call. Under SCHED_BATCH a woken
// thread waits for the worker's time slice or its next pause instead, so
// an arriving call may wait unread for up to a slice (milliseconds):
// harmless while the queue keeps up, but past capacity the queue should
// see and shed calls as they arrive. So the submitting threads run under
// SCHED_BATCH until a call is shed for load (queue full, waited too long,
// deadline passed in the queue), then under SCHED_OTHER until relax_after
// passes with none shed. (Measured on one core with scripts/overload.sh,
// this and SCHED_BATCH throughout answered as many calls in time past
// capacity: README "Overload".) Enrolled threads are remembered by
// thread id for the queue's life; gRPC's handler threads are few and
// live as long as the server.
//
// Thread safety: Submit may be called concurrently from any thread. The
// destructor waits for the helpers, which finish what is queued first; all
// submitted calls must have been answered or be queued by then.
#ifndef AISLE_SERVER_CALL_QUEUE_H_
#define AISLE_SERVER_CALL_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics.h"

namespace aisle::server {

struct CallQueueOptions {
  // Calls worked on at once. 0 = the cores this process may use
  // (UsableCores in cpu_policy.h: its affinity and its cgroup's CPU
  // limit). Default: 0.
  int workers = 0;
  // Of those, at most this many on the gRPC threads that submitted them.
  // 0 = one less than gRPC's callback threads (at least 1), so that one of
  // them is always free to read arriving calls. Default: 0.
  int inline_workers = 0;
  // Calls waiting, not yet worked on; past it a submitted call is refused.
  // Default: 64 (at ~5k Recommend/s per core, 13 ms of work).
  int max_queued = 64;
  // Longest wait before a queued call is refused (rule 3). Default: 20 ms.
  absl::Duration max_queue_delay = absl::Milliseconds(20);
  // While the queue keeps up, the gRPC threads that submit calls run under
  // SCHED_BATCH, so a thread woken by an arriving call or a completion
  // does not preempt the one working (see "Relaxed readers" below); from
  // the first call shed for load until `relax_after` passes without one,
  // they run under SCHED_OTHER and read arriving calls at once. Default:
  // false (the threads' policy is left alone).
  bool relax_readers = false;
  // Default: 1 s.
  absl::Duration relax_after = absl::Seconds(1);
  // What arrivals and waits are measured with; null: absl::Now.
  std::function<absl::Time()> clock;
};

class CallQueue {
 public:
  // One call as the queue sees it; the caller owns it, and it must stay
  // valid until Work or Refuse was called on it (each answers the call).
  class Call {
   public:
    virtual ~Call() = default;
    virtual absl::Time deadline() const = 0;
    virtual bool cancelled() const = 0;
    // Works on the call and answers it.
    virtual void Work() = 0;
    // Answers the call unworked with `status` (counted by the caller as
    // shed for `reason`).
    virtual void Refuse(const absl::Status& status, ShedReason reason) = 0;
  };

  // Starts the helper threads.
  explicit CallQueue(const CallQueueOptions& options);
  ~CallQueue();
  CallQueue(const CallQueue&) = delete;
  CallQueue& operator=(const CallQueue&) = delete;

  // relax_readers: puts the calling thread under the queue's policy from
  // now on, as Submit does (a no-op for a thread already enrolled, or
  // without relax_readers). For the gRPC threads that run other methods
  // between Recommend calls, so that a workload without Recommend is
  // relaxed as well.
  void Enrol();

  // Works on `call` (and then on queued calls) on this thread, or queues
  // it, or refuses it at once when max_queued calls wait. Every call is
  // eventually worked on or refused exactly once. A call worked on at once
  // is not checked against the rules (the caller admitted it just now);
  // a queued one is, when its turn comes.
  void Submit(Call* call);

  int workers() const { return workers_; }
  int inline_workers() const { return inline_workers_; }
  // Whether the submitting threads are under SCHED_BATCH now (always false
  // without relax_readers).
  bool relaxed() const;
  // Calls waiting now (for tests and metrics).
  size_t queued() const;

 private:
  struct Waiting {
    Call* call;
    absl::Time arrival;
  };

  absl::Time Now() const;
  // Enrol for a thread not enrolled yet.
  void EnrolNew();
  // A call was shed for load: with relax_readers, the readers wake at
  // once (nothing without it).
  void Strained();
  // relax_readers: the queue is empty; relaxes the readers again once
  // relax_after passed since the last call shed.
  void MaybeRelax() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts every enrolled thread under SCHED_BATCH or SCHED_OTHER.
  void SetReaders(bool relaxed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rules 1-3 for a call about to be worked on, then Work or Refuse.
  void WorkOrRefuse(Call* call, absl::Duration waited);
  // Works on queued calls until the queue is empty; returns with mu_ held.
  void Drain() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Help();  // a helper thread

  const CallQueueOptions options_;
  const int workers_;
  const int inline_workers_;
  mutable absl::Mutex mu_;
  std::deque<Waiting> queue_ ABSL_GUARDED_BY(mu_);
  int working_ ABSL_GUARDED_BY(mu_) = 0;         // all workers
  int working_inline_ ABSL_GUARDED_BY(mu_) = 0;  // on submitting threads
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  const uint64_t id_;  // tells this queue's enrolled threads from others'
  std::vector<int> readers_ ABSL_GUARDED_BY(mu_);  // enrolled thread ids
  bool relaxed_ ABSL_GUARDED_BY(mu_);
  absl::Time last_shed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::CondVar work_cv_;             // a call was queued, or stopping_ was set
  std::vector<std::thread> helpers_;  // last: start once the above exist
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_CALL_QUEUE_H_
