#include "console/console_server.h"

#include <civetweb.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "console/api.h"
#include "console/assets.h"
#include "console/metrics_history.h"

namespace aisle::console {
namespace {

// API request bodies are a few ids and options; a FeedbackRequest of 1000
// events stays well below this.
constexpr int64_t kMaxBodyBytes = 1 << 20;
constexpr int kHistorySamples = 60;

// Sent with every answer. Scripts and styles only from the console's own
// files (no inline code, no eval), API calls only to itself, never framed.
constexpr const char* kSecurityHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cross-Origin-Opener-Policy: same-origin\r\n"
    "Cross-Origin-Resource-Policy: same-origin\r\n";

std::string RandomToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // OpenSSL's generator seeds from the kernel; failing here means the
    // machine has no entropy source at all.
    std::abort();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

bool IsLoopback(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" ||
         host == "[::1]";
}

// `head`: the headers of the answer only (HEAD requests).
void Send(mg_connection* conn, int status, std::string_view content_type,
          std::string_view cache_control, std::string_view body,
          bool head = false) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: %.*s\r\n%sConnection: close\r\n\r\n",
            status, mg_get_response_code_text(conn, status),
            static_cast<int>(content_type.size()), content_type.data(),
            body.size(), static_cast<int>(cache_control.size()),
            cache_control.data(), kSecurityHeaders);
  if (!head) mg_write(conn, body.data(), body.size());
}

void SendApi(mg_connection* conn, const ApiAnswer& answer) {
  Send(conn, answer.http_status, "application/json; charset=utf-8", "no-store",
       answer.body);
}

absl::string_view Header(mg_connection* conn, const char* name) {
  const char* value = mg_get_header(conn, name);
  return value == nullptr ? absl::string_view() : absl::string_view(value);
}

}  // namespace

struct ConsoleServer::Impl {
  ConsoleOptions options;
  std::string csrf_token = RandomToken();
  MetricsHistory history;
  ConsoleApi api;
  mg_context* ctx = nullptr;
  int port = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread sampler;

  explicit Impl(ConsoleOptions o)
      : options(std::move(o)),
        history(options.metrics, kHistorySamples),
        api(options, &history, csrf_token) {}

  static int HandleRequest(mg_connection* conn, void* self) {
    static_cast<Impl*>(self)->Serve(conn);
    return 1;  // handled
  }

  // Refuses a Host the console is not reached by when it listens on
  // loopback only: a page on another site whose name was re-pointed to
  // 127.0.0.1 (DNS rebinding) sends its own name as Host.
  bool HostAllowed(mg_connection* conn) const {
    if (!IsLoopback(options.host)) return true;
    absl::string_view host = Header(conn, "Host");
    for (const char* name : {"127.0.0.1", "localhost", "[::1]"}) {
      if (host == absl::StrCat(name, ":", port)) return true;
    }
    return false;
  }

  // The checks of a changing request (console_server.h): OK, or the
  // refusal to answer with.
  absl::Status CheckChangingRequest(mg_connection* conn) const {
    absl::string_view sent = Header(conn, "X-Aisle-Csrf");
    if (sent.size() != csrf_token.size() ||
        CRYPTO_memcmp(sent.data(), csrf_token.data(), sent.size()) != 0) {
      return absl::PermissionDeniedError(
          "X-Aisle-Csrf: missing or not this server's token (GET "
          "/api/session gives it; reload the page after a restart)");
    }
    absl::string_view origin = Header(conn, "Origin");
    if (!origin.empty() &&
        origin != absl::StrCat("http://", Header(conn, "Host"))) {
      return absl::PermissionDeniedError(
          absl::StrCat("Origin: ", origin, " is not this console"));
    }
    if (!absl::StartsWithIgnoreCase(Header(conn, "Content-Type"),
                                    "application/json")) {
      return absl::InvalidArgumentError(
          "Content-Type: must be application/json");
    }
    return absl::OkStatus();
  }

  void Serve(mg_connection* conn) {
    const mg_request_info* info = mg_get_request_info(conn);
    const std::string method = info->request_method;
    const std::string path = info->local_uri == nullptr ? "" : info->local_uri;
    if (!HostAllowed(conn)) {
      SendApi(conn, ConsoleApi::Error(absl::PermissionDeniedError(
                        "Host: not a loopback name of this console")));
      return;
    }
    if (!absl::StartsWith(path, "/api/")) {
      ServeAsset(conn, method, path);
      return;
    }
    ApiRequest request;
    request.method = method;
    request.path = path;
    if (method == "POST") {
      if (absl::Status s = CheckChangingRequest(conn); !s.ok()) {
        SendApi(conn, ConsoleApi::Error(s));
        return;
      }
      // Stops one buffer past the limit at most, so that a body without a
      // Content-Length is bounded too.
      char buffer[8192];
      int n;
      while (info->content_length <= kMaxBodyBytes &&
             static_cast<int64_t>(request.body.size()) <= kMaxBodyBytes &&
             (n = mg_read(conn, buffer, sizeof(buffer))) > 0) {
        request.body.append(buffer, n);
      }
      if (info->content_length > kMaxBodyBytes ||
          static_cast<int64_t>(request.body.size()) > kMaxBodyBytes) {
        ApiAnswer answer = ConsoleApi::Error(absl::InvalidArgumentError(
            absl::StrCat("body: at most ", kMaxBodyBytes, " bytes")));
        answer.http_status = 413;
        SendApi(conn, answer);
        return;
      }
    }
    if (const char* auth = mg_get_header(conn, "Authorization")) {
      request.authorization = auth;
    }
    SendApi(conn, api.Handle(request));
  }

  void ServeAsset(mg_connection* conn, const std::string& method,
                  const std::string& path) {
    const Asset* asset = FindAsset(path == "/" ? "/index.html" : path);
    if (asset == nullptr || (method != "GET" && method != "HEAD")) {
      Send(conn, asset == nullptr ? 404 : 405, "text/plain; charset=utf-8",
           "no-store", asset == nullptr ? "not found\n" : "use GET\n");
      return;
    }
    // no-cache: revalidated, so a new build's pages apply at once.
    Send(conn, 200, asset->content_type, "no-cache", asset->data,
         method == "HEAD");
  }

  void SampleLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      lock.unlock();
      history.Sample(absl::ToUnixMillis(absl::Now()));
      lock.lock();
      cv.wait_for(lock, std::chrono::milliseconds(options.sample_interval_ms),
                  [this] { return stopping; });
    }
  }
};

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    ConsoleOptions options) {
  if (options.channel == nullptr) {
    return absl::InvalidArgumentError("console: no channel to the service");
  }
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });

  auto impl = std::make_unique<Impl>(std::move(options));
  const ConsoleOptions& o = impl->options;
  const std::string host =
      absl::StrContains(o.host, ':') && !absl::StartsWith(o.host, "[")
          ? absl::StrCat("[", o.host, "]")
          : o.host;
  const std::string listen = absl::StrCat(host, ":", o.port);
  const std::string threads = absl::StrCat(o.threads > 0 ? o.threads : 4);
  const char* mg_options[] = {
      "listening_ports",    listen.c_str(), "num_threads", threads.c_str(),
      "request_timeout_ms", "30000",        nullptr};
  mg_callbacks callbacks{};
  impl->ctx = mg_start(&callbacks, impl.get(), mg_options);
  if (impl->ctx == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("console: cannot listen on ", listen,
                     " (port in use? pick another with --console-port)"));
  }
  mg_server_port ports[4];
  int n = mg_get_server_ports(impl->ctx, 4, ports);
  impl->port = n > 0 ? ports[0].port : o.port;
  mg_set_request_handler(impl->ctx, "/", &Impl::HandleRequest, impl.get());
  if (o.sample_interval_ms > 0) {
    Impl* raw = impl.get();
    impl->sampler = std::thread([raw] { raw->SampleLoop(); });
  }
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ConsoleServer::~ConsoleServer() { Stop(); }

int ConsoleServer::port() const { return impl_->port; }

void ConsoleServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->sampler.joinable()) impl_->sampler.join();
  // Waits for the requests being served.
  if (impl_->ctx != nullptr) mg_stop(impl_->ctx);
  impl_->ctx = nullptr;
}

}  // namespace aisle::console
