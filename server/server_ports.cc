// AisleServer::Impl::StartPorts: the gRPC server (credentials,
// authentication, the limits on what a call may hold and where it waits),
// the /metrics listener and the web console. server.cc calls it once the
// units exist and before the state is loaded.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "server/server_impl.h"
#include "server/tls.h"
#include "spdlog/spdlog.h"

namespace aisle::server {

absl::Status AisleServer::Impl::StartPorts() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(config.host, ":", config.port);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(config.tls);
  if (!credentials.ok()) return credentials.status();
  if (!config.tls.enabled()) {
    spdlog::warn(
        "gRPC on {}:{} is plaintext: anyone who can reach the port can read "
        "and send requests; set --tls-cert and --tls-key (docs/security.md)",
        config.host, config.port);
  }
  {
    AuthOptions auth_options;
    auth_options.tokens_file = config.auth_tokens_file;
    auth_options.tls_roles_file = config.tls_roles_file;
    auth_options.reload_check_ms = config.auth_reload_check_ms;
    absl::StatusOr<std::unique_ptr<Authenticator>> created =
        Authenticator::Create(auth_options, metrics.get());
    if (!created.ok()) return created.status();
    auth = *std::move(created);
  }
  if (auth->enabled()) {
    *credentials = WithAuthentication(*credentials, config.tls.enabled(), auth);
    if (!config.tls.enabled()) {
      spdlog::warn(
          "bearer tokens travel in clear text on a plaintext port; use TLS "
          "unless a sidecar encrypts the traffic");
    }
  } else {
    spdlog::warn(
        "no --auth-tokens or --tls-roles: every client that reaches the port "
        "may call every method, DeleteUser and ActivateModel included");
  }
  builder.AddListeningPort(address, *credentials, &port);
  // gRPC sets SO_REUSEPORT by default: a second server on a taken port
  // would then start without error and the kernel would spread new
  // connections over both processes (two stores answering for one
  // address). Sharing a port is refused instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Where a call can wait before or while it is worked on, and what bounds
  // each place:
  //   - in the client, for a free stream on its connection: at most
  //     max_concurrent_streams calls per connection are open on the server;
  //     the rest wait in the client, where their deadline applies;
  //   - in the server's transport and callback queue, not yet handled: at
  //     most max_concurrent_streams per connection, their buffers within
  //     the ResourceQuota's memory (past it gRPC refuses new calls), each
  //     message within max_message_bytes; a call whose deadline passed
  //     meanwhile is dropped unworked when picked up (service.h);
  //   - being handled: the admission limit of its class (admission.h);
  //     past it a call is refused at once. An admitted Recommend that
  //     finds every worker busy waits in the service's CallQueue
  //     (call_queue.h), which holds at most max_queued_read calls and sheds
  //     those that waited past max_queue_delay or their deadline;
  //   - for the store's write lock (Ingest) and the engine's lock: only
  //     admitted calls, so at most the write limit.
  // So memory stays bounded by connections x streams x message size and the
  // quota, whatever the offered load.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(config.max_message_bytes, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             config.max_concurrent_streams);
  grpc::ResourceQuota quota("aisle");
  quota.Resize(static_cast<size_t>(config.grpc_memory_bytes));
  if (config.threads > 0) quota.SetMaxThreads(config.threads);
  builder.SetResourceQuota(quota);
  builder.RegisterService(service.get());
  {
    std::lock_guard<std::mutex> lock(health_mu);
    grpc_server = builder.BuildAndStart();
    if (port == 0) grpc_server.reset();
  }
  if (grpc_server == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address,
                     " (port in use? pick another with --port)"));
  }
  // Bound before loading, so clients see NOT_SERVING / UNAVAILABLE while
  // the state is replayed instead of "connection refused".
  SetHealth(false);

  std::string metrics_host;
  if (config.metrics_port >= 0) {
    metrics_host =
        config.metrics_address.empty() ? config.host : config.metrics_address;
    const std::string metrics_address =
        absl::StrCat(metrics_host, ":", config.metrics_port);
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics_address);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", metrics_address, ": ",
                       e.what(), " (pick another --metrics-port or -1)"));
    }
    std::vector<int> ports = exposer->GetListeningPorts();
    metrics_port = ports.empty() ? config.metrics_port : ports.front();
    exposer->RegisterCollectable(metrics->collectable());
    metrics->SetScrapeCallback([this] { RefreshGauges(); });
  }

  {
    auto started = StartConsole(config, grpc_server.get(), auth, metrics.get(),
                                item_activity.get());
    if (!started.ok()) return started.status();
    console = *std::move(started);
  }

  spdlog::info("aisle {}: gRPC on {}:{} ({}), metrics {}; loading {}",
               AISLE_VERSION, config.host, port,
               config.tls.mutual()    ? "mutual TLS"
               : config.tls.enabled() ? "TLS"
                                      : "plaintext",
               metrics_port < 0 ? std::string("disabled")
                                : absl::StrCat("on ", metrics_host, ":",
                                               metrics_port, "/metrics"),
               config.data_dir);
  return absl::OkStatus();
}

}  // namespace aisle::server
