// Client-side gRPC plumbing of the `aisle` commands.
#include "cli/rpc.h"

namespace aisle::cli {

void ClientFlags::Register(FlagParser& parser) {
  parser.String("target", &target, "server address host:port");
  parser.Duration("timeout", &timeout,
                  "deadline of each call (e.g. 500ms, 5s, 1m)");
}

std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

void SetDeadline(grpc::ClientContext* context,
                 std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

RecommenderClient::RecommenderClient(const ClientFlags& flags)
    : flags_(flags),
      stub_(v1::Recommender::NewStub(MakeClientChannel(flags.target))) {}

}  // namespace aisle::cli
