// Credentials with roles (server/auth.h) against a real server: every
// method of the service called with no credential, a bad one, and each
// role, over plaintext and TLS; mutual-TLS identities; file reloads;
// metrics; the CLI's --token; and that tokens never reach the log.
#include "server/auth.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_pki.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using server::Role;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kReadToken[] = "read-token-0123456789abcdef";
constexpr char kWriteToken[] = "write-token-0123456789abcdef";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";

void WriteFile(const std::string& path, const std::string& text) {
  // Written aside and renamed over, as an operator rotating a secret does.
  std::ofstream(path + ".tmp") << text;
  std::filesystem::rename(path + ".tmp", path);
}

std::string TokensFile() {
  return absl::StrCat("# role token\nread ", kReadToken, "\nwrite ",
                      kWriteToken, "\n\nadmin ", kAdminToken, "\n");
}

// Calls `method` of aisle.v1.Recommender with an empty request; the status
// says whether the call got past authentication (any other code than
// UNAUTHENTICATED and PERMISSION_DENIED: the handler ran and judged the
// empty request).
grpc::StatusCode CallWith(const std::shared_ptr<grpc::Channel>& channel,
                          const std::string& method,
                          const std::string& authorization) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  if (!authorization.empty()) {
    context.AddMetadata("authorization", authorization);
  }
  const std::string path = absl::StrCat("/aisle.v1.Recommender/", method);
  grpc::internal::RpcMethod rpc(path.c_str(),
                                grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
             channel.get(), rpc, &context, request, &response)
      .error_code();
}

struct MethodCase {
  std::string method;
  Role needs;
};
const std::vector<MethodCase>& Methods() {
  static const auto* methods = new std::vector<MethodCase>{
      {"Recommend", Role::kRead},      {"GetItem", Role::kRead},
      {"GetModelInfo", Role::kRead},   {"ListModels", Role::kRead},
      {"Feedback", Role::kWrite},      {"ImportEvents", Role::kWrite},
      {"UpsertItems", Role::kWrite},   {"DeleteItems", Role::kWrite},
      {"GetUser", Role::kAdmin},       {"DeleteUser", Role::kAdmin},
      {"ActivateModel", Role::kAdmin},
  };
  return *methods;
}

bool IsAuthCode(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAUTHENTICATED ||
         code == grpc::StatusCode::PERMISSION_DENIED;
}

// Every method, every role: allowed iff the role is at least the method's.
void ExpectRoleTable(const std::shared_ptr<grpc::Channel>& channel) {
  const std::vector<std::pair<Role, std::string>> tokens = {
      {Role::kRead, kReadToken},
      {Role::kWrite, kWriteToken},
      {Role::kAdmin, kAdminToken}};
  for (const MethodCase& m : Methods()) {
    EXPECT_EQ(CallWith(channel, m.method, ""),
              grpc::StatusCode::UNAUTHENTICATED)
        << m.method << " without a credential";
    EXPECT_EQ(CallWith(channel, m.method, "Bearer not-a-token-0123456789"),
              grpc::StatusCode::UNAUTHENTICATED)
        << m.method << " with an unknown token";
    EXPECT_EQ(CallWith(channel, m.method, absl::StrCat("Basic ", kAdminToken)),
              grpc::StatusCode::UNAUTHENTICATED)
        << m.method << " without the Bearer scheme";
    for (const auto& [role, token] : tokens) {
      const grpc::StatusCode code =
          CallWith(channel, m.method, absl::StrCat("Bearer ", token));
      if (role >= m.needs) {
        EXPECT_FALSE(IsAuthCode(code))
            << m.method << " with role " << server::RoleName(role)
            << " got code " << code;
      } else {
        EXPECT_EQ(code, grpc::StatusCode::PERMISSION_DENIED)
            << m.method << " with role " << server::RoleName(role);
      }
    }
  }
}

class AuthTest : public ::testing::Test {
 protected:
  server::ServerConfig Config() {
    WriteFile(tokens_, TokensFile());
    server::ServerConfig config = TestServerConfig(data_.path());
    config.auth_tokens_file = tokens_;
    config.auth_reload_check_ms = 0;
    return config;
  }

  TempDir dir_;
  TempDir data_;
  const std::string tokens_ = dir_.Sub("tokens");
};

TEST(RequiredRoleTest, TableAsDocumentedAndUnknownMethodsNeedAdmin) {
  for (const MethodCase& m : Methods()) {
    EXPECT_EQ(
        server::RequiredRole(absl::StrCat("/aisle.v1.Recommender/", m.method)),
        m.needs)
        << m.method;
  }
  EXPECT_EQ(server::RequiredRole("/aisle.v1.Recommender/SomethingNew"),
            Role::kAdmin);
  EXPECT_EQ(server::RequiredRole("/other.Service/Recommend"), Role::kAdmin);
  EXPECT_EQ(server::RequiredRole("/grpc.health.v1.Health/Check"), std::nullopt);
  EXPECT_EQ(server::RequiredRole("/grpc.reflection.v1alpha.ServerReflection/"
                                 "ServerReflectionInfo"),
            std::nullopt);
}

TEST_F(AuthTest, EveryMethodNeedsItsRoleOnAPlaintextPort) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  ExpectRoleTable(server.channel);
}

TEST_F(AuthTest, HealthAndReflectionStayOpen) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  EXPECT_THAT(HealthCheck(server.channel, "", std::chrono::seconds(5)),
              IsOkAndHolds(1));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> services,
                       ListServicesByReflection(server.channel));
  EXPECT_THAT(services, ::testing::Contains("aisle.v1.Recommender"));
}

TEST_F(AuthTest, RefusalsAreCountedByMethodAndCodeFromZero) {
  server::ServerConfig config = Config();
  config.metrics_port = 0;
  config.metrics_address = "127.0.0.1";
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(config));
  auto sample = [&](const std::string& method, const std::string& code) {
    absl::StatusOr<std::string> text =
        HttpGet(server.server->metrics_port(), "/metrics");
    EXPECT_OK(text.status());
    std::map<std::string, double> samples =
        ParseMetricSamples(text.value_or(""));
    auto it = samples.find(absl::StrCat("aisle_auth_refused_total{code=\"",
                                        code, "\",method=\"", method, "\"}"));
    return it == samples.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(sample("DeleteUser", "UNAUTHENTICATED"), 0);
  EXPECT_EQ(sample("DeleteUser", "PERMISSION_DENIED"), 0);
  CallWith(server.channel, "DeleteUser", "");
  CallWith(server.channel, "DeleteUser", "");
  CallWith(server.channel, "DeleteUser", absl::StrCat("Bearer ", kReadToken));
  EXPECT_EQ(sample("DeleteUser", "UNAUTHENTICATED"), 2);
  EXPECT_EQ(sample("DeleteUser", "PERMISSION_DENIED"), 1);
  EXPECT_EQ(sample("Recommend", "UNAUTHENTICATED"), 0);
}

TEST_F(AuthTest, TokenFileIsReloadedAndABrokenOneKeepsThePrevious) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  const std::string fresh = "fresh-admin-token-0123456789";
  EXPECT_EQ(CallWith(server.channel, "GetUser", absl::StrCat("Bearer ", fresh)),
            grpc::StatusCode::UNAUTHENTICATED);
  WriteFile(tokens_, absl::StrCat("admin ", fresh, "\n"));
  EXPECT_FALSE(IsAuthCode(
      CallWith(server.channel, "GetUser", absl::StrCat("Bearer ", fresh))));
  EXPECT_EQ(
      CallWith(server.channel, "GetUser", absl::StrCat("Bearer ", kAdminToken)),
      grpc::StatusCode::UNAUTHENTICATED)
      << "a token removed from the file is revoked";
  WriteFile(tokens_, "superuser x\n");
  EXPECT_FALSE(IsAuthCode(
      CallWith(server.channel, "GetUser", absl::StrCat("Bearer ", fresh))))
      << "a file that does not parse leaves the previous tokens in force";
}

TEST_F(AuthTest, BadTokenFilesAreStartUpErrorsThatNeverShowTheToken) {
  server::ServerConfig config = Config();
  WriteFile(tokens_, "read short\n");
  EXPECT_THAT(server::AisleServer::Start(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("tokens:1: token too short"),
                                        Not(HasSubstr("short\"")))));
  WriteFile(tokens_, absl::StrCat("root ", kAdminToken, "\n"));
  EXPECT_THAT(
      server::AisleServer::Start(config),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(HasSubstr("role must be read, write or admin"),
                                Not(HasSubstr(kAdminToken)))));
  WriteFile(tokens_,
            absl::StrCat("read ", kReadToken, "\nadmin ", kReadToken, "\n"));
  EXPECT_THAT(server::AisleServer::Start(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokens:2: token listed twice")));
  config.auth_tokens_file = dir_.Sub("missing");
  EXPECT_THAT(server::AisleServer::Start(config),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("--auth-tokens: cannot read")));
}

class AuthTlsTest : public AuthTest {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, MakeCa(dir_.path(), "ca"));
    ASSERT_OK_AND_ASSIGN(server_cert_, MakeCert(dir_.path(), ca_, "server"));
    ASSERT_OK_AND_ASSIGN(writer_, MakeCert(dir_.path(), ca_, "writer"));
    ASSERT_OK_AND_ASSIGN(stranger_, MakeCert(dir_.path(), ca_, "stranger"));
  }
  server::ServerConfig TlsConfig() {
    server::ServerConfig config = Config();
    config.tls.cert = server_cert_.cert;
    config.tls.key = server_cert_.key;
    return config;
  }
  CertFiles ca_, server_cert_, writer_, stranger_;
};

TEST_F(AuthTlsTest, EveryMethodNeedsItsRoleOnATlsPort) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(TlsConfig()));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<grpc::Channel> channel,
                       MakeTlsChannel(server.address(), ca_.cert));
  ExpectRoleTable(channel);
}

TEST_F(AuthTlsTest, ClientCertificateIdentitiesMapToRoles) {
  server::ServerConfig config = TlsConfig();
  config.tls.client_ca = ca_.cert;
  config.tls_roles_file = dir_.Sub("roles");
  WriteFile(config.tls_roles_file, "write writer\n");
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(config));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<grpc::Channel> writer,
                       MakeTlsChannel(server.address(), ca_.cert, writer_));
  EXPECT_FALSE(IsAuthCode(CallWith(writer, "Feedback", "")));
  EXPECT_FALSE(IsAuthCode(CallWith(writer, "Recommend", "")));
  EXPECT_EQ(CallWith(writer, "DeleteUser", ""),
            grpc::StatusCode::PERMISSION_DENIED);
  // A token adds its role to the certificate's.
  EXPECT_FALSE(IsAuthCode(
      CallWith(writer, "DeleteUser", absl::StrCat("Bearer ", kAdminToken))));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<grpc::Channel> stranger,
                       MakeTlsChannel(server.address(), ca_.cert, stranger_));
  EXPECT_EQ(CallWith(stranger, "Recommend", ""),
            grpc::StatusCode::UNAUTHENTICATED)
      << "a valid certificate that the roles file does not list";
}

TEST_F(AuthTest, CliSendsTheTokenFromTheFlagOrTheEnvironment) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  const std::vector<std::string> call = {"recommend", "--scenario", "trending",
                                         "--target", server.address()};
  ASSERT_OK_AND_ASSIGN(RunResult none, RunAisle(call));
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("UNAUTHENTICATED"));
  std::vector<std::string> with_flag = call;
  with_flag.insert(with_flag.end(), {"--token", kReadToken});
  ASSERT_OK_AND_ASSIGN(RunResult flag, RunAisle(with_flag));
  EXPECT_EQ(flag.exit_code, 0) << flag.err;
  ASSERT_OK_AND_ASSIGN(RunResult env,
                       RunAisle(call, {{"AISLE_TOKEN", kReadToken}}));
  EXPECT_EQ(env.exit_code, 0) << env.err;
  ASSERT_OK_AND_ASSIGN(RunResult help, RunAisle({"recommend", "--help"},
                                                {{"AISLE_TOKEN", kReadToken}}));
  EXPECT_THAT(help.out + help.err, Not(HasSubstr(kReadToken)));
}

TEST_F(AuthTest, TokensNeverReachTheLog) {
  WriteFile(tokens_, TokensFile());
  ASSERT_OK_AND_ASSIGN(ServeProcess serve,
                       SpawnServe(data_.path(),
                                  {"--auth-tokens", tokens_, "--log-level",
                                   "debug", "--access-log-sample", "1"},
                                  dir_.path()));
  std::shared_ptr<grpc::Channel> channel = MakeChannel(serve.address);
  const std::string wrong = "wrong-token-0123456789abcdef";
  EXPECT_EQ(CallWith(channel, "GetUser", absl::StrCat("Bearer ", wrong)),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallWith(channel, "GetUser", absl::StrCat("Bearer ", kReadToken)),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(IsAuthCode(
      CallWith(channel, "GetUser", absl::StrCat("Bearer ", kAdminToken))));
  ASSERT_OK(serve.process->Signal(SIGTERM));
  ASSERT_OK(serve.process->Wait(std::chrono::seconds(30)).status());
  const std::string log = serve.process->Stdout() + serve.process->Stderr();
  EXPECT_THAT(log, HasSubstr("refused /aisle.v1.Recommender/GetUser"))
      << "the refusals are logged (at debug), without the token";
  for (const char* token : {kReadToken, kAdminToken, wrong.c_str()}) {
    EXPECT_THAT(log, Not(HasSubstr(token)));
  }
}

}  // namespace
}  // namespace aisle::testing
