// ConsoleServer: the web console of `aisle serve` (docs/console.md): a few
// pages for the people who run a store's recommendations, and the small
// JSON API they call, served over HTTP by civetweb from the same process.
//
// The API answers exactly what the gRPC API would, because it calls the
// gRPC service itself, through an in-process channel (no socket): the same
// validation, engine and store calls, admission and metrics. An API call
// is counted in the aisle_grpc_* metrics like any other call. One
// exception: the Item page's counts (how often the item was recommended,
// clicked, bought) come from the server's own counters (item_counts), as
// no gRPC method reports them; they are read only after the caller was
// allowed GetItem.
//
// Credentials: the page sends the gRPC bearer token in the Authorization
// header of each API call, and the console asks `authorize` (the server's
// Authenticator) whether that token may call the gRPC method the API call
// makes, before making it. So the roles are those of the gRPC API: read to
// view, admin for a shopper's profile (GetUser) and for model changes.
//
// Changing requests (every POST) must carry the per-process CSRF token,
// which the page reads from GET /api/session, in the X-Aisle-Csrf header,
// have Content-Type application/json, and come from the console's own
// origin when the browser says where it comes from (Origin). User and item
// ids travel in POST bodies, never in URLs, so they are not in any log.
// Every answer carries a strict Content-Security-Policy (scripts only from
// the console's own files, no inline code, no framing).
//
// The pages (HTML, CSS, JavaScript in console/assets/) are compiled into
// the binary (console_assets.h): nothing to deploy.
//
// Thread safety: Start and Stop may be called from any thread; civetweb
// serves requests on its own worker threads.
#ifndef AISLE_CONSOLE_CONSOLE_SERVER_H_
#define AISLE_CONSOLE_CONSOLE_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "prometheus/collectable.h"

namespace aisle::console {

// How often one item was recommended and acted on, as the server counted
// it since `since_ms` (server/item_activity.h; the Item page).
struct ItemCounts {
  int64_t recommended = 0, views = 0, clicks = 0, add_to_carts = 0,
          purchases = 0;
  int64_t since_ms = 0;
  bool partial = false;  // the server stopped counting new items (its cap)
};

struct ConsoleOptions {
  // Address and port to listen on. Port 0 = ephemeral (tests).
  // Default: 127.0.0.1 (loopback only), no port.
  std::string host = "127.0.0.1";
  int port = 0;
  // A channel to the aisle.v1.Recommender service of this process
  // (grpc::Server::InProcessChannel). Required.
  std::shared_ptr<grpc::Channel> channel;
  // Decides whether a caller presenting `authorization` (the value of its
  // Authorization header; nullopt when none was sent) may call the gRPC
  // method `method_path` ("/aisle.v1.Recommender/GetUser"): OK, or
  // UNAUTHENTICATED / PERMISSION_DENIED with a message. Null: everything is
  // allowed (the server runs without credentials).
  std::function<absl::Status(std::string_view method_path,
                             std::optional<std::string_view> authorization)>
      authorize;
  // The server's metrics (server/metrics.h), read for the overview's rates
  // and latencies. Null: the overview shows none.
  std::shared_ptr<prometheus::Collectable> metrics;
  // The server's per-item counters, read for the Item page after the
  // caller was allowed GetItem (no gRPC method reports them). Null: the
  // page says they are not counted.
  std::function<ItemCounts(std::string_view item_id)> item_counts;
  // How often the overview samples the metrics, in ms; it keeps the last
  // 60 samples. -1: only when /api/overview is asked (tests). Default: 2 s.
  int64_t sample_interval_ms = 2000;
  // civetweb worker threads. Default: 4.
  int threads = 4;
};

class ConsoleServer {
 public:
  // Starts listening. Errors: InvalidArgument when channel is null;
  // Unavailable when host:port cannot be bound.
  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(
      ConsoleOptions options);
  ~ConsoleServer();  // Stop()
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  // The bound port (the actual one when options.port was 0).
  int port() const;
  // Stops accepting, waits for requests being served, stops the sampler.
  // Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aisle::console

#endif  // AISLE_CONSOLE_CONSOLE_SERVER_H_
