// SerialWorker: runs posted tasks one at a time, in order, on its own
// thread. The service uses it so that slow work (loading a model version)
// never runs on a gRPC thread.
//
// Tasks still queued when the worker is destroyed run before the
// destructor returns, so a task may rely on everything that outlives the
// worker.
//
// Thread safety: Post may be called from any thread.
#ifndef AISLE_SERVER_SERIAL_WORKER_H_
#define AISLE_SERVER_SERIAL_WORKER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace aisle::server {

class SerialWorker {
 public:
  SerialWorker();
  ~SerialWorker();  // drains the queue, then joins the thread
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  void Post(std::function<void()> task);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_SERIAL_WORKER_H_
