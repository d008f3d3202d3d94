// WorkerPool: runs posted tasks on its own threads. SerialWorker: a pool
// of one thread, so tasks run one at a time, in order. The service uses a
// SerialWorker so that slow work (loading a model version) never runs on a
// gRPC thread, and in cluster mode a WorkerPool for the writes, which
// block for a log round trip (service.h).
//
// Tasks still queued when the pool is destroyed run before the destructor
// returns, so a task may rely on everything that outlives the pool.
//
// Thread safety: Post may be called from any thread.
#ifndef AISLE_SERVER_SERIAL_WORKER_H_
#define AISLE_SERVER_SERIAL_WORKER_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace aisle::server {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  ~WorkerPool();  // drains the queue, then joins the threads
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Post(absl::AnyInvocable<void() &&> task);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_;  // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  std::vector<std::thread> threads_;  // last: start once the above exist
};

class SerialWorker {
 public:
  SerialWorker() : pool_(1) {}
  void Post(absl::AnyInvocable<void() &&> task) { pool_.Post(std::move(task)); }

 private:
  WorkerPool pool_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_SERIAL_WORKER_H_
