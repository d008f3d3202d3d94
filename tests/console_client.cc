#include "tests/console_client.h"

#include <civetweb.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace aisle::testing {

absl::StatusOr<HttpResponse> Http(int port, const std::string& method,
                                  const std::string& path,
                                  const Headers& headers,
                                  const std::string& body) {
  char error[256] = "";
  mg_connection* conn =
      mg_connect_client("127.0.0.1", port, 0, error, sizeof(error));
  if (conn == nullptr) return absl::UnavailableError(error);
  std::string request = absl::StrCat(method, " ", path, " HTTP/1.1\r\n");
  bool host = false;
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
    host = host || absl::AsciiStrToLower(name) == "host";
  }
  if (!host) absl::StrAppend(&request, "Host: 127.0.0.1:", port, "\r\n");
  absl::StrAppend(&request, "Content-Length: ", body.size(),
                  "\r\nConnection: close\r\n\r\n", body);
  mg_write(conn, request.data(), request.size());
  if (mg_get_response(conn, error, sizeof(error), 30000) < 0) {
    mg_close_connection(conn);
    return absl::UnavailableError(error);
  }
  HttpResponse response;
  const mg_response_info* info = mg_get_response_info(conn);
  response.status = info->status_code;
  for (int i = 0; i < info->num_headers; ++i) {
    response.headers[absl::AsciiStrToLower(info->http_headers[i].name)] =
        info->http_headers[i].value;
  }
  char buffer[8192];
  int n;
  while ((n = mg_read(conn, buffer, sizeof(buffer))) > 0) {
    response.body.append(buffer, n);
  }
  mg_close_connection(conn);
  return response;
}

std::string StringField(const std::string& json, const std::string& key) {
  google::protobuf::Struct s = Parse<google::protobuf::Struct>(json);
  return s.fields().contains(key) ? s.fields().at(key).string_value() : "";
}

std::unique_ptr<grpc::ClientContext> ContextWithToken(
    const std::string& token) {
  auto ctx = ContextWithDeadline();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return ctx;
}

absl::StatusOr<ConsoleClient> ConsoleClient::Connect(int port) {
  absl::StatusOr<HttpResponse> session = Http(port, "GET", "/api/session");
  if (!session.ok()) return session.status();
  if (session->status != 200) {
    return absl::InternalError(absl::StrCat(
        "GET /api/session answered ", session->status, ": ", session->body));
  }
  return ConsoleClient{port, StringField(session->body, "csrfToken")};
}

absl::StatusOr<HttpResponse> ConsoleClient::Post(
    const std::string& path, const std::string& token,
    const std::string& body) const {
  Headers headers = {{"Content-Type", "application/json"},
                     {"X-Aisle-Csrf", csrf},
                     {"Origin", absl::StrCat("http://127.0.0.1:", port)}};
  if (!token.empty()) {
    headers.emplace_back("Authorization", absl::StrCat("Bearer ", token));
  }
  return Http(port, "POST", path, headers, body);
}

absl::StatusOr<HttpResponse> ConsoleClient::Get(
    const std::string& path, const std::string& token) const {
  Headers headers;
  if (!token.empty()) {
    headers.emplace_back("Authorization", absl::StrCat("Bearer ", token));
  }
  return Http(port, "GET", path, headers);
}

}  // namespace aisle::testing
