// ConsoleApi: the console's JSON API (docs/console.md), independent of the
// HTTP server: one request in, one answer out.
//
// Every endpoint is a composition of aisle.v1.Recommender calls made
// through `channel` (the process's own service), each authorised first for
// its gRPC method with the caller's Authorization header. Messages go to
// and from JSON with protobuf's JSON mapping (the proto3 JSON of the gRPC
// API's own messages, with lowerCamelCase field names and enum names), so
// a field means in the console what it means in the gRPC API.
//
// Errors are answered as {"code": "<gRPC code name>", "message": "..."}
// with the HTTP status matching the code (400 INVALID_ARGUMENT, 401
// UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 409
// ALREADY_EXISTS / FAILED_PRECONDITION, 429 RESOURCE_EXHAUSTED, 503
// UNAVAILABLE, 504 DEADLINE_EXCEEDED, else 500).
//
// Thread safety: Handle may be called concurrently.
#ifndef AISLE_CONSOLE_API_H_
#define AISLE_CONSOLE_API_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "console/console_server.h"
#include "console/metrics_history.h"

namespace aisle::console {

struct ApiRequest {
  std::string method;  // "GET" or "POST"
  std::string path;    // "/api/models"
  std::optional<std::string> authorization;
  std::string body;  // JSON for POST
};

struct ApiAnswer {
  int http_status = 200;
  std::string body;  // JSON
};

class ConsoleApi {
 public:
  // `history` is borrowed and must outlive the API; `csrf_token` is what
  // GET /api/session hands out.
  ConsoleApi(const ConsoleOptions& options, MetricsHistory* history,
             std::string csrf_token);

  // Answers one API request; 404 for an unknown path, 405 for a known path
  // with the wrong method.
  ApiAnswer Handle(const ApiRequest& request);

  // The error answer for `status` (used by the HTTP layer too).
  static ApiAnswer Error(const absl::Status& status);

 private:
  class Call;

  ApiAnswer Session();
  ApiAnswer Overview(const ApiRequest& r);
  ApiAnswer User(const ApiRequest& r);
  ApiAnswer Recommend(const ApiRequest& r);
  ApiAnswer Item(const ApiRequest& r);
  ApiAnswer Feedback(const ApiRequest& r);
  ApiAnswer Models(const ApiRequest& r);
  ApiAnswer Activate(const ApiRequest& r);
  ApiAnswer Experiments(const ApiRequest& r);
  ApiAnswer SegmentList(const ApiRequest& r);
  ApiAnswer SegmentUsers(const ApiRequest& r);

  // A Recommend call with explain set, and the Item of every recommended
  // item that still exists: {"response": RecommendResponse, "items":
  // [Item]} into *json.
  absl::Status RecommendWithItems(const ApiRequest& r,
                                  v1::RecommendRequest request,
                                  std::string* json);
  // The server's counts for the item page: an object, or null.
  std::string ActivityJson(const std::string& item_id) const;
  // The Items of `ids` that exist, as a JSON array.
  absl::Status ItemsJson(
      const ApiRequest& r,
      const google::protobuf::RepeatedPtrField<std::string>& ids,
      std::string* json);

  const ConsoleOptions options_;
  std::unique_ptr<v1::Recommender::Stub> stub_;
  MetricsHistory* const history_;
  const std::string csrf_token_;
};

}  // namespace aisle::console

#endif  // AISLE_CONSOLE_API_H_
