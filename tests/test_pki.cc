#include "tests/test_pki.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace aisle::testing {
namespace {

// Runs a shell command, its output into <dir>/openssl.log; Internal with
// that output on failure.
absl::Status Run(const std::string& dir, const std::string& command) {
  const std::string log = absl::StrCat(dir, "/openssl.log");
  const std::string full =
      absl::StrCat("cd '", dir, "' && ", command, " >'", log, "' 2>&1");
  if (std::system(full.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("`", command, "` failed:\n", ReadFileOrEmpty(log)));
  }
  return absl::OkStatus();
}

constexpr char kNewKey[] =
    "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

}  // namespace

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<CertFiles> MakeCa(const std::string& dir,
                                 const std::string& name) {
  absl::Status status = Run(
      dir, absl::StrCat("openssl req -x509 ", kNewKey, " -keyout ", name,
                        ".key -out ", name, ".pem -days 2 -subj /CN=", name));
  if (!status.ok()) return status;
  return CertFiles{absl::StrCat(dir, "/", name, ".pem"),
                   absl::StrCat(dir, "/", name, ".key")};
}

absl::StatusOr<CertFiles> MakeCert(const std::string& dir, const CertFiles& ca,
                                   const std::string& name) {
  absl::Status status = Run(
      dir, absl::StrCat("printf 'subjectAltName=DNS:", name,
                        ",DNS:localhost,IP:127.0.0.1\\n' > ", name, ".ext && ",
                        "openssl req ", kNewKey, " -keyout ", name,
                        ".key -out ", name, ".csr -subj /CN=", name, " && ",
                        "openssl x509 -req -in ", name, ".csr -CA '", ca.cert,
                        "' -CAkey '", ca.key, "' -CAcreateserial -out ", name,
                        ".pem -days 2 -extfile ", name, ".ext"));
  if (!status.ok()) return status;
  return CertFiles{absl::StrCat(dir, "/", name, ".pem"),
                   absl::StrCat(dir, "/", name, ".key")};
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeTlsChannel(
    const std::string& address, const std::string& ca_pem_path,
    const CertFiles& client) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileOrEmpty(ca_pem_path);
  if (options.pem_root_certs.empty()) {
    return absl::NotFoundError(absl::StrCat("cannot read ", ca_pem_path));
  }
  if (!client.cert.empty()) {
    options.pem_cert_chain = ReadFileOrEmpty(client.cert);
    options.pem_private_key = ReadFileOrEmpty(client.key);
  }
  // A fresh connection per channel, so that each check does a handshake.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options),
                                   args);
}

}  // namespace aisle::testing
