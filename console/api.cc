#include "console/api.h"

#include <chrono>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"

namespace aisle::console {
namespace {

using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonPrintOptions;

// Reads and views need a few ms; ActivateModel loads a model version,
// which can take seconds.
constexpr auto kCallDeadline = std::chrono::seconds(10);
constexpr auto kActivateDeadline = std::chrono::seconds(120);
// Similar and bought-together lists on the item page.
constexpr int kItemListSize = 8;

std::string ToJson(const google::protobuf::Message& message) {
  JsonPrintOptions options;
  // Zeros and empty lists are shown, so the page never guesses defaults.
  options.always_print_primitive_fields = true;
  std::string json;
  // Printing a message that was built in memory cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

absl::Status FromJson(std::string_view body, google::protobuf::Message* m) {
  JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is an error
  auto status = google::protobuf::util::JsonStringToMessage(
      body.empty() ? std::string_view("{}") : body, m, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: not a JSON ", m->GetDescriptor()->name(), ": ",
                     std::string(status.message())));
  }
  return absl::OkStatus();
}

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

ApiAnswer Ok(std::string json) { return ApiAnswer{200, std::move(json)}; }

}  // namespace

// One authorised gRPC call made for an API request.
class ConsoleApi::Call {
 public:
  template <class Request, class Response>
  using Method = grpc::Status (v1::Recommender::Stub::*)(grpc::ClientContext*,
                                                         const Request&,
                                                         Response*);

  // Asks options.authorize whether the caller may call `name`.
  static absl::Status Authorize(const ConsoleApi& api, const ApiRequest& r,
                                std::string_view name) {
    if (!api.options_.authorize) return absl::OkStatus();
    std::optional<std::string_view> authorization;
    if (r.authorization.has_value()) authorization = *r.authorization;
    return api.options_.authorize(
        std::string("/aisle.v1.Recommender/").append(name), authorization);
  }

  // Authorize, then calls `method` with a deadline.
  template <class Request, class Response>
  static absl::Status Run(ConsoleApi& api, const ApiRequest& r,
                          std::string_view name,
                          Method<Request, Response> method,
                          const Request& request, Response* response,
                          std::chrono::seconds deadline = kCallDeadline) {
    if (absl::Status allowed = Authorize(api, r, name); !allowed.ok()) {
      return allowed;
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    return FromGrpc(((*api.stub_).*method)(&context, request, response));
  }

  static absl::Status FromGrpc(const grpc::Status& status) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
};

ConsoleApi::ConsoleApi(const ConsoleOptions& options, MetricsHistory* history,
                       std::string csrf_token)
    : options_(options),
      stub_(v1::Recommender::NewStub(options.channel)),
      history_(history),
      csrf_token_(std::move(csrf_token)) {}

ApiAnswer ConsoleApi::Error(const absl::Status& status) {
  google::protobuf::Struct error;
  (*error.mutable_fields())["code"].set_string_value(
      absl::StatusCodeToString(status.code()));
  (*error.mutable_fields())["message"].set_string_value(
      std::string(status.message()));
  return ApiAnswer{HttpStatus(status.code()), ToJson(error)};
}

ApiAnswer ConsoleApi::Handle(const ApiRequest& r) {
  struct Route {
    const char* path;
    const char* method;
    ApiAnswer (ConsoleApi::*handler)(const ApiRequest&);
  };
  static constexpr Route kRoutes[] = {
      {"/api/overview", "GET", &ConsoleApi::Overview},
      {"/api/user", "POST", &ConsoleApi::User},
      {"/api/recommend", "POST", &ConsoleApi::Recommend},
      {"/api/item", "POST", &ConsoleApi::Item},
      {"/api/feedback", "POST", &ConsoleApi::Feedback},
      {"/api/models", "GET", &ConsoleApi::Models},
      {"/api/models/activate", "POST", &ConsoleApi::Activate},
      {"/api/experiments", "POST", &ConsoleApi::Experiments},
      {"/api/segments", "GET", &ConsoleApi::SegmentList},
      {"/api/segments/users", "POST", &ConsoleApi::SegmentUsers},
  };
  if (r.path == "/api/session") {
    if (r.method != "GET") {
      return Error(absl::InvalidArgumentError("/api/session: use GET"));
    }
    return Session();
  }
  for (const Route& route : kRoutes) {
    if (r.path != route.path) continue;
    if (r.method != route.method) {
      ApiAnswer answer = Error(absl::InvalidArgumentError(
          absl::StrCat(route.path, ": use ", route.method)));
      answer.http_status = 405;
      return answer;
    }
    return (this->*route.handler)(r);
  }
  return Error(absl::NotFoundError(
      absl::StrCat(r.path, ": no such API (docs/console.md lists them)")));
}

ApiAnswer ConsoleApi::Session() {
  google::protobuf::Struct session;
  auto& fields = *session.mutable_fields();
  fields["csrfToken"].set_string_value(csrf_token_);
  fields["authRequired"].set_bool_value(options_.authorize != nullptr);
  // The API has experiment reports (GetExperimentReport) and learned
  // segments (ListSegments, ExportSegment).
  fields["experiments"].set_bool_value(true);
  fields["segments"].set_bool_value(true);
  // Whether RecommendRequest has the exploration knob: the page offers it
  // only when the API takes it.
  fields["exploration"].set_bool_value(
      v1::RecommendRequest::descriptor()->FindFieldByName("exploration") !=
      nullptr);
  return Ok(ToJson(session));
}

ApiAnswer ConsoleApi::Overview(const ApiRequest& r) {
  v1::ModelInfo model;
  absl::Status status =
      Call::Run(*this, r, "GetModelInfo", &v1::Recommender::Stub::GetModelInfo,
                v1::GetModelInfoRequest(), &model);
  if (!status.ok()) return Error(status);
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  if (options_.sample_interval_ms < 0) history_->Sample(now_ms);
  google::protobuf::ListValue points;
  google::protobuf::Struct totals;
  history_->ToStruct(&points, &totals);
  return Ok(absl::StrCat("{\"model\":", ToJson(model), ",\"nowMs\":", now_ms,
                         ",\"points\":", ToJson(points),
                         ",\"totals\":", ToJson(totals), "}"));
}

absl::Status ConsoleApi::ItemsJson(
    const ApiRequest& r,
    const google::protobuf::RepeatedPtrField<std::string>& ids,
    std::string* json) {
  // clear + push_back, not `= "["`: GCC 12 warns (-Wrestrict) on that.
  json->clear();
  json->push_back('[');
  bool first = true;
  for (const std::string& id : ids) {
    v1::GetItemRequest request;
    request.set_item_id(id);
    v1::Item item;
    absl::Status status = Call::Run(
        *this, r, "GetItem", &v1::Recommender::Stub::GetItem, request, &item);
    // An item deleted since it was seen has no card.
    if (absl::IsNotFound(status)) continue;
    if (!status.ok()) return status;
    absl::StrAppend(json, first ? "" : ",", ToJson(item));
    first = false;
  }
  absl::StrAppend(json, "]");
  return absl::OkStatus();
}

absl::Status ConsoleApi::RecommendWithItems(const ApiRequest& r,
                                            v1::RecommendRequest request,
                                            std::string* json) {
  request.set_explain(true);
  v1::RecommendResponse response;
  absl::Status status =
      Call::Run(*this, r, "Recommend", &v1::Recommender::Stub::Recommend,
                request, &response);
  if (!status.ok()) return status;
  google::protobuf::RepeatedPtrField<std::string> ids;
  for (const v1::RecommendedItem& item : response.items()) {
    *ids.Add() = item.item_id();
  }
  std::string items;
  if (status = ItemsJson(r, ids, &items); !status.ok()) return status;
  *json = absl::StrCat("{\"response\":", ToJson(response), ",\"items\":", items,
                       "}");
  return absl::OkStatus();
}

ApiAnswer ConsoleApi::User(const ApiRequest& r) {
  v1::GetUserRequest request;
  if (absl::Status s = FromJson(r.body, &request); !s.ok()) return Error(s);
  v1::UserProfile profile;
  absl::Status status = Call::Run(
      *this, r, "GetUser", &v1::Recommender::Stub::GetUser, request, &profile);
  if (!status.ok()) return Error(status);
  std::string items;
  status = ItemsJson(r, profile.recent_item_ids(), &items);
  if (!status.ok()) return Error(status);
  return Ok(absl::StrCat("{\"profile\":", ToJson(profile),
                         ",\"recentItems\":", items, "}"));
}

ApiAnswer ConsoleApi::Recommend(const ApiRequest& r) {
  v1::RecommendRequest request;
  if (absl::Status s = FromJson(r.body, &request); !s.ok()) return Error(s);
  std::string json;
  absl::Status status = RecommendWithItems(r, std::move(request), &json);
  if (!status.ok()) return Error(status);
  return Ok(std::move(json));
}

ApiAnswer ConsoleApi::Item(const ApiRequest& r) {
  v1::GetItemRequest request;
  if (absl::Status s = FromJson(r.body, &request); !s.ok()) return Error(s);
  v1::Item item;
  absl::Status status = Call::Run(
      *this, r, "GetItem", &v1::Recommender::Stub::GetItem, request, &item);
  if (!status.ok()) return Error(status);
  std::string lists[2];
  const v1::Scenario scenarios[2] = {v1::SIMILAR_ITEMS,
                                     v1::FREQUENTLY_BOUGHT_TOGETHER};
  for (int i = 0; i < 2; ++i) {
    v1::RecommendRequest list;
    list.set_scenario(scenarios[i]);
    list.add_context_item_ids(request.item_id());
    list.set_count(kItemListSize);
    status = RecommendWithItems(r, std::move(list), &lists[i]);
    if (!status.ok()) return Error(status);
  }
  return Ok(absl::StrCat("{\"item\":", ToJson(item), ",\"similar\":", lists[0],
                         ",\"boughtTogether\":", lists[1], ",\"activity\":",
                         ActivityJson(request.item_id()), "}"));
}

// The server's counts for the item, or null when it keeps none. Read only
// after GetItem was allowed: the same role.
std::string ConsoleApi::ActivityJson(const std::string& item_id) const {
  if (!options_.item_counts) return "null";
  const ItemCounts counts = options_.item_counts(item_id);
  google::protobuf::Struct activity;
  auto& fields = *activity.mutable_fields();
  fields["recommended"].set_number_value(counts.recommended);
  fields["views"].set_number_value(counts.views);
  fields["clicks"].set_number_value(counts.clicks);
  fields["addToCarts"].set_number_value(counts.add_to_carts);
  fields["purchases"].set_number_value(counts.purchases);
  fields["sinceMs"].set_number_value(counts.since_ms);
  fields["partial"].set_bool_value(counts.partial);
  return ToJson(activity);
}

ApiAnswer ConsoleApi::Feedback(const ApiRequest& r) {
  v1::FeedbackRequest request;
  if (absl::Status s = FromJson(r.body, &request); !s.ok()) return Error(s);
  v1::FeedbackResponse response;
  absl::Status status =
      Call::Run(*this, r, "Feedback", &v1::Recommender::Stub::Feedback, request,
                &response);
  if (!status.ok()) return Error(status);
  return Ok(ToJson(response));
}

ApiAnswer ConsoleApi::Models(const ApiRequest& r) {
  v1::ListModelsResponse response;
  absl::Status status =
      Call::Run(*this, r, "ListModels", &v1::Recommender::Stub::ListModels,
                v1::ListModelsRequest(), &response);
  if (!status.ok()) return Error(status);
  return Ok(ToJson(response));
}

ApiAnswer ConsoleApi::Activate(const ApiRequest& r) {
  v1::ActivateModelRequest request;
  if (absl::Status s = FromJson(r.body, &request); !s.ok()) return Error(s);
  v1::ModelInfo response;
  absl::Status status = Call::Run(*this, r, "ActivateModel",
                                  &v1::Recommender::Stub::ActivateModel,
                                  request, &response, kActivateDeadline);
  if (!status.ok()) return Error(status);
  return Ok(ToJson(response));
}

ApiAnswer ConsoleApi::Experiments(const ApiRequest& r) {
  v1::GetExperimentReportRequest request;
  if (absl::Status s = FromJson(r.body, &request); !s.ok()) return Error(s);
  v1::ExperimentReport report;
  absl::Status status =
      Call::Run(*this, r, "GetExperimentReport",
                &v1::Recommender::Stub::GetExperimentReport, request, &report);
  if (!status.ok()) return Error(status);
  return Ok(ToJson(report));
}

ApiAnswer ConsoleApi::SegmentList(const ApiRequest& r) {
  v1::ListSegmentsResponse response;
  absl::Status status =
      Call::Run(*this, r, "ListSegments", &v1::Recommender::Stub::ListSegments,
                v1::ListSegmentsRequest(), &response);
  if (!status.ok()) return Error(status);
  // One card per top item, however many segments list it.
  google::protobuf::RepeatedPtrField<std::string> ids;
  std::unordered_set<std::string> carded;
  for (const v1::Segment& segment : response.segments()) {
    for (const std::string& id : segment.top_item_ids()) {
      if (carded.insert(id).second) *ids.Add() = id;
    }
  }
  std::string items;
  if (status = ItemsJson(r, ids, &items); !status.ok()) return Error(status);
  return Ok(absl::StrCat("{\"segments\":", ToJson(response),
                         ",\"items\":", items, "}"));
}

// The first page of ExportSegment, and whether there is another: the
// second page is read (at most page_size more ids) only to say so, then
// the call is cancelled, so a segment of a million users costs the
// console two pages, not the whole list.
ApiAnswer ConsoleApi::SegmentUsers(const ApiRequest& r) {
  v1::ExportSegmentRequest request;
  if (absl::Status s = FromJson(r.body, &request); !s.ok()) return Error(s);
  if (absl::Status s = Call::Authorize(*this, r, "ExportSegment"); !s.ok()) {
    return Error(s);
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  std::unique_ptr<grpc::ClientReader<v1::ExportSegmentResponse>> reader =
      stub_->ExportSegment(&context, request);
  v1::ExportSegmentResponse first;
  v1::ExportSegmentResponse next;
  // An empty segment sends no page and finishes OK.
  const bool more = reader->Read(&first) && reader->Read(&next);
  if (more) context.TryCancel();
  const grpc::Status finished = reader->Finish();
  // Cancelled by us: the pages read are complete messages.
  if (!more && !finished.ok()) return Error(Call::FromGrpc(finished));
  return Ok(absl::StrCat("{\"page\":", ToJson(first),
                         ",\"more\":", more ? "true" : "false", "}"));
}

}  // namespace aisle::console
