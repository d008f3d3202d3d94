// RecommenderService's Recommend (service.h): the raw callback handler,
// the reactor that waits in the CallQueue (call_queue.h), and the handler
// body that asks the engine.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "core/clock.h"
#include "server/convert.h"
#include "server/raw_messages.h"
#include "server/recommendation_id.h"
#include "server/service.h"
#include "server/validation.h"

namespace aisle::server {

// One Recommend call from its admission to its answer: a UnaryCall that
// gRPC deletes when done, and a CallQueue::Call.
class RecommenderService::RecommendReactor final : private CallArena,
                                                   public UnaryCall,
                                                   public CallQueue::Call {
 public:
  RecommendReactor(RecommenderService* service, Context* ctx,
                   grpc::ByteBuffer* wire_response)
      : UnaryCall(wire_response),
        request(Make<v1::RecommendRequest>()),
        service_(service),
        ctx_(ctx),
        reply_(Make<v1::RecommendResponse>()) {}

  v1::RecommendRequest& request;
  int64_t start_ns = 0;
  AdmissionLimiter::Permit permit;

  absl::Time deadline() const override { return DeadlineOf(*ctx_); }
  bool cancelled() const override { return ctx_->IsCancelled(); }
  void Work() override {
    if (service_->units_.recommend_work_hook) {
      service_->units_.recommend_work_hook();
    }
    Context* ctx = ctx_;
    Answer(service_->DoRecommend(*ctx_, request, &reply_,
                                 [ctx] { return ctx->IsCancelled(); }));
  }
  void Refuse(const absl::Status& status, ShedReason reason) override {
    service_->metrics().Shed(Method::kRecommend, reason);
    Answer(status);
  }
  // Releases the admission slot first, so a client that sees the answer
  // sees the slot free.
  void Answer(const absl::Status& status) {
    permit = AdmissionLimiter::Permit();
    Finish(service_->FinishCall(Method::kRecommend, start_ns, status,
                                request.user_id()));
  }

 private:
  const google::protobuf::MessageLite& response() const override {
    return reply_;
  }

  RecommenderService* const service_;
  Context* const ctx_;
  v1::RecommendResponse& reply_;
};

RecommenderService::Reactor* RecommenderService::Recommend(Context* ctx,
                                                           const Bytes* request,
                                                           Bytes* response) {
  auto* call = new RecommendReactor(this, ctx, response);
  if (absl::Status parsed = ParseMessage(request, &call->request);
      !parsed.ok()) {
    call->Finish(Unparsable(Method::kRecommend, parsed));
    return call;
  }
  call->start_ns = core::SteadyNanos();
  units_.metrics->RpcStarted(Method::kRecommend);
  if (absl::Status admitted =
          AdmitCall(*ctx, Method::kRecommend, &call->permit);
      !admitted.ok()) {
    call->Answer(admitted);
    return call;
  }
  // A cluster read that must first wait for the log to reach its
  // min_log_position may block for up to cluster_read_wait: it waits on
  // the write pool's threads, never on gRPC's (which read every
  // connection) nor in a worker slot of the queue.
  if (units_.applier != nullptr && call->request.min_log_position() > 0 &&
      units_.applier->applied() < call->request.min_log_position()) {
    write_pool_->Post([call] { call->Work(); });
    return call;
  }
  recommend_queue_.Submit(call);
  return call;
}

absl::Status RecommenderService::DoRecommend(const grpc::ServerContextBase& ctx,
                                             const v1::RecommendRequest& proto,
                                             v1::RecommendResponse* response,
                                             std::function<bool()> cancelled) {
  core::RecommendRequest request = ToCoreRecommendRequest(proto);
  if (absl::Status s = ValidateRecommendRequest(request); !s.ok()) return s;
  if (!proto.has_exploration()) {
    request.exploration = units_.default_exploration;
  }
  Experiments::Assignment arm;
  if (units_.experiments != nullptr) {
    arm = units_.experiments->Assign(request.scenario, request.user_id);
    if (arm.variant != nullptr) Experiments::Apply(*arm.variant, &request);
  }
  const std::string_view variant = arm.name();
  request.deadline = DeadlineOf(ctx);
  request.cancelled = std::move(cancelled);
  bool stale = false;
  if (units_.applier != nullptr) {
    if (proto.min_log_position() > 0) {
      stale = !units_.applier->WaitApplied(
          proto.min_log_position(),
          std::min(absl::Now() + units_.cluster_read_wait, request.deadline));
    }
    stale = stale || !units_.applier->log_connected();
  }

  core::RecommendTrace trace;
  absl::StatusOr<core::Recommendation> rec =
      units_.engine->Recommend(request, &trace);
  if (absl::IsDeadlineExceeded(rec.status())) {
    units_.metrics->Shed(Method::kRecommend, ShedReason::kDeadline);
  } else if (absl::IsCancelled(rec.status())) {
    units_.metrics->Shed(Method::kRecommend, ShedReason::kCancelled);
  }
  if (!rec.ok()) return rec.status();
  if (units_.item_activity != nullptr) units_.item_activity->Recommended(*rec);
  ToProtoRecommendation(*rec, response);
  response->set_stale(stale);
  response->set_variant(std::string(variant));
  response->set_recommendation_id(
      units_.ids->Issue(request.scenario, variant, request.user_id,
                        absl::ToUnixMillis(absl::Now())));

  Metrics& metrics = *units_.metrics;
  if (trace.used_ann || trace.used_exact) {
    metrics.ObserveRetrieval(trace.used_ann, trace.retrieval_seconds);
  }
  for (size_t s = 0; s < trace.candidates_by_source.size(); ++s) {
    metrics.CandidatesProduced(static_cast<core::Source>(s),
                               trace.candidates_by_source[s]);
  }
  metrics.Recommended(request.scenario, variant, rec->fallback,
                      static_cast<int64_t>(rec->items.size()));
  return absl::OkStatus();
}

}  // namespace aisle::server
