// UnaryCall: one unary RPC as the service's handlers see it. The raw-method
// shim (raw_service.h) creates it with the request it parsed and an empty
// response; the handler fills the response and calls Finish once, from any
// thread. gRPC deletes it when the RPC is done (OnDone).
//
// Why not gRPC's default reactor: the methods are registered raw (bytes in,
// bytes out) so that the server, not gRPC, parses requests; the response
// must then be serialized before the call is finished, which Finish does.
#ifndef AISLE_SERVER_UNARY_CALL_H_
#define AISLE_SERVER_UNARY_CALL_H_

#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"

namespace aisle::server {

class UnaryCall : public grpc::ServerUnaryReactor {
 public:
  // `wire_response` is gRPC's (it outlives the call).
  explicit UnaryCall(grpc::ByteBuffer* wire_response)
      : wire_response_(wire_response) {}

  // When `status` is OK, serializes the response into the RPC's bytes (a
  // failure to serialize finishes with INTERNAL instead); then finishes
  // the RPC. Call exactly once.
  void Finish(grpc::Status status);

  void OnDone() override { delete this; }
  // Lets gRPC run OnDone (a delete) and OnCancel (nothing) on the thread
  // that finished the call. Otherwise gRPC 1.51 hands every OnDone to its
  // executor thread: one thread wake-up and context switch per call, 10% of
  // the server's CPU per Feedback (scripts/ab_server.sh, B/A 0.896). gRPC
  // marks the hook as internal, for reactors whose reactions are trivial,
  // which these are; a subclass must keep them so.
  bool InternalInlineable() override { return true; }

 protected:
  virtual const google::protobuf::MessageLite& response() const = 0;

 private:
  grpc::ByteBuffer* const wire_response_;
};

// A UnaryCall with its request and response messages.
template <class Request, class Response>
class MessageCall final : public UnaryCall {
 public:
  using UnaryCall::UnaryCall;
  Request request;
  Response reply;

 private:
  const google::protobuf::MessageLite& response() const override {
    return reply;
  }
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_UNARY_CALL_H_
