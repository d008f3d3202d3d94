// A raw gRPC client for tests that must send what no gRPC library sends:
// a message prefix with an invalid compressed-flag byte, a length that
// promises more bytes than follow, bytes that are not a valid protobuf.
// It speaks cleartext HTTP/2 with prior knowledge through nghttp2, which
// does the HTTP/2 framing and HPACK; the gRPC message framing (the 5-byte
// prefix) is the caller's, byte for byte.
//
// Thread safety: RawGrpcCall is reentrant (one connection per call).
#ifndef AISLE_TESTS_RAW_GRPC_H_
#define AISLE_TESTS_RAW_GRPC_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aisle::testing {

// One gRPC message on the wire: the compressed-flag byte, a 4-byte
// big-endian length (`declared_length`, default payload.size()), then the
// payload.
std::string GrpcMessageFrame(std::string_view payload,
                             uint8_t compressed_flag = 0,
                             std::optional<uint32_t> declared_length = {});

struct RawGrpcResponse {
  int http_status = 0;
  // grpc-status from the trailers (or a trailers-only response); nullopt
  // when the server sent none (e.g. it reset the stream).
  std::optional<int> grpc_status;
  std::string grpc_message;  // as sent (percent-encoded)
  std::string data;          // response DATA bytes, gRPC-framed
  // Set when the server answered with RST_STREAM: its HTTP/2 error code.
  std::optional<uint32_t> reset_code;
};

// Opens a connection to 127.0.0.1:port, sends one POST to `path` (e.g.
// "/aisle.v1.Recommender/Recommend") with gRPC's headers and `body` as the
// request's DATA (END_STREAM after it), and returns what came back.
// Errors: Unavailable when the connection fails or the server closes it
// before the stream ends; DeadlineExceeded after `timeout`; Internal for
// an HTTP/2 protocol error.
absl::StatusOr<RawGrpcResponse> RawGrpcCall(
    int port, std::string_view path, std::string body,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace aisle::testing

#endif  // AISLE_TESTS_RAW_GRPC_H_
