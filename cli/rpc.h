// Calls from the `aisle` client commands to a running server: the
// --target/--timeout/TLS/token flags, the channel, and one unary call with its
// deadline and, on failure, the error and hint printed (written once for
// every command).
//
// Thread safety: ClientFlags is a plain struct. RecommenderClient may be
// used from one thread at a time (its stub is thread-safe, the object adds
// no state of its own besides the flags).
#ifndef AISLE_CLI_RPC_H_
#define AISLE_CLI_RPC_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "grpcpp/grpcpp.h"

namespace aisle::cli {

// --target and --timeout, and the credentials (TLS files and bearer
// token), shared by every command that calls the server.
struct ClientFlags {
  std::string target = "localhost:50051";
  std::chrono::milliseconds timeout{5000};
  // PEM CA bundle that signs the server's certificate; set (or
  // --tls-cert/--tls-key, or tls) = TLS. Empty with TLS on = the system's
  // CAs.
  std::string tls_ca;
  // Client certificate chain and key, for servers that want mutual TLS.
  std::string tls_cert;
  std::string tls_key;
  // The name checked against the server's certificate instead of the
  // target's host (e.g. when connecting by IP address).
  std::string tls_server_name;
  bool tls = false;
  // Sent as `authorization: Bearer <token>` on every call. Default: the
  // AISLE_TOKEN environment variable (safer than the flag, which other
  // local users can see in the process list).
  std::string token;
  // Registers --target, --timeout, --tls, --tls-ca, --tls-cert, --tls-key,
  // --tls-server-name and --token on `parser` (reads AISLE_TOKEN as the
  // token's default).
  void Register(FlagParser& parser);
  bool UsesTls() const {
    return tls || !tls_ca.empty() || !tls_cert.empty() || !tls_key.empty();
  }
};

// A channel to flags.target with generous (64 MiB) message limits, TLS as
// the flags say, and the bearer token attached to every call. `args` adds
// channel arguments (e.g. to force separate connections). Errors:
// InvalidArgument naming the flag when a TLS file cannot be read, or only
// one of --tls-cert and --tls-key is given.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(
    const ClientFlags& flags, grpc::ChannelArguments args = {});
// Sets the deadline of `context` to now + timeout.
void SetDeadline(grpc::ClientContext* context,
                 std::chrono::milliseconds timeout);

// A Recommender stub on its own channel to flags.target, whose unary calls
// each get a deadline of flags.timeout.
//
//   RecommenderClient rpc(client_flags);
//   v1::FeedbackResponse response;
//   if (auto exit = rpc.CallOrExit(&Stub::Feedback, request, &response)) {
//     return *exit;  // the error and what to do are printed
//   }
class RecommenderClient {
 public:
  using Stub = v1::Recommender::Stub;
  template <typename Request, typename Response>
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&,
                                        Response*);

  explicit RecommenderClient(const ClientFlags& flags);

  // One call with the deadline; nothing printed. INVALID_ARGUMENT without
  // calling when the channel could not be made (channel_status()).
  template <typename Request, typename Response>
  grpc::Status Call(Method<Request, Response> method, const Request& request,
                    Response* response) {
    if (!channel_status_.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          std::string(channel_status_.message()));
    }
    grpc::ClientContext context;
    SetDeadline(&context, flags_.timeout);
    return (stub_.get()->*method)(&context, request, response);
  }

  // One call with the deadline. nullopt on success; otherwise prints the
  // error and a hint (ReportRpcError) and returns kExitFailure.
  template <typename Request, typename Response>
  std::optional<int> CallOrExit(Method<Request, Response> method,
                                const Request& request, Response* response) {
    grpc::Status status = Call(method, request, response);
    if (status.ok()) return std::nullopt;
    return ReportRpcError(status, flags_.target);
  }

  // For streaming calls, which manage their own context. REQUIRES
  // channel_status().ok().
  Stub& stub() { return *stub_; }
  const ClientFlags& flags() const { return flags_; }
  // Why the channel could not be made (MakeClientChannel), or OK.
  const absl::Status& channel_status() const { return channel_status_; }

 private:
  ClientFlags flags_;
  absl::Status channel_status_;
  std::unique_ptr<Stub> stub_;
};

}  // namespace aisle::cli

#endif  // AISLE_CLI_RPC_H_
