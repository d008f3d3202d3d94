// Certificates for TLS tests, made with the openssl command (Debian's
// `openssl` package) in a directory the test owns: a CA, and server or
// client certificates it signs. Nothing is checked in, so nothing expires.
//
// Thread safety: plain functions; each call runs openssl child processes.
#ifndef AISLE_TESTS_TEST_PKI_H_
#define AISLE_TESTS_TEST_PKI_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace aisle::testing {

// PEM files: the certificate and its unencrypted private key.
struct CertFiles {
  std::string cert;
  std::string key;
};

// A self-signed CA "<name>" in <dir>/<name>.pem and <dir>/<name>.key.
// Errors: Internal with openssl's output when a command fails.
absl::StatusOr<CertFiles> MakeCa(const std::string& dir,
                                 const std::string& name);

// A certificate with common name `name` and subject alternative names
// DNS:<name>, DNS:localhost and IP:127.0.0.1 (so that it serves as a
// server certificate for 127.0.0.1 and as a client identity), signed by
// `ca`, in <dir>/<name>.pem and .key.
absl::StatusOr<CertFiles> MakeCert(const std::string& dir, const CertFiles& ca,
                                   const std::string& name);

// A TLS channel to `address` trusting `ca_pem_path`, presenting `client`
// when its paths are set. Errors: NotFound when a file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeTlsChannel(
    const std::string& address, const std::string& ca_pem_path,
    const CertFiles& client = {});

// The file's bytes, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace aisle::testing

#endif  // AISLE_TESTS_TEST_PKI_H_
