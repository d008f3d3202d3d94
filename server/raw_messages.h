// Request parsing for the raw-method shim (raw_service.h): the server
// receives every request as bytes and parses it here, so that a request
// that is not a valid protobuf message is answered INVALID_ARGUMENT with a
// message saying why, instead of gRPC's own deserialisation answering
// status 12, Unimplemented, with no message (the generated typed handlers give
// the application no say).
//
// Thread safety: pure functions.
#ifndef AISLE_SERVER_RAW_MESSAGES_H_
#define AISLE_SERVER_RAW_MESSAGES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace aisle::server {

// Parses `buffer` into `message` (cleared first). `buffer` null or not
// Valid() means gRPC delivered no message: the stream ended before a whole
// message arrived (a length prefix promising more bytes than were sent) or
// carried none. Errors: InvalidArgument "request could not be parsed:
// <why>", where <why> names the field when the bytes say which, e.g.
// "events[1].user_id: string is not valid UTF-8 (byte 0xff at offset 0)" or
// "events[2]: truncated: length 40 but 3 bytes left".
absl::Status ParseMessage(const grpc::ByteBuffer* buffer,
                          google::protobuf::Message* message);

// Why `bytes` is not a valid encoding of `type`, naming the first bad
// field by its path (as validation.h does); "" when the walk finds
// nothing wrong (a failure it cannot place, e.g. a missing required field
// of a proto2 message).
std::string DescribeParseFailure(const google::protobuf::Descriptor& type,
                                 std::string_view bytes);

// Serializes `message` into `buffer`. Internal on failure (a message over
// 2 GiB).
absl::Status SerializeMessage(const google::protobuf::MessageLite& message,
                              grpc::ByteBuffer* buffer);

}  // namespace aisle::server

#endif  // AISLE_SERVER_RAW_MESSAGES_H_
