// ReadLoop: serves Recommend on gRPC's asynchronous (completion-queue) API
// from Aisle's own threads, so that the calls waiting to be worked on wait
// in a queue the server can see, bound and shed, at no hand-off cost.
//
// Why not the callback API (every other RPC): its handlers run on gRPC's
// threads; a spike's calls queue inside gRPC, and in the socket buffers,
// before any handler runs, where no bound applies and nothing is shed: at
// twice the capacity 97% of the answers came too late. Handing the work to
// a pool of Aisle threads made the queue visible but cost a third of the
// capacity on one core (about ten context switches per call: every Finish
// from the pool woke a gRPC thread). Here the thread that harvests the
// completion queue is the one that works: under load it takes every call
// that has arrived off its queue without blocking, works on one, finishes
// it itself, and harvests again, so there is no hand-off at all.
//
// Each loop thread owns one ServerCompletionQueue (added to the builder
// before the server starts) and keeps `requests_posted` calls requested on
// it, so gRPC hands every arriving call over at once instead of holding it.
// On arrival a call is admitted (RecommenderService::AdmitCall: serving,
// cancelled, deadline passed, admission limit), else answered at once; then
// queued. Before working on the head of the queue the thread refuses it,
// unworked, when
//   1. its deadline passed          -> DEADLINE_EXCEEDED,
//   2. the client cancelled         -> CANCELLED,
//   3. it waited longer than max_queue_delay (CoDel's idea at its core:
//      under a spike the stale head is shed, so the calls behind it, whose
//      callers still wait, are answered in time) -> RESOURCE_EXHAUSTED;
// and a call arriving while max_queued wait is refused RESOURCE_EXHAUSTED.
// Each refusal is counted in aisle_rpc_shed_total.
//
// Lifecycle: construct with the service and AddTo(builder) before
// BuildAndStart; Start() after it; Shutdown() after the server's own
// Shutdown() returned (gRPC requires the completion queues to be shut down
// after the server): the threads finish what is queued (those calls were
// cancelled by the server's shutdown, so they are refused unworked), shut
// down their queues, drain them and are joined. The destructor calls
// Shutdown().
//
// Thread safety: AddTo, Start and Shutdown are called from one thread (the
// server's); the loop threads share nothing but the service, which is
// thread safe.
#ifndef AISLE_SERVER_READ_LOOP_H_
#define AISLE_SERVER_READ_LOOP_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/alarm.h"
#include "grpcpp/server_builder.h"

namespace aisle::server {

class RecommenderService;

struct ReadLoopOptions {
  // Loop threads, each with its own completion queue. 0 = twice the cores
  // this process may run on (its CPU affinity): gRPC's own I/O threads
  // share the cores, and the kernel shares a core by thread, so with one
  // loop thread per core the work got too small a share under a spike
  // (measured on one core, 2x M answered in time: 62% of M with 1 thread,
  // 120% with 2; 3 was no better; README "Overload"). Default: 0.
  int threads = 0;
  // Calls waiting per thread (not yet worked on); past it an arriving call
  // is refused. Default: 64.
  int max_queued = 64;
  // Longest wait in the queue before a call is refused (rule 3). Default:
  // 20 ms.
  absl::Duration max_queue_delay = absl::Milliseconds(20);
  // Calls kept requested from gRPC per thread. Default: 256.
  int requests_posted = 256;
  // What arrivals and sojourns are measured with; null: absl::Now.
  std::function<absl::Time()> clock;
};

class ReadLoop {
 public:
  // `service` is borrowed and must outlive the loop.
  ReadLoop(RecommenderService* service, const ReadLoopOptions& options);
  ~ReadLoop();  // Shutdown()
  ReadLoop(const ReadLoop&) = delete;
  ReadLoop& operator=(const ReadLoop&) = delete;

  // Adds one completion queue per thread to `builder`. Once, before
  // BuildAndStart.
  void AddTo(grpc::ServerBuilder* builder);
  // Requests calls on every queue and starts the threads. Once, after
  // BuildAndStart succeeded.
  void Start();
  // See the file comment. Idempotent. Without Start it only shuts the
  // completion queues down.
  void Shutdown();

  int threads() const { return static_cast<int>(shards_.size()); }

 private:
  struct Call;
  struct Tag;
  struct Shard;

  void Run(Shard* shard);
  void Post(Shard* shard);
  void Handle(Shard* shard, void* tag, bool ok);
  void OnArrival(Shard* shard, Call* call);
  void WorkOnNext(Shard* shard);
  void Answer(Call* call, const absl::Status& status);
  absl::Time Now() const;

  RecommenderService* const service_;
  const ReadLoopOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_READ_LOOP_H_
