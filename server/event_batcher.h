// EventBatcher: single-node mode's Feedback writes, stored together. A
// call hands its events to Submit and returns; the batcher's one thread
// takes every call waiting at that moment and stores them with one
// Ingest::AddEventGroups (one store write, one engine update), then hands
// each call its own result, the same as if the calls had been written one
// by one in arrival order (accepted, duplicates, id conflicts). So a write
// is acknowledged only once it is durable, as before.
//
//   EventBatcher batcher(&ingest, {});
//   batcher.Submit(std::move(events), now_ms,
//                  [](absl::StatusOr<EventsStored> r) { ...reply... });
//
// Why: a Feedback of one event paid the whole write path (a WAL record and
// write, a store write group, the engine's lock and fold-in setup) for
// itself. Stored together, those are paid once per batch
// (scripts/ab_server.sh figures in README "Performance").
// Why batches form on a busy core: the thread runs under SCHED_BATCH
// (EventBatcherOptions::batch_policy), so a call's arrival wakes it
// without preempting the gRPC thread that is still reading calls; it runs
// when that thread waits, and then finds everything read meanwhile. When
// idle, a call is written at once (no timer, no waiting for company).
//
// A store error fails every call of its batch with that error (none of
// them is stored: the batch is one write).
//
// Thread safety: Submit may be called from any thread. `done` runs on the
// batcher's thread, once per call. The destructor stores what is queued,
// runs its callbacks, then joins.
#ifndef AISLE_SERVER_EVENT_BATCHER_H_
#define AISLE_SERVER_EVENT_BATCHER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/types.h"
#include "server/ingest.h"

namespace aisle::server {

struct EventBatcherOptions {
  // A batch takes waiting calls until it holds this many events; a call
  // is never split (a larger one is a batch alone).
  size_t max_batch_events = 1024;
  // Run the thread under SCHED_BATCH (see the file comment); false leaves
  // it under the process's policy (`--cpu-policy normal`).
  bool batch_policy = true;
  // Called on the batcher's thread after each batch is stored, before its
  // callbacks, with the time storing took and the number of calls in it
  // (the server exports the sizes: aisle_feedback_batch_calls).
  std::function<void(int64_t store_ns, size_t calls)> on_batch;
};

class EventBatcher {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<EventsStored>) &&>;

  // `ingest` is borrowed and must outlive the batcher.
  EventBatcher(Ingest* ingest, const EventBatcherOptions& options);
  ~EventBatcher();
  EventBatcher(const EventBatcher&) = delete;
  EventBatcher& operator=(const EventBatcher&) = delete;

  // Queues one call's events (REQUIRES: each passed ValidateEvent) with
  // the time its defaults are filled at (Ingest::AddEvents); `done` gets
  // the call's result.
  void Submit(std::vector<core::Event> events, int64_t now_ms, Done done);

  // Batches stored so far and the calls in them (for tests and metrics).
  struct Counts {
    int64_t batches = 0;
    int64_t calls = 0;
  };
  Counts counts() const;

 private:
  struct Pending {
    Ingest::EventsInput input;
    Done done;
  };
  void Run();
  // Stores `batch` and runs its callbacks (outside mu_).
  void Store(std::vector<Pending> batch);

  Ingest* const ingest_;
  const EventBatcherOptions options_;
  mutable absl::Mutex mu_;
  std::vector<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Counts counts_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts once the above exist
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_EVENT_BATCHER_H_
