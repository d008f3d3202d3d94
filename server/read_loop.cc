#include "server/read_loop.h"

#include <sched.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "core/clock.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/service.h"

namespace aisle::server {
namespace {

// The cores this process may run on: a server pinned with taskset gets as
// many loop threads as cores it can use, not as many as the machine has.
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

// What a completion-queue tag points at: the call (null for the shard's
// wake-up alarm) and which of its operations completed.
struct ReadLoop::Tag {
  enum Kind { kRequested, kFinished, kDone, kWake };
  Call* call;
  Kind kind;
};

// One Recommend call from request to the last of its tags. Once gRPC has
// matched it (kRequested ok), two more tags come back, kFinished (after
// Finish) and kDone (AsyncNotifyWhenDone: the call ended, finished or
// cancelled), in either order; the call is deleted after both. A request
// that never matched (kRequested not ok: shutdown) gets neither (gRPC does
// not deliver the done tag of a call that never started).
struct ReadLoop::Call {
  grpc::ServerContext ctx;
  grpc::ByteBuffer request_bytes;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder{&ctx};
  v1::RecommendRequest request;
  v1::RecommendResponse response;
  Tag requested{this, Tag::kRequested};
  Tag finished{this, Tag::kFinished};
  Tag done{this, Tag::kDone};
  int pending_tags = 2;  // kFinished and kDone, once matched
  bool ended = false;    // kDone seen: finished or cancelled by the client
  int64_t start_ns = 0;
  absl::Time arrival;
  AdmissionLimiter::Permit permit;
};

struct ReadLoop::Shard {
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  std::deque<Call*> queue;  // admitted, waiting to be worked on, FIFO
  grpc::Alarm wake;         // Shutdown's nudge to a blocked thread
  Tag wake_tag{nullptr, Tag::kWake};
  // The wake alarm fired. Only then may the thread shut its queue down:
  // Shutdown sets the alarm after stopping_, and an alarm set on a queue
  // already shut down is a gRPC assertion failure.
  bool woken = false;
  std::thread thread;
};

ReadLoop::ReadLoop(RecommenderService* service, const ReadLoopOptions& options)
    : service_(service), options_(options) {
  const int n = options.threads > 0 ? options.threads : 2 * UsableCores();
  for (int i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
}

ReadLoop::~ReadLoop() { Shutdown(); }

absl::Time ReadLoop::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

void ReadLoop::AddTo(grpc::ServerBuilder* builder) {
  for (auto& shard : shards_) shard->cq = builder->AddCompletionQueue();
}

void ReadLoop::Start() {
  started_ = true;
  for (auto& shard : shards_) {
    for (int i = 0; i < options_.requests_posted; ++i) Post(shard.get());
    Shard* s = shard.get();
    shard->thread = std::thread([this, s] { Run(s); });
  }
}

void ReadLoop::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (!started_) {  // nothing requested: the queues only need shutting down
    for (auto& shard : shards_) {
      if (shard->cq == nullptr) continue;
      shard->cq->Shutdown();
      void* tag = nullptr;
      bool ok = false;
      while (shard->cq->Next(&tag, &ok)) {
      }
    }
    return;
  }
  for (auto& shard : shards_) {
    // Wakes a thread blocked in Next so that it sees stopping_.
    shard->wake.Set(shard->cq.get(), gpr_now(GPR_CLOCK_MONOTONIC),
                    &shard->wake_tag);
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
}

void ReadLoop::Post(Shard* shard) {
  Call* call = new Call;
  call->ctx.AsyncNotifyWhenDone(&call->done);
  service_->RequestRecommend(&call->ctx, &call->request_bytes, &call->responder,
                             shard->cq.get(), shard->cq.get(),
                             &call->requested);
}

void ReadLoop::Run(Shard* shard) {
  bool queue_shut = false;
  while (true) {
    void* tag = nullptr;
    bool ok = false;
    if (shard->queue.empty()) {
      if (stopping_.load() && shard->woken && !queue_shut) {
        // Nothing queued and nothing more will be: the server has shut
        // down, so no call arrives any more.
        shard->cq->Shutdown();
        queue_shut = true;
      }
      if (!shard->cq->Next(&tag, &ok)) return;  // shut down and drained
      Handle(shard, tag, ok);
    }
    // Take everything that has arrived meanwhile, without blocking, so the
    // queue's rules see every waiting call.
    while (shard->cq->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC)) ==
           grpc::CompletionQueue::GOT_EVENT) {
      Handle(shard, tag, ok);
    }
    if (!shard->queue.empty()) WorkOnNext(shard);
  }
}

void ReadLoop::Handle(Shard* shard, void* raw, bool ok) {
  Tag* tag = static_cast<Tag*>(raw);
  Call* call = tag->call;
  switch (tag->kind) {
    case Tag::kWake:
      shard->woken = true;
      return;
    case Tag::kRequested:
      if (!ok) {  // the server is shutting down; this call never started
        delete call;
        return;
      }
      if (!stopping_.load()) Post(shard);
      OnArrival(shard, call);
      return;
    case Tag::kDone:
      call->ended = true;
      break;
    case Tag::kFinished:
      break;
  }
  if (--call->pending_tags == 0) delete call;
}

void ReadLoop::OnArrival(Shard* shard, Call* call) {
  call->start_ns = core::SteadyNanos();
  service_->metrics().RpcStarted(Method::kRecommend);
  absl::Status status =
      service_->ParseCall(&call->request_bytes, &call->request);
  if (status.ok()) {
    status = service_->AdmitCall(call->ctx, Method::kRecommend, &call->permit);
  }
  if (status.ok() &&
      static_cast<int>(shard->queue.size()) >= options_.max_queued) {
    call->permit = AdmissionLimiter::Permit();
    service_->metrics().Shed(Method::kRecommend, ShedReason::kLimit);
    status = absl::ResourceExhaustedError(absl::StrCat(
        "server overloaded: ", shard->queue.size(),
        " Recommend calls already wait for this worker; retry with backoff"));
  }
  if (!status.ok()) {
    Answer(call, status);
    return;
  }
  call->arrival = Now();
  shard->queue.push_back(call);
}

void ReadLoop::WorkOnNext(Shard* shard) {
  Call* call = shard->queue.front();
  shard->queue.pop_front();
  const absl::Time now = Now();
  const absl::Duration waited = now - call->arrival;
  absl::Status status;
  if (now >= absl::FromChrono(call->ctx.deadline())) {
    service_->metrics().Shed(Method::kRecommend, ShedReason::kDeadline);
    status = absl::DeadlineExceededError(
        "the call's deadline passed while it waited to be worked on (server "
        "overloaded or deadline too short); nothing was done");
  } else if (call->ended || call->ctx.IsCancelled()) {
    service_->metrics().Shed(Method::kRecommend, ShedReason::kCancelled);
    status = absl::CancelledError("the client cancelled the call");
  } else if (waited > options_.max_queue_delay) {
    service_->metrics().Shed(Method::kRecommend, ShedReason::kLimit);
    status = absl::ResourceExhaustedError(absl::StrCat(
        "server overloaded: waited ", absl::ToInt64Milliseconds(waited),
        " ms in queue; retry with backoff"));
  } else {
    const bool* ended = &call->ended;
    status = service_->RecommendCall(call->ctx, call->request, &call->response,
                                     [ended] { return *ended; });
  }
  Answer(call, status);
}

void ReadLoop::Answer(Call* call, const absl::Status& status) {
  // Released before finishing, so a client that sees the answer sees the
  // slot free.
  call->permit = AdmissionLimiter::Permit();
  const grpc::Status result = service_->FinishCall(
      Method::kRecommend, call->start_ns, status, call->request.user_id());
  if (!result.ok()) {
    call->responder.FinishWithError(result, &call->finished);
    return;
  }
  grpc::ByteBuffer bytes;
  bool own_buffer = false;
  grpc::Status serialized =
      grpc::SerializationTraits<v1::RecommendResponse>::Serialize(
          call->response, &bytes, &own_buffer);
  if (!serialized.ok()) {
    call->responder.FinishWithError(serialized, &call->finished);
    return;
  }
  call->responder.Finish(bytes, result, &call->finished);
}

}  // namespace aisle::server
