#include "server/service.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/convert.h"
#include "server/validation.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

// The only experiment variant the server issues today; attribution counts
// only variants the server issued, so clients cannot create label series.
constexpr std::string_view kDefaultVariant = "default";

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double SecondsSince(int64_t start_ns) {
  return static_cast<double>(MonotonicNs() - start_ns) * 1e-9;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

// --- SerialWorker ------------------------------------------------------------

SerialWorker::SerialWorker() : thread_([this] { Run(); }) {}

SerialWorker::~SerialWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SerialWorker::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void SerialWorker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping and drained
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

// --- ImportEvents ------------------------------------------------------------

// Reads batches one at a time; each is validated event by event (bad ones
// are counted and reported, not stored) and committed before the next read,
// so an interrupted stream keeps what was acknowledged by storage.
class RecommenderService::ImportReactor
    : public grpc::ServerReadReactor<v1::FeedbackRequest> {
 public:
  ImportReactor(RecommenderService* service, v1::ImportEventsResponse* response)
      : service_(service), response_(response), start_ns_(MonotonicNs()) {
    service_->metrics_->RpcStarted(Method::kImportEvents);
    if (absl::Status serving = service_->CheckServing(); !serving.ok()) {
      FinishWith(serving);
      return;
    }
    StartRead(&batch_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // client half-closed (or the call broke): report totals
      FinishWith(absl::OkStatus());
      return;
    }
    absl::Status status = ProcessBatch();
    ++batch_index_;
    if (!status.ok()) {
      FinishWith(status);
      return;
    }
    StartRead(&batch_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status ProcessBatch() {
    const int64_t now_ms = NowMs();
    const int size = batch_.events_size();
    if (size > static_cast<int>(kMaxBatch)) {
      response_->set_rejected(response_->rejected() + size);
      AddError(absl::StrCat("batch ", batch_index_, ": events: at most ",
                            kMaxBatch, " entries per message, got ", size));
      return absl::OkStatus();
    }
    std::vector<core::Event> valid;
    valid.reserve(size);
    for (int i = 0; i < size; ++i) {
      const std::string field = absl::StrCat("events[", i, "]");
      absl::StatusOr<core::Event> event = ToCoreEvent(batch_.events(i), field);
      absl::Status status =
          event.ok() ? ValidateEvent(*event, now_ms, field) : event.status();
      if (!status.ok()) {
        response_->set_rejected(response_->rejected() + 1);
        AddError(absl::StrCat("batch ", batch_index_, ": ", status.message()));
        continue;
      }
      valid.push_back(*std::move(event));
    }
    if (valid.empty()) return absl::OkStatus();
    absl::StatusOr<StoredBatch> stored =
        service_->StoreEvents(std::move(valid), now_ms);
    if (!stored.ok()) return stored.status();
    response_->set_accepted(response_->accepted() + stored->accepted);
    response_->set_duplicates(response_->duplicates() + stored->duplicates);
    return absl::OkStatus();
  }

  void AddError(std::string error) {
    if (response_->errors_size() < 100) response_->add_errors(std::move(error));
  }

  void FinishWith(const absl::Status& status) {
    grpc::Status grpc_status = ToGrpcStatus(status);
    service_->RecordRpc(Method::kImportEvents, start_ns_,
                        grpc_status.error_code(), "");
    Finish(grpc_status);
  }

  RecommenderService* const service_;
  v1::ImportEventsResponse* const response_;
  const int64_t start_ns_;
  v1::FeedbackRequest batch_;
  int batch_index_ = 0;
};

// --- RecommenderService
// --------------------------------------------------------

RecommenderService::RecommenderService(core::Engine* engine,
                                       storage::Store* store, Metrics* metrics,
                                       AccessLog* access_log,
                                       core::ModelOptions model_options)
    : engine_(engine),
      store_(store),
      metrics_(metrics),
      access_log_(access_log),
      model_options_(std::move(model_options)) {}

RecommenderService::~RecommenderService() = default;

void RecommenderService::SetServing(bool serving) {
  serving_.store(serving);
  metrics_->SetUp(serving);
}

absl::Status RecommenderService::CheckServing() const {
  if (serving_.load(std::memory_order_relaxed)) return absl::OkStatus();
  return absl::UnavailableError(
      "the server is starting or shutting down; retry shortly");
}

void RecommenderService::RecordRpc(Method method, int64_t start_ns,
                                   grpc::StatusCode code,
                                   std::string_view user_id) {
  const double seconds = SecondsSince(start_ns);
  metrics_->RpcFinished(method, code, seconds);
  access_log_->Record(MethodName(method), GrpcCodeName(code), seconds, user_id);
}

grpc::ServerUnaryReactor* RecommenderService::Finish(
    grpc::CallbackServerContext* ctx, Method method, int64_t start_ns,
    const absl::Status& status, std::string_view user_id) {
  grpc::Status grpc_status = ToGrpcStatus(status);
  RecordRpc(method, start_ns, grpc_status.error_code(), user_id);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc_status);
  return reactor;
}

grpc::ServerUnaryReactor* RecommenderService::Unary(
    grpc::CallbackServerContext* ctx, Method method, std::string_view user_id,
    absl::FunctionRef<absl::Status()> body) {
  const int64_t start_ns = MonotonicNs();
  metrics_->RpcStarted(method);
  absl::Status status = CheckServing();
  if (status.ok()) status = body();
  return Finish(ctx, method, start_ns, status, user_id);
}

grpc::ServerUnaryReactor* RecommenderService::Recommend(
    grpc::CallbackServerContext* ctx, const v1::RecommendRequest* request,
    v1::RecommendResponse* response) {
  return Unary(ctx, Method::kRecommend, request->user_id(),
               [&] { return DoRecommend(*request, response); });
}

grpc::ServerUnaryReactor* RecommenderService::Feedback(
    grpc::CallbackServerContext* ctx, const v1::FeedbackRequest* request,
    v1::FeedbackResponse* response) {
  std::string_view user_id =
      request->events_size() > 0 ? request->events(0).user_id() : "";
  return Unary(ctx, Method::kFeedback, user_id,
               [&] { return DoFeedback(*request, response); });
}

grpc::ServerReadReactor<v1::FeedbackRequest>* RecommenderService::ImportEvents(
    grpc::CallbackServerContext*, v1::ImportEventsResponse* response) {
  return new ImportReactor(this, response);
}

grpc::ServerUnaryReactor* RecommenderService::UpsertItems(
    grpc::CallbackServerContext* ctx, const v1::UpsertItemsRequest* request,
    v1::UpsertItemsResponse* response) {
  return Unary(ctx, Method::kUpsertItems, "",
               [&] { return DoUpsertItems(*request, response); });
}

grpc::ServerUnaryReactor* RecommenderService::DeleteItems(
    grpc::CallbackServerContext* ctx, const v1::DeleteItemsRequest* request,
    v1::DeleteItemsResponse* response) {
  return Unary(ctx, Method::kDeleteItems, "",
               [&] { return DoDeleteItems(*request, response); });
}

grpc::ServerUnaryReactor* RecommenderService::GetItem(
    grpc::CallbackServerContext* ctx, const v1::GetItemRequest* request,
    v1::Item* response) {
  return Unary(ctx, Method::kGetItem, "",
               [&] { return DoGetItem(*request, response); });
}

grpc::ServerUnaryReactor* RecommenderService::GetUser(
    grpc::CallbackServerContext* ctx, const v1::GetUserRequest* request,
    v1::UserProfile* response) {
  return Unary(ctx, Method::kGetUser, request->user_id(),
               [&] { return DoGetUser(*request, response); });
}

grpc::ServerUnaryReactor* RecommenderService::DeleteUser(
    grpc::CallbackServerContext* ctx, const v1::DeleteUserRequest* request,
    v1::DeleteUserResponse* response) {
  return Unary(ctx, Method::kDeleteUser, request->user_id(),
               [&] { return DoDeleteUser(*request, response); });
}

grpc::ServerUnaryReactor* RecommenderService::GetModelInfo(
    grpc::CallbackServerContext* ctx, const v1::GetModelInfoRequest*,
    v1::ModelInfo* response) {
  return Unary(ctx, Method::kGetModelInfo, "",
               [&] { return DoGetModelInfo(response); });
}

grpc::ServerUnaryReactor* RecommenderService::ListModels(
    grpc::CallbackServerContext* ctx, const v1::ListModelsRequest*,
    v1::ListModelsResponse* response) {
  return Unary(ctx, Method::kListModels, "",
               [&] { return DoListModels(response); });
}

grpc::ServerUnaryReactor* RecommenderService::ActivateModel(
    grpc::CallbackServerContext* ctx, const v1::ActivateModelRequest* request,
    v1::ModelInfo* response) {
  const int64_t start_ns = MonotonicNs();
  metrics_->RpcStarted(Method::kActivateModel);
  if (absl::Status status = CheckServing(); !status.ok()) {
    return Finish(ctx, Method::kActivateModel, start_ns, status, "");
  }
  if (request->version().empty() && !request->rollback()) {
    return Finish(
        ctx, Method::kActivateModel, start_ns,
        absl::InvalidArgumentError("version: required unless rollback is set"),
        "");
  }
  if (!request->version().empty()) {
    absl::Status status = ValidateId(request->version(), "version");
    if (!status.ok()) {
      return Finish(ctx, Method::kActivateModel, start_ns, status, "");
    }
  }
  // Deserializing and re-folding users can take seconds: done on the
  // loader thread; the reactor is finished from there.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  loader_.Post([this, reactor, start_ns, version = request->version(),
                rollback = request->rollback(), response] {
    absl::StatusOr<core::ModelMetadata> metadata =
        ActivateStoredModel(version, rollback);
    absl::Status status = metadata.status();
    if (metadata.ok()) {
      ToProtoModelMetadata(*metadata, response);
      status = DoGetModelInfo(response);
    }
    grpc::Status grpc_status = ToGrpcStatus(status);
    RecordRpc(Method::kActivateModel, start_ns, grpc_status.error_code(), "");
    reactor->Finish(grpc_status);
  });
  return reactor;
}

// --- Handlers ----------------------------------------------------------------

absl::Status RecommenderService::DoRecommend(const v1::RecommendRequest& proto,
                                             v1::RecommendResponse* response) {
  absl::StatusOr<core::RecommendRequest> request =
      ToCoreRecommendRequest(proto);
  if (!request.ok()) return request.status();
  if (absl::Status s = ValidateRecommendRequest(*request); !s.ok()) return s;

  core::RecommendTrace trace;
  absl::StatusOr<core::Recommendation> rec =
      engine_->Recommend(*request, &trace);
  if (!rec.ok()) return rec.status();

  ToProtoRecommendation(*rec, response);
  response->set_recommendation_id(
      NewRecommendationId(request->scenario, kDefaultVariant));

  if (trace.used_ann || trace.used_exact) {
    metrics_->ObserveRetrieval(trace.used_ann, trace.retrieval_seconds);
  }
  for (size_t s = 0; s < trace.candidates_by_source.size(); ++s) {
    metrics_->CandidatesProduced(static_cast<core::Source>(s),
                                 trace.candidates_by_source[s]);
  }
  metrics_->Recommended(request->scenario, kDefaultVariant, rec->fallback,
                        static_cast<int64_t>(rec->items.size()));
  return absl::OkStatus();
}

absl::StatusOr<RecommenderService::StoredBatch> RecommenderService::StoreEvents(
    std::vector<core::Event> events, int64_t now_ms) {
  for (core::Event& e : events) {
    if (e.timestamp_ms == 0) e.timestamp_ms = now_ms;
    // Derived after the timestamp default, so two identical events sent
    // without ids at different times are both kept.
    if (e.event_id.empty()) e.event_id = DerivedEventId(e);
  }

  absl::ReaderMutexLock erase_lock(&erase_mu_);
  const int64_t write_start = MonotonicNs();
  absl::StatusOr<storage::AppendResult> result = store_->AppendEvents(events);
  metrics_->ObserveStorageWrite(SecondsSince(write_start));
  if (!result.ok()) return result.status();

  std::vector<core::Event> stored;
  stored.reserve(result->accepted);
  for (size_t i = 0; i < events.size(); ++i) {
    if (i < result->stored.size() && result->stored[i]) {
      stored.push_back(std::move(events[i]));
    }
  }
  if (!stored.empty()) {
    const int64_t apply_start = MonotonicNs();
    engine_->ApplyEvents(stored);
    metrics_->ObserveFoldIn(SecondsSince(apply_start));
  }

  for (const core::Event& e : stored) {
    metrics_->EventStored(e.type);
    if (e.recommendation_id.empty()) continue;
    std::optional<RecommendationIdParts> parts =
        ParseRecommendationId(e.recommendation_id);
    if (parts.has_value() && parts->variant == kDefaultVariant) {
      metrics_->EventAttributed(parts->scenario, parts->variant, e.type);
    }
  }
  metrics_->EventsDuplicate(result->duplicates);
  return StoredBatch{result->accepted, result->duplicates};
}

absl::Status RecommenderService::DoFeedback(const v1::FeedbackRequest& request,
                                            v1::FeedbackResponse* response) {
  if (absl::Status s = ValidateBatchSize(request.events_size(), "events");
      !s.ok()) {
    return s;
  }
  const int64_t now_ms = NowMs();
  // The whole batch is validated before anything is stored: one bad event
  // rejects the request.
  std::vector<core::Event> events;
  events.reserve(request.events_size());
  for (int i = 0; i < request.events_size(); ++i) {
    const std::string field = absl::StrCat("events[", i, "]");
    absl::StatusOr<core::Event> event = ToCoreEvent(request.events(i), field);
    if (!event.ok()) return event.status();
    if (absl::Status s = ValidateEvent(*event, now_ms, field); !s.ok()) {
      return s;
    }
    events.push_back(*std::move(event));
  }
  absl::StatusOr<StoredBatch> stored = StoreEvents(std::move(events), now_ms);
  if (!stored.ok()) return stored.status();
  response->set_accepted(stored->accepted);
  response->set_duplicates(stored->duplicates);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoUpsertItems(
    const v1::UpsertItemsRequest& request, v1::UpsertItemsResponse* response) {
  if (absl::Status s = ValidateBatchSize(request.items_size(), "items");
      !s.ok()) {
    return s;
  }
  const int64_t now_ms = NowMs();
  std::vector<core::Item> items;
  items.reserve(request.items_size());
  for (int i = 0; i < request.items_size(); ++i) {
    core::Item item = ToCoreItem(request.items(i));
    if (absl::Status s = ValidateItem(item, absl::StrCat("items[", i, "]"));
        !s.ok()) {
      return s;
    }
    item.updated_at_ms = now_ms;
    items.push_back(std::move(item));
  }
  const int64_t write_start = MonotonicNs();
  absl::Status status = store_->PutItems(items);
  metrics_->ObserveStorageWrite(SecondsSince(write_start));
  if (!status.ok()) return status;
  engine_->UpsertItems(items);
  response->set_upserted(static_cast<int>(items.size()));
  return absl::OkStatus();
}

absl::Status RecommenderService::DoDeleteItems(
    const v1::DeleteItemsRequest& request, v1::DeleteItemsResponse* response) {
  if (absl::Status s = ValidateBatchSize(request.item_ids_size(), "item_ids");
      !s.ok()) {
    return s;
  }
  std::vector<std::string> ids;
  ids.reserve(request.item_ids_size());
  for (int i = 0; i < request.item_ids_size(); ++i) {
    if (absl::Status s =
            ValidateId(request.item_ids(i), absl::StrCat("item_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
    ids.push_back(request.item_ids(i));
  }
  const int64_t write_start = MonotonicNs();
  absl::StatusOr<int> deleted = store_->DeleteItems(ids);
  metrics_->ObserveStorageWrite(SecondsSince(write_start));
  if (!deleted.ok()) return deleted.status();
  engine_->DeleteItems(ids);
  response->set_deleted(*deleted);
  response->set_not_found(static_cast<int>(ids.size()) - *deleted);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoGetItem(const v1::GetItemRequest& request,
                                           v1::Item* response) {
  if (absl::Status s = ValidateId(request.item_id(), "item_id"); !s.ok()) {
    return s;
  }
  const int64_t read_start = MonotonicNs();
  absl::StatusOr<core::Item> item = store_->GetItem(request.item_id());
  metrics_->ObserveStorageRead(SecondsSince(read_start));
  if (absl::IsNotFound(item.status())) {
    return absl::NotFoundError(
        absl::StrCat("item \"", request.item_id(), "\" not found"));
  }
  if (!item.ok()) return item.status();
  ToProtoItem(*item, response);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoGetUser(const v1::GetUserRequest& request,
                                           v1::UserProfile* response) {
  if (absl::Status s = ValidateId(request.user_id(), "user_id"); !s.ok()) {
    return s;
  }
  std::optional<core::UserProfile> profile =
      engine_->GetUser(request.user_id());
  // The store's record has exact lifetime counts; the engine keeps only the
  // most recent history in memory.
  const int64_t read_start = MonotonicNs();
  absl::StatusOr<storage::UserRecord> record =
      store_->GetUser(request.user_id());
  metrics_->ObserveStorageRead(SecondsSince(read_start));
  if (!record.ok() && !absl::IsNotFound(record.status())) {
    return record.status();
  }
  if (!profile.has_value() && !record.ok()) {
    return absl::NotFoundError(
        absl::StrCat("user \"", request.user_id(), "\" not found"));
  }
  if (!profile.has_value()) {
    profile.emplace();
    profile->user_id = request.user_id();
  }
  if (record.ok()) {
    profile->event_counts.clear();
    for (int t = 1; t < core::kNumEventTypes; ++t) {
      if (record->counts[t] > 0) {
        profile->event_counts[static_cast<core::EventType>(t)] =
            record->counts[t];
      }
    }
    profile->first_seen_ms = record->first_seen_ms;
    profile->last_seen_ms = record->last_seen_ms;
  }
  ToProtoUserProfile(*profile, response);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoDeleteUser(
    const v1::DeleteUserRequest& request, v1::DeleteUserResponse* response) {
  if (absl::Status s = ValidateId(request.user_id(), "user_id"); !s.ok()) {
    return s;
  }
  absl::WriterMutexLock erase_lock(&erase_mu_);
  absl::StatusOr<storage::EraseResult> erased =
      store_->EraseUser(request.user_id());
  if (!erased.ok()) return erased.status();
  std::optional<core::UserProfile> profile =
      engine_->GetUser(request.user_id());
  const bool had_vector = profile.has_value() && profile->has_vector;
  engine_->EraseUser(request.user_id());
  response->set_events_deleted(erased->events_deleted);
  response->set_idempotency_keys_deleted(erased->idempotency_keys_deleted);
  response->set_profile_deleted(erased->profile_deleted || profile.has_value());
  response->set_vector_deleted(had_vector);
  spdlog::info("erased user {}: {} events, {} idempotency keys",
               access_log_->HashUserId(request.user_id()),
               erased->events_deleted, erased->idempotency_keys_deleted);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoGetModelInfo(v1::ModelInfo* response) {
  std::shared_ptr<const core::FactorModel> model = engine_->model();
  if (model != nullptr && response->version().empty()) {
    ToProtoModelMetadata(model->metadata(), response);
  }
  core::EngineStats stats = engine_->Stats();
  response->set_catalog_items(stats.items);
  response->set_known_users(stats.users);
  response->set_events(stats.events);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoListModels(
    v1::ListModelsResponse* response) {
  absl::StatusOr<std::vector<storage::StoredModel>> models =
      store_->ListModels();
  if (!models.ok()) return models.status();
  absl::StatusOr<std::string> active = store_->GetActiveModel();
  if (!active.ok()) return active.status();
  for (const storage::StoredModel& stored : *models) {
    ToProtoModelMetadata(stored.metadata, response->add_models());
  }
  response->set_active_version(*active);
  return absl::OkStatus();
}

// --- Models
// --------------------------------------------------------------------

void RecommenderService::ServeModel(
    std::shared_ptr<const core::FactorModel> model) {
  std::string version = model != nullptr ? model->version() : "";
  int64_t trained_at = model != nullptr ? model->metadata().trained_at_ms : 0;
  engine_->SwapModel(std::move(model));
  metrics_->SetModel(version, trained_at);
}

absl::StatusOr<core::ModelMetadata> RecommenderService::ActivateStoredModel(
    const std::string& requested, bool rollback) {
  absl::MutexLock lock(&model_mu_);
  std::string version = requested;
  if (version.empty() && rollback) {
    absl::StatusOr<std::string> previous = store_->GetPreviousActiveModel();
    if (!previous.ok()) return previous.status();
    if (previous->empty()) {
      return absl::FailedPreconditionError(
          "rollback: there is no previous model version");
    }
    version = *std::move(previous);
  }
  absl::StatusOr<std::string> blob = store_->GetModelBlob(version);
  if (absl::IsNotFound(blob.status())) {
    return absl::NotFoundError(
        absl::StrCat("model version \"", version, "\" is not stored"));
  }
  if (!blob.ok()) return blob.status();
  absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
      core::FactorModel::Deserialize(*blob, model_options_);
  if (!model.ok()) {
    spdlog::error("model {} cannot be loaded, keeping the current one: {}",
                  version, model.status().ToString());
    return absl::FailedPreconditionError(
        absl::StrCat("model version \"", version,
                     "\" cannot be loaded (the current version keeps "
                     "serving): ",
                     model.status().message()));
  }
  if (absl::Status s = store_->SetActiveModel(version); !s.ok()) return s;
  core::ModelMetadata metadata = (*model)->metadata();
  ServeModel(*std::move(model));
  spdlog::info("model {} activated{}", version, rollback ? " (rollback)" : "");
  return metadata;
}

absl::StatusOr<core::ModelMetadata> RecommenderService::InstallModelBlob(
    std::string_view blob) {
  absl::MutexLock lock(&model_mu_);
  absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
      core::FactorModel::Deserialize(blob, model_options_);
  if (!model.ok()) return model.status();
  core::ModelMetadata metadata = (*model)->metadata();
  if (absl::Status s = store_->PutModel(metadata, blob); !s.ok()) return s;
  if (absl::Status s = store_->SetActiveModel(metadata.version); !s.ok()) {
    return s;
  }
  ServeModel(*std::move(model));
  spdlog::info("model {} installed from the inbox and activated",
               metadata.version);
  return metadata;
}

absl::Status RecommenderService::LoadActiveModelAtStartup() {
  absl::MutexLock lock(&model_mu_);
  absl::StatusOr<std::string> active = store_->GetActiveModel();
  if (!active.ok()) return active.status();
  absl::StatusOr<std::string> previous = store_->GetPreviousActiveModel();
  if (!previous.ok()) return previous.status();
  for (const std::string& version : {*active, *previous}) {
    if (version.empty()) continue;
    const int64_t load_start = MonotonicNs();
    absl::StatusOr<std::string> blob = store_->GetModelBlob(version);
    if (!blob.ok() && !absl::IsNotFound(blob.status())) return blob.status();
    // Serving starts without waiting for the ANN index: the engine builds
    // it in the background and searches exactly until then.
    core::ModelOptions options = model_options_;
    options.defer_ann = true;
    absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
        blob.ok() ? core::FactorModel::Deserialize(*blob, options)
                  : absl::StatusOr<std::shared_ptr<const core::FactorModel>>(
                        blob.status());
    if (!model.ok()) {
      spdlog::error(
          "model {} cannot be loaded ({}); falling back to the previous "
          "active version, if any",
          version, model.status().ToString());
      continue;
    }
    spdlog::info("model {} loaded in {:.2f} s: {} items, {} users, {} MB",
                 version, SecondsSince(load_start), (*model)->num_items(),
                 (*model)->num_users(), (*model)->MemoryBytes() >> 20);
    ServeModel(*std::move(model));
    if (version != *active) {
      spdlog::warn("serving the previous model {} instead of {}", version,
                   *active);
    }
    return absl::OkStatus();
  }
  if (!active->empty()) {
    spdlog::error(
        "no stored model could be loaded; serving without a factor "
        "model (popularity and co-occurrence only)");
  }
  ServeModel(nullptr);
  return absl::OkStatus();
}

}  // namespace aisle::server
