#include "server/grpc_status.h"

#include <string>

#include "gtest/gtest.h"

namespace aisle::server {
namespace {

TEST(ToGrpcStatusTest, KeepsCodeAndMessage) {
  struct Case {
    absl::Status in;
    grpc::StatusCode code;
  };
  const Case cases[] = {
      {absl::OkStatus(), grpc::StatusCode::OK},
      {absl::InvalidArgumentError("events[0].item_id: bad"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("nope"), grpc::StatusCode::NOT_FOUND},
      {absl::ResourceExhaustedError("full"),
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::FailedPreconditionError("corrupt"),
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::UnavailableError("later"), grpc::StatusCode::UNAVAILABLE},
      {absl::DataLossError("lost"), grpc::StatusCode::DATA_LOSS},
      {absl::InternalError("bug"), grpc::StatusCode::INTERNAL},
  };
  for (const Case& c : cases) {
    grpc::Status out = ToGrpcStatus(c.in);
    EXPECT_EQ(out.error_code(), c.code) << c.in;
    EXPECT_EQ(out.error_message(), std::string(c.in.message()));
  }
}

TEST(GrpcCodeNameTest, Names) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::INVALID_ARGUMENT),
            "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  // A value past the last code (16) but inside the enum's range (0..31):
  // 99 would be undefined behaviour in the cast itself (UBSan).
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(17)), "UNKNOWN");
}

}  // namespace
}  // namespace aisle::server
