// TLS and mutual TLS of the gRPC port, with certificates made by the
// openssl command for each test: what a client without the right
// certificate can do (nothing), certificate rotation without a restart,
// start-up errors for files that do not fit, and the CLI's TLS flags.
#include <signal.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_pki.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kCallTimeout = std::chrono::seconds(5);
constexpr int kServing = 1;

// A CA, a server certificate it signs, and a client certificate it signs.
struct Pki {
  CertFiles ca;
  CertFiles server;
  CertFiles client;
};

absl::StatusOr<Pki> MakePki(const std::string& dir, const std::string& ca) {
  Pki pki;
  absl::StatusOr<CertFiles> files = MakeCa(dir, ca);
  if (!files.ok()) return files.status();
  pki.ca = *files;
  files = MakeCert(dir, pki.ca, absl::StrCat(ca, "-server"));
  if (!files.ok()) return files.status();
  pki.server = *files;
  files = MakeCert(dir, pki.ca, absl::StrCat(ca, "-client"));
  if (!files.ok()) return files.status();
  pki.client = *files;
  return pki;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(pki_, MakePki(certs_.path(), "ca"));
    ASSERT_OK_AND_ASSIGN(other_, MakePki(certs_.path(), "other-ca"));
  }

  server::ServerConfig Config(bool mutual) {
    server::ServerConfig config = TestServerConfig(data_.path());
    config.tls.cert = pki_.server.cert;
    config.tls.key = pki_.server.key;
    if (mutual) config.tls.client_ca = pki_.ca.cert;
    return config;
  }

  // One health check over TLS trusting `ca`, presenting `client`.
  absl::StatusOr<int> CheckOverTls(const TestServer& server,
                                   const std::string& ca,
                                   const CertFiles& client = {}) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeTlsChannel(server.address(), ca, client);
    if (!channel.ok()) return channel.status();
    return HealthCheck(*channel, "", kCallTimeout);
  }

  TempDir certs_;
  TempDir data_;
  Pki pki_;
  Pki other_;
};

TEST_F(TlsTest, TlsServesAndRefusesPlaintextAndUntrustedServers) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config(false)));
  EXPECT_THAT(CheckOverTls(server, pki_.ca.cert), IsOkAndHolds(kServing));
  // A client that speaks plaintext gets no answer.
  EXPECT_THAT(HealthCheck(MakeChannel(server.address()), "", kCallTimeout),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  // A client that trusts another CA refuses the server.
  EXPECT_THAT(CheckOverTls(server, other_.ca.cert),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config(true)));
  EXPECT_THAT(CheckOverTls(server, pki_.ca.cert, pki_.client),
              IsOkAndHolds(kServing));
  EXPECT_THAT(CheckOverTls(server, pki_.ca.cert),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_))
      << "no client certificate";
  EXPECT_THAT(CheckOverTls(server, pki_.ca.cert, other_.client),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_))
      << "a client certificate from another CA";
  EXPECT_THAT(HealthCheck(MakeChannel(server.address()), "", kCallTimeout),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_))
      << "plaintext";
}

TEST_F(TlsTest, RotatedCertificatesApplyWithoutARestart) {
  server::ServerConfig config = Config(false);
  // The files are copied, so that the test can replace them.
  const std::string cert = certs_.Sub("serving.pem");
  const std::string key = certs_.Sub("serving.key");
  std::filesystem::copy_file(pki_.server.cert, cert);
  std::filesystem::copy_file(pki_.server.key, key);
  config.tls.cert = cert;
  config.tls.key = key;
  config.tls.reload_interval_s = 1;
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(config));
  ASSERT_THAT(CheckOverTls(server, pki_.ca.cert), IsOkAndHolds(kServing));
  ASSERT_THAT(CheckOverTls(server, other_.ca.cert), Not(IsOk()));

  // Rotate to a certificate of the other CA: key first under a temporary
  // name, then both renamed over the old ones.
  std::filesystem::copy_file(other_.server.key, key + ".new");
  std::filesystem::copy_file(other_.server.cert, cert + ".new");
  std::filesystem::rename(key + ".new", key);
  std::filesystem::rename(cert + ".new", cert);
  // The watcher re-reads every second; poll until new handshakes use it.
  absl::StatusOr<int> health = absl::UnknownError("not checked");
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    health = CheckOverTls(server, other_.ca.cert);
    if (health.ok()) break;
  }
  EXPECT_THAT(health, IsOkAndHolds(kServing));
  EXPECT_THAT(CheckOverTls(server, pki_.ca.cert),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_))
      << "the old certificate is no longer served";
}

TEST_F(TlsTest, FilesThatDoNotFitAreAStartUpErrorNamingTheFlag) {
  server::ServerConfig config = Config(false);
  config.tls.key = other_.server.key;
  EXPECT_THAT(
      server::AisleServer::Start(config),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls-key: ")));
  config = Config(false);
  config.tls.cert = certs_.Sub("missing.pem");
  EXPECT_THAT(server::AisleServer::Start(config),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("--tls-cert: cannot read")));
  config = Config(true);
  config.tls.client_ca = pki_.ca.key;  // a key, not a certificate
  EXPECT_THAT(server::AisleServer::Start(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tls-client-ca: ")));
  config = TestServerConfig(data_.path());
  config.tls.client_ca = pki_.ca.cert;
  EXPECT_THAT(server::AisleServer::Start(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tls-client-ca: needs --tls-cert")));
}

TEST_F(TlsTest, CliTakesTheTlsFlags) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config(true)));
  const std::vector<std::string> call = {"recommend", "--scenario", "trending",
                                         "--target", server.address()};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = call;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  ASSERT_OK_AND_ASSIGN(
      RunResult ok,
      RunAisle(with({"--tls-ca", pki_.ca.cert, "--tls-cert", pki_.client.cert,
                     "--tls-key", pki_.client.key})));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  ASSERT_OK_AND_ASSIGN(RunResult no_cert,
                       RunAisle(with({"--tls-ca", pki_.ca.cert})));
  EXPECT_EQ(no_cert.exit_code, 1) << no_cert.err;
  ASSERT_OK_AND_ASSIGN(RunResult plaintext, RunAisle(call));
  EXPECT_EQ(plaintext.exit_code, 1) << plaintext.err;
  ASSERT_OK_AND_ASSIGN(RunResult missing,
                       RunAisle(with({"--tls-ca", certs_.Sub("missing.pem")})));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("--tls-ca: cannot read"));
  ASSERT_OK_AND_ASSIGN(
      RunResult loadgen,
      RunAisle({"loadgen", "--target", server.address(), "--mix", "recommend=1",
                "--requests", "20", "--duration", "10s", "--tls-ca",
                pki_.ca.cert, "--tls-cert", pki_.client.cert, "--tls-key",
                pki_.client.key}));
  EXPECT_EQ(loadgen.exit_code, 0) << loadgen.err;
}

TEST(PlaintextTest, ServerWarnsAtStartThatItIsPlaintext) {
  TempDir data;
  ASSERT_OK_AND_ASSIGN(ServeProcess serve,
                       SpawnServe(data.Sub("data"), {}, data.path()));
  ASSERT_OK(serve.process->Signal(SIGTERM));
  ASSERT_OK(serve.process->Wait(std::chrono::seconds(30)).status());
  EXPECT_THAT(serve.process->Stderr(), HasSubstr("is plaintext"));
}

}  // namespace
}  // namespace aisle::testing
