// Calls from the `aisle` client commands to a running server: the
// --target/--timeout flags, the channel, and one unary call with its
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

#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "grpcpp/grpcpp.h"

namespace aisle::cli {

// --target and --timeout, shared by every command that calls the server.
struct ClientFlags {
  std::string target = "localhost:50051";
  std::chrono::milliseconds timeout{5000};
  // Registers --target and --timeout on `parser`.
  void Register(FlagParser& parser);
};

// An insecure channel to `target` with generous (64 MiB) message limits.
std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& target);
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

  // One call with the deadline; nothing printed.
  template <typename Request, typename Response>
  grpc::Status Call(Method<Request, Response> method, const Request& request,
                    Response* response) {
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

  // For streaming calls, which manage their own context.
  Stub& stub() { return *stub_; }
  const ClientFlags& flags() const { return flags_; }

 private:
  ClientFlags flags_;
  std::unique_ptr<Stub> stub_;
};

}  // namespace aisle::cli

#endif  // AISLE_CLI_RPC_H_
