// Test helpers for the web console's JSON API (console/, docs/console.md):
// plain HTTP/1.1 requests to the console port on loopback with civetweb's
// client, and requests as the page sends them (bearer token, CSRF token,
// JSON body, own Origin). Used by tests/console*_test.cc.
//
// Thread safety: ConsoleClient is a value; its calls open one connection
// each and may run concurrently.
#ifndef AISLE_TESTS_CONSOLE_CLIENT_H_
#define AISLE_TESTS_CONSOLE_CLIENT_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"

namespace aisle::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// One HTTP/1.1 request to 127.0.0.1:port; "Host" is 127.0.0.1:port unless
// `headers` sets it. Errors: Unavailable when the connection or the
// response fails (30 s timeout).
absl::StatusOr<HttpResponse> Http(int port, const std::string& method,
                                  const std::string& path,
                                  const Headers& headers = {},
                                  const std::string& body = "");

// `json` parsed as a Message with protobuf's JSON mapping; a parse failure
// is a test failure (and an empty message).
template <class Message>
Message Parse(const std::string& json) {
  Message message;
  google::protobuf::util::JsonParseOptions options;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(json, &message, options).ok())
      << json;
  return message;
}

// The member `key` of the JSON object `json`, parsed as a Message (an empty
// one when absent).
template <class Message>
Message Member(const std::string& json, const std::string& key) {
  google::protobuf::Struct s = Parse<google::protobuf::Struct>(json);
  std::string member;
  if (s.fields().contains(key)) {
    EXPECT_TRUE(
        google::protobuf::util::MessageToJsonString(s.fields().at(key), &member)
            .ok());
  }
  return Parse<Message>(member.empty() ? "{}" : member);
}

// The value of "key": "..." in a flat JSON object; "" when absent.
std::string StringField(const std::string& json, const std::string& key);

// A gRPC ClientContext with the test deadline (ContextWithDeadline) and
// `token` as its bearer credential: the gRPC call a console answer is
// compared with.
std::unique_ptr<grpc::ClientContext> ContextWithToken(const std::string& token);

// Calls to one console as its page makes them.
struct ConsoleClient {
  int port = 0;
  std::string csrf;  // from GET /api/session

  // Fetches the CSRF token. Errors: Unavailable as Http, Internal when the
  // session is not answered with 200.
  static absl::StatusOr<ConsoleClient> Connect(int port);

  // A POST as the page sends it: token (none when empty), CSRF token, JSON
  // content type, the console's own Origin.
  absl::StatusOr<HttpResponse> Post(const std::string& path,
                                    const std::string& token,
                                    const std::string& body) const;
  // A GET with the token (none when empty).
  absl::StatusOr<HttpResponse> Get(const std::string& path,
                                   const std::string& token) const;
};

}  // namespace aisle::testing

#endif  // AISLE_TESTS_CONSOLE_CLIENT_H_
