// Transport security of the gRPC port: TLS (--tls-cert, --tls-key) and
// mutual TLS (--tls-client-ca), with certificate files re-read while
// serving, and the check that the files make sense before the port opens.
//
// The certificates are watched by gRPC's FileWatcherCertificateProvider:
// every `reload_interval_s` it re-reads the three files, so a rotated
// certificate (or client CA) takes effect for new connections without a
// restart; connections already open keep the certificate they shook hands
// with. Replace the files atomically (write new files, then rename them over
// the old ones, or swap a symlinked directory as Kubernetes does for
// mounted secrets): a key and certificate read half-way through a rewrite
// do not match, and gRPC then keeps the previous pair.
//
// Thread safety: pure functions.
#ifndef AISLE_SERVER_TLS_H_
#define AISLE_SERVER_TLS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace aisle::server {

struct TlsFiles {
  // PEM certificate chain and private key of the server. Both or neither;
  // neither = plaintext.
  std::string cert;
  std::string key;
  // PEM bundle of the CAs that sign client certificates. Set = mutual TLS:
  // a client must present a certificate that one of them signed, or the
  // handshake fails. Requires cert and key.
  std::string client_ca;
  // How often the files are re-read, in seconds (>= 1).
  int reload_interval_s = 60;

  bool enabled() const { return !cert.empty() || !key.empty(); }
  bool mutual() const { return !client_ca.empty(); }
};

// Checks that the files are readable PEM, that the key is the
// certificate's, and that the CA bundle holds at least one certificate,
// so that a mistake is a start-up error naming the flag instead of
// handshakes failing later. Errors: NotFound for a file that cannot be
// read, InvalidArgument for one that does not fit, both naming the flag
// (--tls-cert, --tls-key, --tls-client-ca).
absl::Status CheckTlsFiles(const TlsFiles& files);

// The credentials of the listening port: TLS (mutual when client_ca is
// set) with files watched as described above, or plaintext when
// !files.enabled(). Runs CheckTlsFiles first and returns its error.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace aisle::server

#endif  // AISLE_SERVER_TLS_H_
