// Runs the Authenticator for every call on the listening port, through
// gRPC's auth metadata processor: it sees the call's path and headers
// before any handler, and a non-OK answer fails the call with that status.
// The authorization header is consumed there, so handlers (and the access
// log) never see the token.
//
// TLS credentials accept a C++ processor. gRPC's C++ plaintext credentials
// do not (they abort if given one), although the C core supports a
// processor on plaintext ports; PlaintextWithAuth is plaintext credentials
// made through the C API with the processor attached.
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "server/auth.h"

namespace aisle::server {
namespace {

constexpr std::string_view kAuthorization = "authorization";

std::string_view View(const grpc::string_ref& ref) {
  return std::string_view(ref.data(), ref.size());
}

std::string_view View(const grpc_slice& slice) {
  return std::string_view(
      reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
      GRPC_SLICE_LENGTH(slice));
}

// TLS ports: the client certificate's names come from the auth context.
class TlsProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TlsProcessor(std::shared_ptr<Authenticator> auth)
      : auth_(std::move(auth)) {}

  // Check is quick (a digest, a map lookup): it runs inline, not on a
  // separate thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata,
                       grpc::AuthContext* context, OutputMetadata* consumed,
                       OutputMetadata*) override {
    std::string_view path;
    std::optional<std::string_view> authorization;
    for (const auto& [key, value] : metadata) {
      if (View(key) == ":path") path = View(value);
      if (View(key) == kAuthorization) {
        authorization = View(value);
        consumed->emplace(std::string(kAuthorization),
                          std::string(value.data(), value.size()));
      }
    }
    std::vector<std::string> identities;
    if (context != nullptr && context->IsPeerAuthenticated()) {
      for (const char* property :
           {"x509_common_name", "x509_subject_alternative_name"}) {
        for (const grpc::string_ref& name :
             context->FindPropertyValues(property)) {
          identities.emplace_back(name.data(), name.size());
        }
      }
    }
    return auth_->Check(path, authorization, identities);
  }

 private:
  std::shared_ptr<Authenticator> auth_;
};

class PlaintextWithAuth final : public grpc::ServerCredentials {
 public:
  explicit PlaintextWithAuth(std::shared_ptr<Authenticator> auth)
      : auth_(std::move(auth)) {}

  // The processor is fixed at construction.
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& address,
                      grpc_server* server) override {
    grpc_server_credentials* credentials =
        grpc_insecure_server_credentials_create();
    grpc_server_credentials_set_auth_metadata_processor(
        credentials,
        grpc_auth_metadata_processor{
            &Process,
            [](void* state) {
              delete static_cast<std::shared_ptr<Authenticator>*>(state);
            },
            new std::shared_ptr<Authenticator>(auth_)});
    const int port =
        grpc_server_add_http2_port(server, address.c_str(), credentials);
    grpc_server_credentials_release(credentials);
    return port;
  }

  static void Process(void* state, grpc_auth_context*,
                      const grpc_metadata* metadata, size_t count,
                      grpc_process_auth_metadata_done_cb done,
                      void* user_data) {
    Authenticator* auth =
        static_cast<std::shared_ptr<Authenticator>*>(state)->get();
    std::string_view path;
    std::optional<std::string_view> authorization;
    const grpc_metadata* consumed = nullptr;
    for (size_t i = 0; i < count; ++i) {
      if (View(metadata[i].key) == ":path") path = View(metadata[i].value);
      if (View(metadata[i].key) == kAuthorization) {
        authorization = View(metadata[i].value);
        consumed = &metadata[i];
      }
    }
    grpc::Status status = auth->Check(path, authorization, {});
    if (status.ok()) {
      done(user_data, consumed, consumed == nullptr ? 0 : 1, nullptr, 0,
           GRPC_STATUS_OK, nullptr);
    } else {
      done(user_data, nullptr, 0, nullptr, 0,
           static_cast<grpc_status_code>(status.error_code()),
           status.error_message().c_str());
    }
  }

  std::shared_ptr<Authenticator> auth_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> WithAuthentication(
    std::shared_ptr<grpc::ServerCredentials> credentials, bool tls,
    std::shared_ptr<Authenticator> auth) {
  if (!tls) return std::make_shared<PlaintextWithAuth>(std::move(auth));
  credentials->SetAuthMetadataProcessor(
      std::make_shared<TlsProcessor>(std::move(auth)));
  return credentials;
}

}  // namespace aisle::server
