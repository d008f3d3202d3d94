// Client-side gRPC plumbing of the `aisle` commands.
#include "cli/rpc.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/client_interceptor.h"
#include "server/config.h"

namespace aisle::cli {
namespace {

// Adds `authorization: Bearer <token>` to every call of the channel, so
// that unary calls, streams and loadgen's callback calls all carry it
// without each building its own metadata.
class BearerInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* header) : header_(header) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;  // owned by the factory, which the channel keeps
};

class BearerInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerInterceptor(&header_);
  }

 private:
  const std::string header_;
};

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const ClientFlags& flags) {
  if (!flags.UsesTls()) return grpc::InsecureChannelCredentials();
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flags.tls_cert.empty() ? "--tls-cert" : "--tls-key",
        ": missing; a client certificate needs both --tls-cert and "
        "--tls-key"));
  }
  grpc::SslCredentialsOptions options;
  if (!flags.tls_ca.empty()) {
    absl::StatusOr<std::string> ca =
        server::ReadFlagFile("--tls-ca", flags.tls_ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (!flags.tls_cert.empty()) {
    absl::StatusOr<std::string> cert =
        server::ReadFlagFile("--tls-cert", flags.tls_cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key =
        server::ReadFlagFile("--tls-key", flags.tls_key);
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

}  // namespace

void ClientFlags::Register(FlagParser& parser) {
  parser.String("target", &target, "server address host:port");
  parser.Duration("timeout", &timeout,
                  "deadline of each call (e.g. 500ms, 5s, 1m)");
  parser.Bool("tls", &tls, "use TLS with the system's CAs");
  parser.String("tls-ca", &tls_ca,
                "PEM CA bundle that signed the server's certificate (turns "
                "on TLS)");
  parser.String("tls-cert", &tls_cert,
                "PEM client certificate, for mutual TLS (with --tls-key)");
  parser.String("tls-key", &tls_key, "PEM private key of --tls-cert");
  parser.String("tls-server-name", &tls_server_name,
                "name to check the server's certificate against instead of "
                "the target's host");
  parser.String("token", &token,
                "bearer token for a server with --auth-tokens (default: "
                "$AISLE_TOKEN, which other users cannot see in ps)");
  // Read after registering, so that --help never shows the token as the
  // flag's default.
  if (const char* env = std::getenv("AISLE_TOKEN"); env != nullptr) {
    token = env;
  }
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(
    const ClientFlags& flags, grpc::ChannelArguments args) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials(flags);
  if (!credentials.ok()) return credentials.status();
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  if (!flags.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(flags.tls_server_name);
  }
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  if (!flags.token.empty()) {
    interceptors.push_back(
        std::make_unique<BearerInterceptorFactory>(flags.token));
  }
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      flags.target, *credentials, args, std::move(interceptors));
}

void SetDeadline(grpc::ClientContext* context,
                 std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

RecommenderClient::RecommenderClient(const ClientFlags& flags) : flags_(flags) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeClientChannel(flags);
  if (channel.ok()) {
    stub_ = v1::Recommender::NewStub(*channel);
  } else {
    channel_status_ = channel.status();
  }
}

}  // namespace aisle::cli
