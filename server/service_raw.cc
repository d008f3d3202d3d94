// RecommenderService's raw callback handlers (service.h): parse the request
// (raw_messages.h) and dispatch to the typed handler, or finish the call
// with the parse error. Nothing else happens here.
#include <utility>

#include "server/raw_messages.h"
#include "server/service.h"

namespace aisle::server {

void UnaryCall::Finish(grpc::Status status) {
  if (status.ok()) {
    if (absl::Status s = SerializeMessage(response(), wire_response_);
        !s.ok()) {
      status =
          grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
    }
  }
  grpc::ServerUnaryReactor::Finish(std::move(status));
}

template <class Request, class Response>
RecommenderService::Reactor* RecommenderService::Dispatch(
    Context* ctx, const Bytes* request, Bytes* response, Method method,
    void (RecommenderService::*handler)(Context*, const Request*, Response*,
                                        UnaryCall*)) {
  auto* call = new MessageCall<Request, Response>(response);
  if (absl::Status parsed = ParseMessage(request, &call->request);
      !parsed.ok()) {
    call->Finish(Unparsable(method, parsed));
    return call;
  }
  (this->*handler)(ctx, &call->request, &call->reply, call);
  return call;
}

RecommenderService::Reactor* RecommenderService::Feedback(Context* ctx,
                                                          const Bytes* request,
                                                          Bytes* response) {
  return Dispatch<v1::FeedbackRequest, v1::FeedbackResponse>(
      ctx, request, response, Method::kFeedback,
      &RecommenderService::HandleFeedback);
}

RecommenderService::Reactor* RecommenderService::UpsertItems(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::UpsertItemsRequest, v1::UpsertItemsResponse>(
      ctx, request, response, Method::kUpsertItems,
      &RecommenderService::HandleUpsertItems);
}

RecommenderService::Reactor* RecommenderService::UpsertUsers(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::UpsertUsersRequest, v1::UpsertUsersResponse>(
      ctx, request, response, Method::kUpsertUsers,
      &RecommenderService::HandleUpsertUsers);
}

RecommenderService::Reactor* RecommenderService::DeleteItems(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::DeleteItemsRequest, v1::DeleteItemsResponse>(
      ctx, request, response, Method::kDeleteItems,
      &RecommenderService::HandleDeleteItems);
}

RecommenderService::Reactor* RecommenderService::GetItem(Context* ctx,
                                                         const Bytes* request,
                                                         Bytes* response) {
  return Dispatch<v1::GetItemRequest, v1::Item>(
      ctx, request, response, Method::kGetItem,
      &RecommenderService::HandleGetItem);
}

RecommenderService::Reactor* RecommenderService::GetUser(Context* ctx,
                                                         const Bytes* request,
                                                         Bytes* response) {
  return Dispatch<v1::GetUserRequest, v1::UserProfile>(
      ctx, request, response, Method::kGetUser,
      &RecommenderService::HandleGetUser);
}

RecommenderService::Reactor* RecommenderService::DeleteUser(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::DeleteUserRequest, v1::DeleteUserResponse>(
      ctx, request, response, Method::kDeleteUser,
      &RecommenderService::HandleDeleteUser);
}

RecommenderService::Reactor* RecommenderService::MergeUsers(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::MergeUsersRequest, v1::MergeUsersResponse>(
      ctx, request, response, Method::kMergeUsers,
      &RecommenderService::HandleMergeUsers);
}

RecommenderService::Reactor* RecommenderService::GetModelInfo(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::GetModelInfoRequest, v1::ModelInfo>(
      ctx, request, response, Method::kGetModelInfo,
      &RecommenderService::HandleGetModelInfo);
}

RecommenderService::Reactor* RecommenderService::ListModels(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::ListModelsRequest, v1::ListModelsResponse>(
      ctx, request, response, Method::kListModels,
      &RecommenderService::HandleListModels);
}

RecommenderService::Reactor* RecommenderService::ActivateModel(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::ActivateModelRequest, v1::ModelInfo>(
      ctx, request, response, Method::kActivateModel,
      &RecommenderService::HandleActivateModel);
}

RecommenderService::Reactor* RecommenderService::GetExperimentReport(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::GetExperimentReportRequest, v1::ExperimentReport>(
      ctx, request, response, Method::kGetExperimentReport,
      &RecommenderService::HandleGetExperimentReport);
}

RecommenderService::Reactor* RecommenderService::Rank(Context* ctx,
                                                      const Bytes* request,
                                                      Bytes* response) {
  return Dispatch<v1::RankRequest, v1::RankResponse>(
      ctx, request, response, Method::kRank, &RecommenderService::HandleRank);
}

RecommenderService::Reactor* RecommenderService::ListSegments(
    Context* ctx, const Bytes* request, Bytes* response) {
  return Dispatch<v1::ListSegmentsRequest, v1::ListSegmentsResponse>(
      ctx, request, response, Method::kListSegments,
      &RecommenderService::HandleListSegments);
}

}  // namespace aisle::server
