// RecommenderService: the aisle.v1.Recommender gRPC service on the callback
// API, as a thin adapter. Every handler does the same few steps and
// nothing else:
//   1. answer UNAVAILABLE while not serving (starting, draining);
//   1b. shed what should not be worked on (Admit), before any engine or
//      storage work: CANCELLED when the client already cancelled,
//      DEADLINE_EXCEEDED when the call's deadline passed before it was
//      picked up, RESOURCE_EXHAUSTED when its method class is at its
//      admission limit (admission.h has the classes); each is counted in
//      aisle_rpc_shed_total. Health stays SERVING while shedding: overload
//      is not a failure;
//   2. validate the request (validation.h) and convert it (convert.h);
//   3. call the unit that does the work: the engine (Recommend, GetUser),
//      the store (GetItem, GetUser), Ingest for writes (ingest.h: durable
//      first, then the engine), ModelManager for model versions;
//   4. convert the answer, map the status at the edge (grpc_status.h),
//      record the RPC metrics and the access log.
//
// Deadlines: Recommend hands the call's deadline and cancellation to the
// engine, which checks them between its stages (core/engine.h). A write
// (Feedback, ImportEvents, UpsertItems, DeleteItems, ActivateModel,
// DeleteUser) checks them only before it starts: once the store write has
// begun it completes and the answer is OK even if late. So the server
// never answers an error for a write it made durable. A client whose own
// deadline fired meanwhile sees DEADLINE_EXCEEDED although the write
// happened; its retry carries the same event ids (or, without ids, the same
// content, from which the same id is derived: ingest.h) and is skipped as
// a duplicate, so retrying is harmless.
//
// Reads (Recommend, GetItem, GetUser) are not worked on on gRPC's thread:
// after Admit the handler posts the work to the service's read pool
// (work_queue.h) and returns. The permit moves with the task, so the
// admission in-flight count is queued + running and the latency the
// adaptive limit sees includes the wait. Queue full: RESOURCE_EXHAUSTED at
// once; a task that waited past its deadline or past the queue's delay
// target is refused unworked (DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED), all
// counted in aisle_rpc_shed_total.
//
// ActivateModel loads a model version, which can take seconds: it runs on
// the service's own loader thread (SerialWorker), never on a gRPC thread,
// and finishes the RPC from there.
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_SERVER_SERVICE_H_
#define AISLE_SERVER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "core/engine.h"
#include "server/admission.h"
#include "server/ingest.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/serial_worker.h"
#include "server/work_queue.h"
#include "storage/store.h"

namespace aisle::server {

class RecommenderService final : public v1::Recommender::CallbackService {
 public:
  // What the handlers call; borrowed, all must outlive the service.
  struct Units {
    core::Engine* engine = nullptr;
    const storage::Store* store = nullptr;  // reads only; writes via ingest
    Ingest* ingest = nullptr;
    ModelManager* models = nullptr;
    Metrics* metrics = nullptr;
    AccessLog* access_log = nullptr;
    Admission* admission = nullptr;
    // What call deadlines are compared with. Null: absl::Now. Tests set a
    // clock ahead of the client's to exercise the expired-deadline path.
    std::function<absl::Time()> clock;
    // Whether reads run on the service's own pool (ServerConfig::read_pool)
    // or inline on gRPC's threads.
    bool read_pool = false;
    // The reads' worker pool (not borrowed: the service owns the pool);
    // its clock is replaced by `clock`. Unused without read_pool.
    WorkQueueOptions read_queue;
  };
  explicit RecommenderService(const Units& units);
  // Waits for queued ActivateModel calls to finish.
  ~RecommenderService() override = default;

  // While false every RPC answers UNAVAILABLE. Starts false.
  void SetServing(bool serving);
  bool serving() const { return serving_.load(); }

  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* ctx,
                                      const v1::RecommendRequest* request,
                                      v1::RecommendResponse* response) override;
  grpc::ServerUnaryReactor* Feedback(grpc::CallbackServerContext* ctx,
                                     const v1::FeedbackRequest* request,
                                     v1::FeedbackResponse* response) override;
  grpc::ServerReadReactor<v1::FeedbackRequest>* ImportEvents(
      grpc::CallbackServerContext* ctx,
      v1::ImportEventsResponse* response) override;
  grpc::ServerUnaryReactor* UpsertItems(
      grpc::CallbackServerContext* ctx, const v1::UpsertItemsRequest* request,
      v1::UpsertItemsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteItems(
      grpc::CallbackServerContext* ctx, const v1::DeleteItemsRequest* request,
      v1::DeleteItemsResponse* response) override;
  grpc::ServerUnaryReactor* GetItem(grpc::CallbackServerContext* ctx,
                                    const v1::GetItemRequest* request,
                                    v1::Item* response) override;
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* ctx,
                                    const v1::GetUserRequest* request,
                                    v1::UserProfile* response) override;
  grpc::ServerUnaryReactor* DeleteUser(
      grpc::CallbackServerContext* ctx, const v1::DeleteUserRequest* request,
      v1::DeleteUserResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* ctx,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* ctx, const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* ActivateModel(
      grpc::CallbackServerContext* ctx, const v1::ActivateModelRequest* request,
      v1::ModelInfo* response) override;

 private:
  class ImportReactor;

  // Converts and validates events[index] of a Feedback or ImportEvents
  // message.
  static absl::StatusOr<core::Event> ToValidEvent(const v1::Event& proto,
                                                  int index, int64_t now_ms);

  absl::Status DoRecommend(grpc::CallbackServerContext& ctx,
                           const v1::RecommendRequest& request,
                           v1::RecommendResponse* response);
  absl::Status DoFeedback(const v1::FeedbackRequest& request,
                          v1::FeedbackResponse* response);
  absl::Status DoUpsertItems(const v1::UpsertItemsRequest& request,
                             v1::UpsertItemsResponse* response);
  absl::Status DoDeleteItems(const v1::DeleteItemsRequest& request,
                             v1::DeleteItemsResponse* response);
  absl::Status DoGetItem(const v1::GetItemRequest& request, v1::Item* response);
  absl::Status DoGetUser(const v1::GetUserRequest& request,
                         v1::UserProfile* response);
  absl::Status DoDeleteUser(const v1::DeleteUserRequest& request,
                            v1::DeleteUserResponse* response);
  // Fills the serving model's metadata (unless already set) and the
  // engine's counts.
  void FillModelInfo(v1::ModelInfo* response);
  absl::Status DoListModels(v1::ListModelsResponse* response);

  // Runs `body` unless the server is not serving or Admit sheds the call,
  // then finishes the RPC.
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx,
                                  Method method, std::string_view user_id,
                                  absl::FunctionRef<absl::Status()> body);
  // Like Unary, but `body` runs on the read pool; the call is finished
  // from there (or at once when the pool's queue is full).
  grpc::ServerUnaryReactor* QueuedRead(
      grpc::CallbackServerContext* ctx, Method method, std::string_view user_id,
      absl::AnyInvocable<absl::Status() &&> body);
  // Maps the status at the edge, records metrics and the access log, and
  // returns the gRPC status to finish the call with.
  grpc::Status Finished(Method method, int64_t start_ns,
                        const absl::Status& status, std::string_view user_id);
  // UNAVAILABLE while not serving, OK otherwise.
  absl::Status CheckServing() const;
  // CheckServing, then step 1b of the file comment: OK with an admitted
  // *permit (to hold until the work is done), or the error to answer with
  // (counted in aisle_rpc_shed_total).
  absl::Status Admit(grpc::CallbackServerContext& ctx, Method method,
                     AdmissionLimiter::Permit* permit);

  const Units units_;
  std::atomic<bool> serving_{false};
  // Declared last: destroyed first, so queued activations and reads finish
  // (or are refused) while the rest of the service is alive.
  SerialWorker loader_;
  WorkQueue reads_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_SERVICE_H_
