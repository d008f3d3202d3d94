// The edge between internal errors and gRPC: the one place where an
// absl::Status becomes a grpc::Status, and the names of gRPC codes used in
// metric labels and the access log.
//
// Thread safety: pure functions.
#ifndef AISLE_SERVER_GRPC_STATUS_H_
#define AISLE_SERVER_GRPC_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace aisle::server {

// Keeps the canonical code (absl and gRPC share the numbering; a code
// outside it becomes UNKNOWN) and passes the message through unchanged:
// messages are part of the API.
grpc::Status ToGrpcStatus(const absl::Status& status);

// "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for a number outside the
// canonical codes.
std::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace aisle::server

#endif  // AISLE_SERVER_GRPC_STATUS_H_
