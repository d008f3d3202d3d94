// Who may call what: credentials with roles, checked for every call before
// the service sees it.
//
// Credentials:
//   - bearer tokens (--auth-tokens FILE): the client sends
//     `authorization: Bearer <token>`; the file has one `role token` per
//     line;
//   - mutual-TLS identities (--tls-roles FILE): one `role identity` per
//     line, where identity is the client certificate's common name or one
//     of its subject alternative names.
// In both files blank lines and lines starting with '#' are skipped, roles
// are `read`, `write` and `admin`, and tokens have at least 16 characters.
// The files are re-read when they change (checked at most every
// reload_check_ms on the call path); a file that no longer parses is
// logged and the previous credentials stay in force.
//
// Roles are ordered: admin can do what write can, write what read can.
//   read:  Recommend, GetItem, GetModelInfo, ListModels, Rank,
//          GetExperimentReport
//   write: Feedback, ImportEvents, UpsertItems, DeleteItems
//   admin: GetUser (personal data), DeleteUser, ActivateModel
// Health checking and reflection stay open. Any other method needs admin,
// so a method added to the service is closed until it is listed here.
//
// A call to a protected method without any credential is refused with
// UNAUTHENTICATED, as is one with a token not in the file; a credential
// whose best role is too low gets PERMISSION_DENIED. Both are counted in
// aisle_auth_refused_total{method,code}. Tokens are never logged and are
// compared in constant time (SHA-256 digests compared with
// CRYPTO_memcmp); only their digests are kept in memory.
//
// Without either file every call is allowed (the server logs a warning).
//
// Thread safety: Authenticator::Check may be called concurrently.
#ifndef AISLE_SERVER_AUTH_H_
#define AISLE_SERVER_AUTH_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/status.h"
#include "server/metrics.h"

namespace aisle::server {

enum class Role { kRead = 1, kWrite = 2, kAdmin = 3 };
std::string_view RoleName(Role role);  // "read", "write", "admin"

// The role the method with this gRPC path ("/aisle.v1.Recommender/GetUser")
// needs; nullopt for the open services (health, reflection).
std::optional<Role> RequiredRole(std::string_view path);

struct AuthOptions {
  // --auth-tokens: `role token` lines. "" = no tokens.
  std::string tokens_file;
  // --tls-roles: `role identity` lines. "" = identities grant nothing.
  std::string tls_roles_file;
  // How often a call may check the files for changes. 0 = every call
  // (tests). Default: 1 s.
  int64_t reload_check_ms = 1000;
};

class Authenticator {
 public:
  // Reads the files. Errors: NotFound naming the flag when a file cannot
  // be read; InvalidArgument naming the flag, file and line (never the
  // token) when it does not parse.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(
      const AuthOptions& options, Metrics* metrics);
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // False when neither file is configured: Check allows everything.
  bool enabled() const { return enabled_; }

  // Decides one call. `path` is the gRPC method path, `authorization` the
  // value of the authorization header if sent, `identities` the verified
  // client certificate's names (empty without mutual TLS). OK, or
  // UNAUTHENTICATED / PERMISSION_DENIED with a message saying what the
  // method needs (counted in metrics).
  grpc::Status Check(std::string_view path,
                     std::optional<std::string_view> authorization,
                     const std::vector<std::string>& identities);

  // Re-reads the files if they changed since the last read.
  void ReloadIfChanged();

  struct Credentials;  // parsed files (auth.cc)

 private:
  Authenticator(const AuthOptions& options, Metrics* metrics);
  grpc::Status Refuse(std::string_view path, grpc::StatusCode code,
                      std::string message);

  const AuthOptions options_;
  const bool enabled_;
  Metrics* const metrics_;
  std::atomic<int64_t> next_check_ms_{0};
  absl::Mutex reload_mu_;  // one reload at a time
  mutable absl::Mutex mu_;
  std::shared_ptr<const Credentials> credentials_ ABSL_GUARDED_BY(mu_);
};

// Attaches `auth` to `credentials` so that it runs for every call on the
// port, plaintext or TLS. The returned credentials wrap `credentials` and
// keep `auth` alive. `auth` must be enabled().
std::shared_ptr<grpc::ServerCredentials> WithAuthentication(
    std::shared_ptr<grpc::ServerCredentials> credentials, bool tls,
    std::shared_ptr<Authenticator> auth);

}  // namespace aisle::server

#endif  // AISLE_SERVER_AUTH_H_
