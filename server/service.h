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
//   3. call the unit that does the work: the engine (Recommend, Rank,
//      GetUser), the experiment counters (GetExperimentReport),
//      the store (GetItem, GetUser), Writes for every write (writes.h:
//      Ingest in single-node mode, the replicated log in cluster mode),
//      ModelManager for listing model versions;
//   4. convert the answer, map the status at the edge (grpc_status.h),
//      record the RPC metrics and the access log.
//
// Deadlines: Recommend hands the call's deadline and cancellation to the
// engine, which checks them between its stages (core/engine.h). A write
// (Feedback, ImportEvents, UpsertItems, DeleteItems, UpsertUsers,
// ActivateModel, DeleteUser) checks them only before it starts: once the store
// write has begun it completes and the answer is OK even if late. So the server
// never answers an error for a write it made durable. A client whose own
// deadline fired meanwhile sees DEADLINE_EXCEEDED although the write
// happened; its retry carries the same event ids (or, without ids, the same
// content, from which the same id is derived: ingest.h) and is skipped as
// a duplicate, so retrying is harmless.
//
// Recommend is a callback handler too, but after step 1b it waits its turn
// in a CallQueue (call_queue.h), which works on it on the handler's own
// thread when a worker slot is free and otherwise keeps it, visible, to be
// shed when it waited too long. The other reads (GetItem, GetUser) are
// point lookups and run inline.
//
// Cluster mode: Recommend first waits (up to cluster_read_wait, within the
// call's deadline) for the request's min_log_position to be applied here,
// and marks the answer stale when it was not, or when the log cannot be
// reached (the node answers from what it has). A call that has to wait
// waits on the write pool's threads (below), not on gRPC's.
//
// ActivateModel loads a model version, which can take seconds: it runs on
// the service's own loader thread (SerialWorker), never on a gRPC thread,
// and finishes the RPC from there. In cluster mode the writes that go
// through the log (Feedback, UpsertItems, DeleteItems, UpsertUsers,
// DeleteUser) wait
// for a log round trip and this node's apply: they run on a pool of
// cluster_write_threads, so that gRPC's few callback threads (about one
// per core) are never blocked and concurrent writes share the log's round
// trips (appends in flight together, applied in one store batch).
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_SERVER_SERVICE_H_
#define AISLE_SERVER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "core/engine.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/admission.h"
#include "server/call_queue.h"
#include "server/experiment_stats.h"
#include "server/experiments.h"
#include "server/ingest.h"
#include "server/item_activity.h"
#include "server/log_applier.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/serial_worker.h"
#include "server/unary_call.h"
#include "server/writes.h"
#include "storage/store.h"

namespace aisle::server {

// The generated base: every method raw (bytes in and out), so that the
// server, not gRPC, parses requests: gRPC's typed handlers answer a request
// that does not parse with status 12 (Unimplemented) and no message; here it is
// INVALID_ARGUMENT naming the field (raw_messages.h), counted in
// aisle_rpc_unparsable_requests_total. Every method is a callback handler
// (service_raw.cc parses and dispatches to the typed handlers below;
// Recommend's is in service_recommend.cc); a new RPC is added here as
// WithRawCallbackMethod_<Name>.
namespace internal {
using R = v1::Recommender;
using ServiceBase = R::WithRawCallbackMethod_UpsertUsers<R::WithRawCallbackMethod_MergeUsers<
    R::WithRawCallbackMethod_ExportSegment<R::WithRawCallbackMethod_ListSegments<
        R::WithRawCallbackMethod_Rank<R::WithRawCallbackMethod_GetExperimentReport<
            R::WithRawCallbackMethod_Feedback<R::WithRawCallbackMethod_ImportEvents<
                R::WithRawCallbackMethod_UpsertItems<
                    R::WithRawCallbackMethod_DeleteItems<
                        R::WithRawCallbackMethod_GetItem<
                            R::WithRawCallbackMethod_GetUser<
                                R::WithRawCallbackMethod_DeleteUser<
                                    R::WithRawCallbackMethod_GetModelInfo<
                                        R::WithRawCallbackMethod_ListModels<
                                            R::WithRawCallbackMethod_ActivateModel<
                                                R::WithRawCallbackMethod_Recommend<
                                                    R::Service>>>>>>>>>>>>>>>>>;
}  // namespace internal

class RecommenderService final : public internal::ServiceBase {
 public:
  // What the handlers call; borrowed, all must outlive the service.
  struct Units {
    core::Engine* engine = nullptr;
    const storage::Store* store = nullptr;  // reads only; writes via writes
    Writes* writes = nullptr;
    ModelManager* models = nullptr;
    Metrics* metrics = nullptr;
    AccessLog* access_log = nullptr;
    Admission* admission = nullptr;
    const RecommendationIds* ids = nullptr;  // signs recommendation ids
    // A/B experiments: who gets which variant, and the attributed counts
    // GetExperimentReport reports. Null: no experiments.
    const Experiments* experiments = nullptr;
    const ExperimentStats* experiment_stats = nullptr;
    // Counts the items of every answer (the console's Item page). Null:
    // not counted.
    ItemActivity* item_activity = nullptr;
    // RecommendRequest.exploration when the request does not set it.
    double default_exploration = 0;
    // What call deadlines are compared with. Null: absl::Now. Tests set a
    // clock ahead of the client's to exercise the expired-deadline path.
    std::function<absl::Time()> clock;
    // ServerConfig::recommend_work_hook (tests). Null: none.
    std::function<void()> recommend_work_hook;
    // Cluster mode only (null in single-node mode): the log applier, asked
    // for min_log_position and whether the log is reachable.
    LogApplier* applier = nullptr;
    absl::Duration cluster_read_wait = absl::Milliseconds(50);
    // Cluster mode: threads running the log-bound writes (file comment).
    // Enough for the write admission limit. Default: 64.
    int cluster_write_threads = 64;
    // Where Recommend calls wait their turn, and how they are shed.
    CallQueueOptions recommend_queue;
  };
  explicit RecommenderService(const Units& units);
  // Waits for queued ActivateModel calls to finish.
  ~RecommenderService() override = default;

  // While false every RPC answers UNAVAILABLE. Starts false.
  void SetServing(bool serving);
  bool serving() const { return serving_.load(); }

  Metrics& metrics() { return *units_.metrics; }
  // A call's deadline as absl::Time; InfiniteFuture when it has none.
  static absl::Time DeadlineOf(const grpc::ServerContextBase& ctx);

  // --- Raw callback handlers (service_raw.cc) ---
  // Each parses the request; one that does not parse is finished with
  // Unparsable's status, the others go to the typed handler below.
  using Context = grpc::CallbackServerContext;
  using Bytes = grpc::ByteBuffer;
  using Reactor = grpc::ServerUnaryReactor;
  // Waits its turn in recommend_queue_ (service_recommend.cc).
  Reactor* Recommend(Context* ctx, const Bytes* request,
                     Bytes* response) override;
  Reactor* Feedback(Context* ctx, const Bytes* request,
                    Bytes* response) override;
  // Reads raw messages and parses each itself (service_import.cc), so that
  // one that does not parse is reported for its batch instead of ending
  // the stream as if it were complete.
  grpc::ServerReadReactor<Bytes>* ImportEvents(Context* ctx,
                                               Bytes* response) override;
  Reactor* UpsertItems(Context* ctx, const Bytes* request,
                       Bytes* response) override;
  Reactor* DeleteItems(Context* ctx, const Bytes* request,
                       Bytes* response) override;
  Reactor* GetItem(Context* ctx, const Bytes* request,
                   Bytes* response) override;
  Reactor* GetUser(Context* ctx, const Bytes* request,
                   Bytes* response) override;
  Reactor* DeleteUser(Context* ctx, const Bytes* request,
                      Bytes* response) override;
  Reactor* MergeUsers(Context* ctx, const Bytes* request,
                      Bytes* response) override;
  Reactor* GetModelInfo(Context* ctx, const Bytes* request,
                        Bytes* response) override;
  Reactor* ListModels(Context* ctx, const Bytes* request,
                      Bytes* response) override;
  Reactor* ActivateModel(Context* ctx, const Bytes* request,
                         Bytes* response) override;
  Reactor* GetExperimentReport(Context* ctx, const Bytes* request,
                               Bytes* response) override;
  Reactor* Rank(Context* ctx, const Bytes* request, Bytes* response) override;
  Reactor* ListSegments(Context* ctx, const Bytes* request,
                        Bytes* response) override;
  Reactor* UpsertUsers(Context* ctx, const Bytes* request,
                       Bytes* response) override;
  // Server streaming (service_segments.cc): a segment's user ids in pages.
  grpc::ServerWriteReactor<Bytes>* ExportSegment(Context* ctx,
                                                 const Bytes* request) override;

  // A request of `method` that could not be parsed (`error`, from
  // raw_messages.h): counts it (aisle_rpc_unparsable_requests_total and the
  // RPC metrics) and returns the status to finish the call with.
  grpc::Status Unparsable(Method method, const absl::Status& error);

  // --- Typed handlers (named apart from the generated virtuals, which
  // they would hide) ---
  // Each finishes `call` exactly once (possibly from another thread, after
  // returning); request and response belong to `call`.
  void HandleFeedback(Context* ctx, const v1::FeedbackRequest* request,
                      v1::FeedbackResponse* response, UnaryCall* call);
  void HandleUpsertItems(Context* ctx, const v1::UpsertItemsRequest* request,
                         v1::UpsertItemsResponse* response, UnaryCall* call);
  void HandleDeleteItems(Context* ctx, const v1::DeleteItemsRequest* request,
                         v1::DeleteItemsResponse* response, UnaryCall* call);
  void HandleUpsertUsers(Context* ctx, const v1::UpsertUsersRequest* request,
                         v1::UpsertUsersResponse* response, UnaryCall* call);
  void HandleGetItem(Context* ctx, const v1::GetItemRequest* request,
                     v1::Item* response, UnaryCall* call);
  void HandleGetUser(Context* ctx, const v1::GetUserRequest* request,
                     v1::UserProfile* response, UnaryCall* call);
  void HandleDeleteUser(Context* ctx, const v1::DeleteUserRequest* request,
                        v1::DeleteUserResponse* response, UnaryCall* call);
  void HandleMergeUsers(Context* ctx, const v1::MergeUsersRequest* request,
                        v1::MergeUsersResponse* response, UnaryCall* call);
  void HandleGetModelInfo(Context* ctx, const v1::GetModelInfoRequest* request,
                          v1::ModelInfo* response, UnaryCall* call);
  void HandleListModels(Context* ctx, const v1::ListModelsRequest* request,
                        v1::ListModelsResponse* response, UnaryCall* call);
  void HandleActivateModel(Context* ctx,
                           const v1::ActivateModelRequest* request,
                           v1::ModelInfo* response, UnaryCall* call);
  void HandleGetExperimentReport(Context* ctx,
                                 const v1::GetExperimentReportRequest* request,
                                 v1::ExperimentReport* response,
                                 UnaryCall* call);
  void HandleRank(Context* ctx, const v1::RankRequest* request,
                  v1::RankResponse* response, UnaryCall* call);
  void HandleListSegments(Context* ctx, const v1::ListSegmentsRequest* request,
                          v1::ListSegmentsResponse* response, UnaryCall* call);

 private:
  class ImportReactor;
  class ExportReactor;
  class RecommendReactor;

  // Step 1 and 1b of the file comment for a call that just arrived: OK
  // with *permit admitted (hold it until the answer), or the error to
  // answer with (counted in aisle_rpc_shed_total).
  absl::Status AdmitCall(const grpc::ServerContextBase& ctx, Method method,
                         AdmissionLimiter::Permit* permit);
  // Maps the status at the edge, records the RPC metrics and the access
  // log, and returns the gRPC status to finish the call with.
  grpc::Status FinishCall(Method method, int64_t start_ns,
                          const absl::Status& status, std::string_view user_id);
  // Steps 2-4 of Recommend: validates, asks the engine (with the call's
  // deadline and `cancelled` checked between its stages), fills *response.
  absl::Status DoRecommend(const grpc::ServerContextBase& ctx,
                           const v1::RecommendRequest& request,
                           v1::RecommendResponse* response,
                           std::function<bool()> cancelled);

  // Converts and validates events[index] of a Feedback or ImportEvents
  // message.
  static absl::StatusOr<core::Event> ToValidEvent(const v1::Event& proto,
                                                  int index, int64_t now_ms);

  // Feedback in two halves, for a write answered later
  // (Writes::AddEventsLater): the request's events, validated; then its
  // answer from what storing them did. DoFeedback runs both around
  // Writes::AddEvents.
  static absl::StatusOr<std::vector<core::Event>> FeedbackEvents(
      const v1::FeedbackRequest& request, int64_t now_ms);
  static absl::Status FeedbackAnswer(const v1::FeedbackRequest& request,
                                     absl::StatusOr<EventsStored> stored,
                                     v1::FeedbackResponse* response);
  absl::Status DoFeedback(const v1::FeedbackRequest& request,
                          v1::FeedbackResponse* response);
  absl::Status DoUpsertItems(const v1::UpsertItemsRequest& request,
                             v1::UpsertItemsResponse* response);
  absl::Status DoDeleteItems(const v1::DeleteItemsRequest& request,
                             v1::DeleteItemsResponse* response);
  absl::Status DoUpsertUsers(const v1::UpsertUsersRequest& request,
                             v1::UpsertUsersResponse* response);
  absl::Status DoGetItem(const v1::GetItemRequest& request, v1::Item* response);
  absl::Status DoGetUser(const v1::GetUserRequest& request,
                         v1::UserProfile* response);
  absl::Status DoDeleteUser(const v1::DeleteUserRequest& request,
                            v1::DeleteUserResponse* response);
  absl::Status DoMergeUsers(const v1::MergeUsersRequest& request,
                            v1::MergeUsersResponse* response);
  // Fills the serving model's metadata (unless already set) and the
  // engine's counts.
  void FillModelInfo(v1::ModelInfo* response);
  absl::Status DoListModels(v1::ListModelsResponse* response);
  absl::Status DoGetExperimentReport(
      const v1::GetExperimentReportRequest& request,
      v1::ExperimentReport* response);
  absl::Status DoRank(const v1::RankRequest& request,
                      v1::RankResponse* response);

  // The first steps of Unary and UnaryLater: reads the start time (the
  // return value, for FinishCall), counts the call started, puts this
  // gRPC thread under the Recommend queue's scheduling policy and sets
  // *status to AdmitCall's answer (OK with *permit held, or why not).
  int64_t StartCall(const grpc::ServerContextBase& ctx, Method method,
                    AdmissionLimiter::Permit* permit, absl::Status* status);
  // Runs `body` unless the server is not serving or Admit sheds the call,
  // then finishes the RPC: here, or on write_pool_ for a log-bound write
  // in cluster mode (so `body` captures nothing from the caller's stack;
  // the request and response live as long as `call`).
  void Unary(grpc::CallbackServerContext* ctx, UnaryCall* call, Method method,
             std::string_view user_id,
             absl::AnyInvocable<absl::Status() &&> body);
  // Unary for a body that answers later: `start` runs here (unless the
  // call is shed) and gets the function that finishes the RPC with the
  // body's status, to be called once, from any thread. The call holds its
  // admission permit until then (so the limit bounds the calls waiting
  // in the batcher), but gives no latency sample: its time is mostly the
  // wait to be batched, which says nothing about the cost of a write.
  using Finisher = absl::AnyInvocable<void(absl::Status) &&>;
  void UnaryLater(grpc::CallbackServerContext* ctx, UnaryCall* call,
                  Method method, std::string_view user_id,
                  absl::AnyInvocable<void(Finisher) &&> start);
  // Parses the raw request into a new MessageCall and runs `handler` on it,
  // or finishes the call with Unparsable's status (service_raw.cc).
  template <class Request, class Response>
  Reactor* Dispatch(Context* ctx, const Bytes* request, Bytes* response,
                    Method method,
                    void (RecommenderService::*handler)(Context*,
                                                        const Request*,
                                                        Response*, UnaryCall*));
  // UNAVAILABLE while not serving, OK otherwise.
  absl::Status CheckServing() const;

  const Units units_;
  CallQueue recommend_queue_;
  std::atomic<bool> serving_{false};
  // Declared last: destroyed first, so queued activations finish while the
  // rest of the service is alive.
  SerialWorker loader_;
  // Cluster mode only (null otherwise): the log-bound writes. Destroyed
  // before loader_ and the rest, after finishing the calls it holds.
  std::unique_ptr<WorkerPool> write_pool_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_SERVICE_H_
