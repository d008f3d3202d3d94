// Credentials with roles: the files, the method table, the decision.
// auth_credentials.cc attaches the decision to the listening port.
#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <array>
#include <fstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "core/string_view.h"
#include "server/config.h"
#include "spdlog/spdlog.h"

namespace aisle::server {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

struct Authenticator::Credentials {
  std::vector<std::pair<Digest, Role>> tokens;
  absl::flat_hash_map<std::string, Role> identities;
  // What the files looked like when read: (mtime ns, size, inode) each.
  std::array<int64_t, 6> signature{};
};

namespace {

constexpr std::string_view kServicePrefix = "/aisle.v1.Recommender/";
constexpr size_t kMinTokenLength = 16;

struct MethodRole {
  Method method;
  Role role;
};
constexpr MethodRole kMethodRoles[] = {
    {Method::kRecommend, Role::kRead},
    {Method::kGetItem, Role::kRead},
    {Method::kGetModelInfo, Role::kRead},
    {Method::kListModels, Role::kRead},
    {Method::kFeedback, Role::kWrite},
    {Method::kImportEvents, Role::kWrite},
    {Method::kUpsertItems, Role::kWrite},
    {Method::kDeleteItems, Role::kWrite},
    {Method::kUpsertUsers, Role::kWrite},
    {Method::kGetUser, Role::kAdmin},
    {Method::kDeleteUser, Role::kAdmin},
    {Method::kActivateModel, Role::kAdmin},
    {Method::kGetExperimentReport, Role::kRead},
    {Method::kRank, Role::kRead},
    {Method::kListSegments, Role::kRead},
    {Method::kExportSegment, Role::kRead},
    {Method::kMergeUsers, Role::kWrite},
};
static_assert(std::size(kMethodRoles) == kNumMethods,
              "every method of the service has a role");

// Services any client may call: probes and tooling that reveal no data.
constexpr std::string_view kOpenPrefixes[] = {
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
};

std::optional<Method> MethodOf(std::string_view std_path) {
  absl::string_view path = core::ToAbsl(std_path);
  if (!absl::ConsumePrefix(&path, core::ToAbsl(kServicePrefix))) {
    return std::nullopt;
  }
  for (const MethodRole& entry : kMethodRoles) {
    if (core::ToAbsl(MethodName(entry.method)) == path) return entry.method;
  }
  return std::nullopt;
}

Digest Sha256(std::string_view text) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest.data());
  return digest;
}

std::optional<Role> ParseRole(absl::string_view text) {
  if (text == "read") return Role::kRead;
  if (text == "write") return Role::kWrite;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

// Changes when the file is rewritten or replaced by a rename.
std::array<int64_t, 3> FileSignature(const std::string& path) {
  struct stat st {};
  if (path.empty() || stat(path.c_str(), &st) != 0) return {-1, -1, -1};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
              st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_ino)};
}

// Reads `role value` lines; calls add(role, value, where) for each.
template <typename Add>
absl::Status ReadRoleFile(absl::string_view flag, const std::string& path,
                          Add add) {
  return ForEachFlagFileLine(
      core::ToStd(flag), path,
      [&](absl::string_view text, int line_no) -> absl::Status {
        const std::string where = absl::StrCat(flag, ": ", path, ":", line_no);
        std::vector<absl::string_view> fields =
            absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
        if (fields.size() != 2) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": expected `role ",
                           flag == "--auth-tokens" ? "token" : "identity",
                           "` (two fields), got ", fields.size()));
        }
        std::optional<Role> role = ParseRole(fields[0]);
        if (!role.has_value()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": role must be read, write or admin, got \"",
                           fields[0], "\""));
        }
        return add(*role, fields[1], where);
      });
}

absl::StatusOr<std::shared_ptr<const Authenticator::Credentials>> ReadFiles(
    const AuthOptions& options) {
  auto credentials = std::make_shared<Authenticator::Credentials>();
  const auto tokens_signature = FileSignature(options.tokens_file);
  const auto roles_signature = FileSignature(options.tls_roles_file);
  std::copy(tokens_signature.begin(), tokens_signature.end(),
            credentials->signature.begin());
  std::copy(roles_signature.begin(), roles_signature.end(),
            credentials->signature.begin() + 3);
  if (!options.tokens_file.empty()) {
    absl::Status status = ReadRoleFile(
        "--auth-tokens", options.tokens_file,
        [&](Role role, absl::string_view token,
            const std::string& where) -> absl::Status {
          // The message names the line, never the token.
          if (token.size() < kMinTokenLength) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, ": token too short (at least ", kMinTokenLength,
                " characters; e.g. `openssl rand -hex 32`)"));
          }
          const Digest digest = Sha256(core::ToStd(token));
          for (const auto& [existing, unused] : credentials->tokens) {
            if (existing == digest) {
              return absl::InvalidArgumentError(
                  absl::StrCat(where, ": token listed twice"));
            }
          }
          credentials->tokens.emplace_back(digest, role);
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
  }
  if (!options.tls_roles_file.empty()) {
    absl::Status status = ReadRoleFile(
        "--tls-roles", options.tls_roles_file,
        [&](Role role, absl::string_view identity,
            const std::string& where) -> absl::Status {
          if (!credentials->identities.emplace(identity, role).second) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, ": identity \"", identity, "\" listed twice"));
          }
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
  }
  return credentials;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<Role> RequiredRole(std::string_view path) {
  for (std::string_view open : kOpenPrefixes) {
    if (absl::StartsWith(core::ToAbsl(path), core::ToAbsl(open))) {
      return std::nullopt;
    }
  }
  if (std::optional<Method> method = MethodOf(path); method.has_value()) {
    for (const MethodRole& entry : kMethodRoles) {
      if (entry.method == *method) return entry.role;
    }
  }
  return Role::kAdmin;
}

Authenticator::Authenticator(const AuthOptions& options, Metrics* metrics)
    : options_(options),
      enabled_(!options.tokens_file.empty() || !options.tls_roles_file.empty()),
      metrics_(metrics) {}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    const AuthOptions& options, Metrics* metrics) {
  absl::StatusOr<std::shared_ptr<const Credentials>> credentials =
      ReadFiles(options);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<Authenticator> auth(new Authenticator(options, metrics));
  {
    absl::MutexLock lock(&auth->mu_);  // not shared yet; keeps the rule
    auth->credentials_ = *std::move(credentials);
  }
  auth->next_check_ms_ = NowMs() + options.reload_check_ms;
  return auth;
}

void Authenticator::ReloadIfChanged() {
  absl::MutexLock reload_lock(&reload_mu_);
  std::shared_ptr<const Credentials> current;
  {
    absl::MutexLock lock(&mu_);
    current = credentials_;
  }
  const auto tokens = FileSignature(options_.tokens_file);
  const auto roles = FileSignature(options_.tls_roles_file);
  if (std::equal(tokens.begin(), tokens.end(), current->signature.begin()) &&
      std::equal(roles.begin(), roles.end(), current->signature.begin() + 3)) {
    return;
  }
  absl::StatusOr<std::shared_ptr<const Credentials>> fresh =
      ReadFiles(options_);
  if (!fresh.ok()) {
    // Keep serving with what was valid; the message names no token. The
    // failed file's signature is not recorded, so it is retried (and
    // logged) at every check until it is fixed.
    spdlog::error("credentials not reloaded, the previous ones stay: {}",
                  fresh.status().ToString());
    return;
  }
  spdlog::info("credentials reloaded: {} tokens, {} TLS identities",
               (*fresh)->tokens.size(), (*fresh)->identities.size());
  absl::MutexLock lock(&mu_);
  credentials_ = *std::move(fresh);
}

grpc::Status Authenticator::Refuse(std::string_view path, grpc::StatusCode code,
                                   std::string message) {
  if (std::optional<Method> method = MethodOf(path); method.has_value()) {
    metrics_->AuthRefused(*method, code);
  }
  spdlog::debug("refused {}: {}", path, message);
  return grpc::Status(code, std::move(message));
}

grpc::Status Authenticator::Check(std::string_view path,
                                  std::optional<std::string_view> authorization,
                                  const std::vector<std::string>& identities) {
  if (!enabled_) return grpc::Status::OK;
  const std::optional<Role> needed = RequiredRole(path);
  if (!needed.has_value()) return grpc::Status::OK;
  const int64_t now = NowMs();
  if (int64_t due = next_check_ms_.load(std::memory_order_relaxed);
      now >= due && next_check_ms_.compare_exchange_strong(
                        due, now + options_.reload_check_ms)) {
    ReloadIfChanged();
  }
  std::shared_ptr<const Credentials> credentials;
  {
    absl::MutexLock lock(&mu_);
    credentials = credentials_;
  }

  std::optional<Role> best;
  auto grant = [&best](Role role) {
    if (!best.has_value() || *best < role) best = role;
  };
  for (const std::string& identity : identities) {
    if (auto it = credentials->identities.find(identity);
        it != credentials->identities.end()) {
      grant(it->second);
    }
  }
  if (authorization.has_value()) {
    absl::string_view value = core::ToAbsl(*authorization);
    if (!absl::ConsumePrefix(&value, "Bearer ")) {
      return Refuse(path, grpc::StatusCode::UNAUTHENTICATED,
                    "authorization: expected `Bearer <token>`");
    }
    // Every stored digest is compared, in constant time, so that neither
    // the time nor the position of a match tells anything about the
    // tokens.
    const Digest presented = Sha256(core::ToStd(value));
    std::optional<Role> token_role;
    for (const auto& [digest, role] : credentials->tokens) {
      if (CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0) {
        token_role = role;
      }
    }
    if (!token_role.has_value()) {
      return Refuse(path, grpc::StatusCode::UNAUTHENTICATED,
                    "the bearer token is not valid (unknown or revoked)");
    }
    grant(*token_role);
  }
  if (!best.has_value()) {
    return Refuse(
        path, grpc::StatusCode::UNAUTHENTICATED,
        absl::StrCat(core::ToAbsl(path), " needs a credential with role ",
                     core::ToAbsl(RoleName(*needed)),
                     ": send `authorization: Bearer <token>` (aisle "
                     "--token or AISLE_TOKEN)"));
  }
  if (*best < *needed) {
    return Refuse(path, grpc::StatusCode::PERMISSION_DENIED,
                  absl::StrCat(core::ToAbsl(path), " needs role ",
                               core::ToAbsl(RoleName(*needed)),
                               "; the credential has role ",
                               core::ToAbsl(RoleName(*best))));
  }
  return grpc::Status::OK;
}

}  // namespace aisle::server
