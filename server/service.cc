#include "server/service.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/string_view.h"
#include "server/convert.h"
#include "server/grpc_status.h"
#include "server/raw_messages.h"
#include "server/recommendation_id.h"
#include "server/validation.h"

namespace aisle::server {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The store's lifetime counts and first/last seen replace the engine's,
// which cover only the recent history it keeps in memory.
void MergeStoredUser(const storage::UserRecord& record,
                     core::UserProfile* profile) {
  profile->event_counts.clear();
  for (int t = 1; t < core::kNumEventTypes; ++t) {
    if (record.counts[t] > 0) {
      profile->event_counts[static_cast<core::EventType>(t)] = record.counts[t];
    }
  }
  profile->first_seen_ms = record.first_seen_ms;
  profile->last_seen_ms = record.last_seen_ms;
}

MethodClass ClassOf(Method method) {
  switch (method) {
    case Method::kRecommend:
    case Method::kGetItem:
    case Method::kGetUser:
    case Method::kRank:
      return MethodClass::kRead;
    case Method::kFeedback:
    case Method::kImportEvents:
    case Method::kUpsertItems:
    case Method::kDeleteItems:
    case Method::kMergeUsers:
    case Method::kUpsertUsers:
      return MethodClass::kWrite;
    case Method::kDeleteUser:
    case Method::kGetModelInfo:
    case Method::kListModels:
    case Method::kActivateModel:
    case Method::kGetExperimentReport:
    // Segments walk every user: kept off the read class's latency.
    case Method::kListSegments:
    case Method::kExportSegment:
      return MethodClass::kAdmin;
  }
  return MethodClass::kAdmin;
}

}  // namespace

// Recommend is in service_recommend.cc, ImportEvents in service_import.cc.

// --- Plumbing ----------------------------------------------------------------

absl::Time RecommenderService::DeadlineOf(const grpc::ServerContextBase& ctx) {
  const std::chrono::system_clock::time_point deadline = ctx.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

absl::StatusOr<core::Event> RecommenderService::ToValidEvent(
    const v1::Event& proto, int index, int64_t now_ms) {
  core::Event event = ToCoreEvent(proto);
  absl::Status status =
      ValidateEvent(event, now_ms, absl::StrCat("events[", index, "]"));
  if (!status.ok()) return status;
  return event;
}

RecommenderService::RecommenderService(const Units& units)
    : units_(units), recommend_queue_(units.recommend_queue) {
  if (units_.applier != nullptr) {
    write_pool_ =
        std::make_unique<WorkerPool>(std::max(1, units_.cluster_write_threads));
  }
}

void RecommenderService::SetServing(bool serving) {
  serving_.store(serving);
  units_.metrics->SetUp(serving);
}

absl::Status RecommenderService::CheckServing() const {
  if (serving_.load(std::memory_order_relaxed)) return absl::OkStatus();
  return absl::UnavailableError(
      "the server is starting or shutting down; retry shortly");
}

absl::Status RecommenderService::AdmitCall(const grpc::ServerContextBase& ctx,
                                           Method method,
                                           AdmissionLimiter::Permit* permit) {
  if (absl::Status serving = CheckServing(); !serving.ok()) return serving;
  if (ctx.IsCancelled()) {
    units_.metrics->Shed(method, ShedReason::kCancelled);
    return absl::CancelledError("the client cancelled the call");
  }
  const absl::Time deadline = DeadlineOf(ctx);
  if (deadline != absl::InfiniteFuture() &&
      (units_.clock ? units_.clock() : absl::Now()) >= deadline) {
    units_.metrics->Shed(method, ShedReason::kDeadline);
    return absl::DeadlineExceededError(
        "the call's deadline passed before the server picked it up (server "
        "overloaded or deadline too short); nothing was done");
  }
  const MethodClass method_class = ClassOf(method);
  AdmissionLimiter& limiter = units_.admission->limiter(method_class);
  *permit = limiter.TryAcquire();
  if (permit->admitted()) return absl::OkStatus();
  units_.metrics->Shed(method, ShedReason::kLimit);
  return absl::ResourceExhaustedError(absl::StrCat(
      "server overloaded: ", limiter.in_flight(), " ",
      core::ToAbsl(MethodClassName(method_class)), " calls in flight (limit ",
      limiter.limit(), "); retry with backoff"));
}

grpc::Status RecommenderService::FinishCall(Method method, int64_t start_ns,
                                            const absl::Status& status,
                                            std::string_view user_id) {
  grpc::Status grpc_status = ToGrpcStatus(status);
  const double seconds = core::SecondsSinceNanos(start_ns);
  units_.metrics->RpcFinished(method, grpc_status.error_code(), seconds);
  units_.access_log->Record(MethodName(method),
                            GrpcCodeName(grpc_status.error_code()), seconds,
                            user_id);
  if (!grpc_status.ok()) {
    units_.access_log->Fault(
        MethodName(method), GrpcCodeName(grpc_status.error_code()),
        core::ToStd(status.message()), core::SteadyNanos());
  }
  return grpc_status;
}

grpc::Status RecommenderService::Unparsable(Method method,
                                            const absl::Status& error) {
  const int64_t start_ns = core::SteadyNanos();
  units_.metrics->RpcStarted(method);
  units_.metrics->Unparsable(method);
  return FinishCall(method, start_ns, error, "");
}

int64_t RecommenderService::StartCall(const grpc::ServerContextBase& ctx,
                                      Method method,
                                      AdmissionLimiter::Permit* permit,
                                      absl::Status* status) {
  const int64_t start_ns = core::SteadyNanos();
  units_.metrics->RpcStarted(method);
  recommend_queue_.Enrol();  // this gRPC thread follows its policy
  *status = AdmitCall(ctx, method, permit);
  return start_ns;
}

void RecommenderService::Unary(grpc::CallbackServerContext* ctx,
                               UnaryCall* call, Method method,
                               std::string_view user_id,
                               absl::AnyInvocable<absl::Status() &&> body) {
  AdmissionLimiter::Permit permit;  // released when the work is done
  absl::Status status;
  const int64_t start_ns = StartCall(*ctx, method, &permit, &status);
  const bool through_log =
      method == Method::kFeedback || method == Method::kUpsertItems ||
      method == Method::kDeleteItems || method == Method::kDeleteUser ||
      method == Method::kMergeUsers || method == Method::kUpsertUsers;
  if (status.ok() && write_pool_ != nullptr && through_log) {
    write_pool_->Post([this, call, method, start_ns,
                       user = std::string(user_id), body = std::move(body),
                       permit = std::move(permit)]() mutable {
      absl::Status result;
      {
        AdmissionLimiter::Permit held = std::move(permit);
        result = std::move(body)();
      }
      call->Finish(FinishCall(method, start_ns, result, user));
    });
    return;
  }
  if (status.ok()) status = std::move(body)();
  permit = AdmissionLimiter::Permit();  // released before answering
  call->Finish(FinishCall(method, start_ns, status, user_id));
}

void RecommenderService::UnaryLater(
    grpc::CallbackServerContext* ctx, UnaryCall* call, Method method,
    std::string_view user_id, absl::AnyInvocable<void(Finisher) &&> start) {
  AdmissionLimiter::Permit permit;
  absl::Status status;
  const int64_t start_ns = StartCall(*ctx, method, &permit, &status);
  if (!status.ok()) {
    call->Finish(FinishCall(method, start_ns, status, user_id));
    return;
  }
  std::move(start)([this, call, method, start_ns, user = std::string(user_id),
                    permit = std::move(permit)](absl::Status status) mutable {
    permit.SkipSample();
    permit = AdmissionLimiter::Permit();  // released before answering
    call->Finish(FinishCall(method, start_ns, status, user));
  });
}

// --- RPCs (typed; service_raw.cc parses and calls them) ---------------------

void RecommenderService::HandleFeedback(Context* ctx,
                                        const v1::FeedbackRequest* request,
                                        v1::FeedbackResponse* response,
                                        UnaryCall* call) {
  // Both branches are views: a std::string branch would make the result a
  // temporary string that dies at the end of this statement.
  const std::string_view user_id =
      request->events_size() > 0
          ? std::string_view(request->events(0).user_id())
          : std::string_view();
  if (write_pool_ != nullptr) {  // cluster mode: answered from the pool
    Unary(ctx, call, Method::kFeedback, user_id,
          [this, request, response] { return DoFeedback(*request, response); });
    return;
  }
  UnaryLater(ctx, call, Method::kFeedback, user_id,
             [this, request, response](Finisher finish) {
               const int64_t now_ms = NowMs();
               absl::StatusOr<std::vector<core::Event>> events =
                   FeedbackEvents(*request, now_ms);
               if (!events.ok()) {
                 std::move(finish)(events.status());
                 return;
               }
               units_.writes->AddEventsLater(
                   *std::move(events), now_ms,
                   [request, response, finish = std::move(finish)](
                       absl::StatusOr<EventsStored> stored) mutable {
                     std::move(finish)(
                         FeedbackAnswer(*request, std::move(stored), response));
                   });
             });
}

void RecommenderService::HandleUpsertItems(
    Context* ctx, const v1::UpsertItemsRequest* request,
    v1::UpsertItemsResponse* response, UnaryCall* call) {
  Unary(ctx, call, Method::kUpsertItems, "", [this, request, response] {
    return DoUpsertItems(*request, response);
  });
}

void RecommenderService::HandleUpsertUsers(
    Context* ctx, const v1::UpsertUsersRequest* request,
    v1::UpsertUsersResponse* response, UnaryCall* call) {
  Unary(ctx, call, Method::kUpsertUsers, "", [this, request, response] {
    return DoUpsertUsers(*request, response);
  });
}

void RecommenderService::HandleDeleteItems(
    Context* ctx, const v1::DeleteItemsRequest* request,
    v1::DeleteItemsResponse* response, UnaryCall* call) {
  Unary(ctx, call, Method::kDeleteItems, "", [this, request, response] {
    return DoDeleteItems(*request, response);
  });
}

void RecommenderService::HandleGetItem(Context* ctx,
                                       const v1::GetItemRequest* request,
                                       v1::Item* response, UnaryCall* call) {
  Unary(ctx, call, Method::kGetItem, "",
        [this, request, response] { return DoGetItem(*request, response); });
}

void RecommenderService::HandleGetUser(Context* ctx,
                                       const v1::GetUserRequest* request,
                                       v1::UserProfile* response,
                                       UnaryCall* call) {
  Unary(ctx, call, Method::kGetUser, request->user_id(),
        [this, request, response] { return DoGetUser(*request, response); });
}

void RecommenderService::HandleDeleteUser(Context* ctx,
                                          const v1::DeleteUserRequest* request,
                                          v1::DeleteUserResponse* response,
                                          UnaryCall* call) {
  Unary(ctx, call, Method::kDeleteUser, request->user_id(),
        [this, request, response] { return DoDeleteUser(*request, response); });
}

void RecommenderService::HandleGetModelInfo(Context* ctx,
                                            const v1::GetModelInfoRequest*,
                                            v1::ModelInfo* response,
                                            UnaryCall* call) {
  Unary(ctx, call, Method::kGetModelInfo, "", [this, response] {
    FillModelInfo(response);
    return absl::OkStatus();
  });
}

void RecommenderService::HandleListModels(Context* ctx,
                                          const v1::ListModelsRequest*,
                                          v1::ListModelsResponse* response,
                                          UnaryCall* call) {
  Unary(ctx, call, Method::kListModels, "",
        [this, response] { return DoListModels(response); });
}

void RecommenderService::HandleActivateModel(
    Context* ctx, const v1::ActivateModelRequest* request,
    v1::ModelInfo* response, UnaryCall* call) {
  const int64_t start_ns = core::SteadyNanos();
  units_.metrics->RpcStarted(Method::kActivateModel);
  auto permit = std::make_shared<AdmissionLimiter::Permit>();
  absl::Status status = AdmitCall(*ctx, Method::kActivateModel, permit.get());
  if (status.ok()) {
    status = ValidateActivateModel(request->version(), request->rollback());
  }
  if (!status.ok()) {
    call->Finish(FinishCall(Method::kActivateModel, start_ns, status, ""));
    return;
  }
  // Loading a version can take seconds: done on the loader thread, which
  // finishes the RPC. The permit (shared: the task must be copyable) is
  // held until then.
  loader_.Post([this, call, start_ns, version = request->version(),
                rollback = request->rollback(), response, permit] {
    absl::StatusOr<core::ModelMetadata> metadata =
        units_.writes->ActivateModel(version, rollback);
    if (metadata.ok()) {
      ToProtoModelMetadata(*metadata, response);
      FillModelInfo(response);
    }
    call->Finish(
        FinishCall(Method::kActivateModel, start_ns, metadata.status(), ""));
  });
}

void RecommenderService::HandleGetExperimentReport(
    Context* ctx, const v1::GetExperimentReportRequest* request,
    v1::ExperimentReport* response, UnaryCall* call) {
  Unary(ctx, call, Method::kGetExperimentReport, "",
        [&] { return DoGetExperimentReport(*request, response); });
}

void RecommenderService::HandleRank(Context* ctx,
                                    const v1::RankRequest* request,
                                    v1::RankResponse* response,
                                    UnaryCall* call) {
  Unary(ctx, call, Method::kRank, request->user_id(),
        [&] { return DoRank(*request, response); });
}

// --- Handler bodies ----------------------------------------------------------

absl::StatusOr<std::vector<core::Event>> RecommenderService::FeedbackEvents(
    const v1::FeedbackRequest& request, int64_t now_ms) {
  if (absl::Status s = ValidateBatchSize(request.events_size(), "events");
      !s.ok()) {
    return s;
  }
  // The whole batch is validated before anything is stored: one bad event
  // rejects the request.
  std::vector<core::Event> events;
  events.reserve(request.events_size());
  for (int i = 0; i < request.events_size(); ++i) {
    absl::StatusOr<core::Event> event =
        ToValidEvent(request.events(i), i, now_ms);
    if (!event.ok()) return event.status();
    events.push_back(*std::move(event));
  }
  return events;
}

absl::Status RecommenderService::DoFeedback(const v1::FeedbackRequest& request,
                                            v1::FeedbackResponse* response) {
  const int64_t now_ms = NowMs();
  absl::StatusOr<std::vector<core::Event>> events =
      FeedbackEvents(request, now_ms);
  if (!events.ok()) return events.status();
  return FeedbackAnswer(
      request, units_.writes->AddEvents(*std::move(events), now_ms), response);
}

absl::Status RecommenderService::FeedbackAnswer(
    const v1::FeedbackRequest& request, absl::StatusOr<EventsStored> stored,
    v1::FeedbackResponse* response) {
  if (!stored.ok()) return stored.status();
  if (!stored->conflicts.empty()) {  // nothing was stored
    const int i = static_cast<int>(stored->conflicts.front());
    return EventIdConflict(absl::StrCat("events[", i, "]"),
                           request.events(i).event_id());
  }
  response->set_accepted(stored->accepted);
  response->set_duplicates(stored->duplicates);
  response->set_log_position(stored->log_position);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoUpsertItems(
    const v1::UpsertItemsRequest& request, v1::UpsertItemsResponse* response) {
  if (absl::Status s = ValidateBatchSize(request.items_size(), "items");
      !s.ok()) {
    return s;
  }
  std::vector<core::Item> items;
  items.reserve(request.items_size());
  for (int i = 0; i < request.items_size(); ++i) {
    core::Item item = ToCoreItem(request.items(i));
    if (absl::Status s = ValidateItem(item, absl::StrCat("items[", i, "]"));
        !s.ok()) {
      return s;
    }
    items.push_back(std::move(item));
  }
  const int count = static_cast<int>(items.size());
  if (absl::Status s = units_.writes->UpsertItems(std::move(items), NowMs());
      !s.ok()) {
    return s;
  }
  response->set_upserted(count);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoUpsertUsers(
    const v1::UpsertUsersRequest& request, v1::UpsertUsersResponse* response) {
  std::vector<core::UserAttributes> users;
  users.reserve(request.users_size());
  for (const v1::User& user : request.users())
    users.push_back(ToCoreUser(user));
  if (absl::Status s = ValidateUsers(users); !s.ok()) return s;
  const int count = static_cast<int>(users.size());
  if (absl::Status s = units_.writes->UpsertUsers(std::move(users), NowMs());
      !s.ok()) {
    return s;
  }
  response->set_upserted(count);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoDeleteItems(
    const v1::DeleteItemsRequest& request, v1::DeleteItemsResponse* response) {
  if (absl::Status s = ValidateBatchSize(request.item_ids_size(), "item_ids");
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < request.item_ids_size(); ++i) {
    if (absl::Status s =
            ValidateId(request.item_ids(i), absl::StrCat("item_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  const std::vector<std::string> ids(request.item_ids().begin(),
                                     request.item_ids().end());
  absl::StatusOr<int> deleted = units_.writes->DeleteItems(ids);
  if (!deleted.ok()) return deleted.status();
  response->set_deleted(*deleted);
  response->set_not_found(static_cast<int>(ids.size()) - *deleted);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoGetItem(const v1::GetItemRequest& request,
                                           v1::Item* response) {
  if (absl::Status s = ValidateId(request.item_id(), "item_id"); !s.ok()) {
    return s;
  }
  const int64_t read_start = core::SteadyNanos();
  absl::StatusOr<core::Item> item = units_.store->GetItem(request.item_id());
  units_.metrics->ObserveStorageRead(core::SecondsSinceNanos(read_start));
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
  const std::string& user_id = request.user_id();
  if (absl::Status s = ValidateId(user_id, "user_id"); !s.ok()) return s;
  std::optional<core::UserProfile> profile = units_.engine->GetUser(user_id);
  const int64_t read_start = core::SteadyNanos();
  absl::StatusOr<storage::UserRecord> record = units_.store->GetUser(user_id);
  units_.metrics->ObserveStorageRead(core::SecondsSinceNanos(read_start));
  if (!record.ok() && !absl::IsNotFound(record.status())) {
    return record.status();
  }
  if (!profile.has_value() && !record.ok()) {
    return absl::NotFoundError(
        absl::StrCat("user \"", user_id, "\" not found"));
  }
  if (!profile.has_value()) {
    profile.emplace();
    profile->user_id = user_id;
  }
  if (record.ok()) MergeStoredUser(*record, &*profile);
  ToProtoUserProfile(*profile, response);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoDeleteUser(
    const v1::DeleteUserRequest& request, v1::DeleteUserResponse* response) {
  if (absl::Status s = ValidateId(request.user_id(), "user_id"); !s.ok()) {
    return s;
  }
  absl::StatusOr<UserErasure> erased =
      units_.writes->EraseUser(request.user_id());
  if (!erased.ok()) return erased.status();
  response->set_events_deleted(erased->events_deleted);
  response->set_idempotency_keys_deleted(erased->idempotency_keys_deleted);
  response->set_profile_deleted(erased->profile_deleted);
  response->set_vector_deleted(erased->vector_deleted);
  return absl::OkStatus();
}

void RecommenderService::HandleMergeUsers(Context* ctx,
                                          const v1::MergeUsersRequest* request,
                                          v1::MergeUsersResponse* response,
                                          UnaryCall* call) {
  Unary(ctx, call, Method::kMergeUsers, request->to_user_id(),
        [this, request, response] { return DoMergeUsers(*request, response); });
}

absl::Status RecommenderService::DoMergeUsers(
    const v1::MergeUsersRequest& request, v1::MergeUsersResponse* response) {
  if (absl::Status s =
          ValidateMergeUsers(request.from_user_id(), request.to_user_id());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<UserMerge> merged =
      units_.writes->MergeUsers(request.from_user_id(), request.to_user_id());
  if (!merged.ok()) return merged.status();
  response->set_events_moved(merged->events_moved);
  response->set_idempotency_keys_moved(merged->idempotency_keys_moved);
  response->set_profile_merged(merged->profile_merged);
  return absl::OkStatus();
}

void RecommenderService::FillModelInfo(v1::ModelInfo* response) {
  std::shared_ptr<const core::FactorModel> model = units_.engine->model();
  if (model != nullptr && response->version().empty()) {
    ToProtoModelMetadata(model->metadata(), response);
  }
  core::EngineStats stats = units_.engine->Stats();
  response->set_catalog_items(stats.items);
  response->set_known_users(stats.users);
  response->set_events(stats.events);
}

absl::Status RecommenderService::DoListModels(
    v1::ListModelsResponse* response) {
  absl::StatusOr<ModelManager::Listing> listing = units_.models->List();
  if (!listing.ok()) return listing.status();
  for (const storage::StoredModel& stored : listing->models) {
    ToProtoModelMetadata(stored.metadata, response->add_models());
  }
  response->set_active_version(listing->active_version);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoGetExperimentReport(
    const v1::GetExperimentReportRequest& request,
    v1::ExperimentReport* response) {
  if (absl::Status s =
          ValidateExperimentReport(request.experiment(), request.confidence());
      !s.ok()) {
    return s;
  }
  std::vector<const ExperimentConfig*> selected;
  if (units_.experiments != nullptr) {
    for (const ExperimentConfig& xp : units_.experiments->experiments()) {
      if (request.experiment().empty() || xp.name == request.experiment()) {
        selected.push_back(&xp);
      }
    }
  }
  if (!request.experiment().empty() && selected.empty()) {
    return absl::NotFoundError(
        absl::StrCat("experiment: \"", request.experiment(),
                     "\" is not in the server's --experiments file"));
  }
  if (units_.experiment_stats == nullptr) return absl::OkStatus();
  const double confidence =
      request.confidence() == 0 ? 0.95 : request.confidence();
  *response = units_.experiment_stats->Report(selected, confidence);
  return absl::OkStatus();
}

absl::Status RecommenderService::DoRank(const v1::RankRequest& request,
                                        v1::RankResponse* response) {
  const core::RankRequest rank = ToCoreRankRequest(request);
  if (absl::Status s = ValidateRankRequest(rank); !s.ok()) return s;
  ToProtoRankResult(units_.engine->Rank(rank), response);
  return absl::OkStatus();
}

}  // namespace aisle::server
