#include "server/grpc_status.h"

#include <array>
#include <string>

namespace aisle::server {
namespace {

// Indexed by the canonical code number.
constexpr std::array<std::string_view, 17> kCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

bool IsCanonical(int code) {
  return code >= 0 && code < static_cast<int>(kCodeNames.size());
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  if (!IsCanonical(code)) code = static_cast<int>(grpc::StatusCode::UNKNOWN);
  return grpc::Status(static_cast<grpc::StatusCode>(code),
                      std::string(status.message()));
}

std::string_view GrpcCodeName(grpc::StatusCode code) {
  const int index = static_cast<int>(code);
  return IsCanonical(index) ? kCodeNames[index] : "UNKNOWN";
}

}  // namespace aisle::server
