// RecommenderService: the aisle.v1.Recommender gRPC service on the callback
// API. Handlers are thin: convert and validate the request, call the store
// (durable first) and the engine, convert the result, record metrics and
// the access log. Internal errors become gRPC statuses only through
// ToGrpcStatus (convert.h).
//
// Write path (Feedback, ImportEvents, UpsertItems, DeleteItems,
// DeleteUser): storage first, then the engine, so that anything the engine
// serves is durable, and the reply is sent after both, so a client's next
// Recommend reflects its own writes.
//
// Model changes (ActivateModel RPC, the model inbox, start-up) go through
// one mutex-serialized path: load and deserialize the blob (a corrupt one
// is FAILED_PRECONDITION and the serving model is untouched), record it as
// active in the store, then swap it into the engine. ActivateModel does
// this on a dedicated loader thread, never on a gRPC thread.
//
// While not serving (starting, draining) every RPC answers UNAVAILABLE.
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_SERVER_SERVICE_H_
#define AISLE_SERVER_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "core/engine.h"
#include "core/model.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "storage/store.h"

namespace aisle::server {

// Runs tasks one at a time on its own thread (model loading). Tasks queued
// when the worker is destroyed still run before the thread exits.
class SerialWorker {
 public:
  SerialWorker();
  ~SerialWorker();
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;
  void Post(std::function<void()> task);

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

class RecommenderService final : public v1::Recommender::CallbackService {
 public:
  // Borrowed pointers; all must outlive the service.
  RecommenderService(core::Engine* engine, storage::Store* store,
                     Metrics* metrics, AccessLog* access_log,
                     core::ModelOptions model_options);
  ~RecommenderService() override;

  // While false every RPC answers UNAVAILABLE. Starts false.
  void SetServing(bool serving);
  bool serving() const { return serving_.load(); }

  // --- Models (shared by the RPC, the inbox poller and start-up) ---------
  // Activates a stored version: deserialize, SetActiveModel, swap.
  // Empty version with rollback: the previous active version. NotFound for
  // an unknown version; FailedPrecondition for a corrupt blob or when there
  // is no previous version (the serving model is unchanged).
  absl::StatusOr<core::ModelMetadata> ActivateStoredModel(
      const std::string& version, bool rollback);
  // Installs a serialized model that is not yet stored (model inbox):
  // deserialize (DataLoss for a corrupt blob, nothing changed), PutModel,
  // SetActiveModel, swap.
  absl::StatusOr<core::ModelMetadata> InstallModelBlob(std::string_view blob);
  // Start-up: serve the store's active model; if it cannot be loaded, log
  // and try the previous active version, else serve none. Errors only for
  // storage failures.
  absl::Status LoadActiveModelAtStartup();
  // Swaps `model` (may be null) into the engine and updates the metrics.
  void ServeModel(std::shared_ptr<const core::FactorModel> model);

  // --- RPCs ----------------------------------------------------------------
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
  friend class ImportReactor;

  // Result of storing and applying one validated batch of events.
  struct StoredBatch {
    int accepted = 0;
    int duplicates = 0;
  };
  // Fills defaults (timestamp, event_id), appends durably, applies the
  // newly stored events to the engine, records event metrics. REQUIRES:
  // events validated.
  absl::StatusOr<StoredBatch> StoreEvents(std::vector<core::Event> events,
                                          int64_t now_ms);

  absl::Status DoRecommend(const v1::RecommendRequest& request,
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
  absl::Status DoGetModelInfo(v1::ModelInfo* response);
  absl::Status DoListModels(v1::ListModelsResponse* response);

  // Runs `body` unless the server is not serving, then finishes the RPC.
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx,
                                  Method method, std::string_view user_id,
                                  absl::FunctionRef<absl::Status()> body);
  // Finishes a unary RPC: converts the status, records metrics and the
  // access log.
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx,
                                   Method method, int64_t start_ns,
                                   const absl::Status& status,
                                   std::string_view user_id);
  void RecordRpc(Method method, int64_t start_ns, grpc::StatusCode code,
                 std::string_view user_id);
  // UNAVAILABLE while not serving, OK otherwise.
  absl::Status CheckServing() const;

  core::Engine* const engine_;
  storage::Store* const store_;
  Metrics* const metrics_;
  AccessLog* const access_log_;
  const core::ModelOptions model_options_;
  std::atomic<bool> serving_{false};

  // Event writes hold it shared, user erasure exclusively, so that no
  // event stored before an erasure reappears in the engine after it.
  absl::Mutex erase_mu_;
  // Serializes model changes (activation, inbox, start-up).
  absl::Mutex model_mu_;
  // Declared last: destroyed first, so queued activations finish while the
  // rest of the service is alive.
  SerialWorker loader_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_SERVICE_H_
