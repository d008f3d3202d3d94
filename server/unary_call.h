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

#include "google/protobuf/arena.h"
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

// A protobuf arena whose first block is part of the object: messages made
// on it (and their sub-messages and strings) cost no allocation of their
// own while they fit (a FOR_YOU answer's items and strings were each
// allocated and freed: x0.95 server CPU per call without that,
// scripts/ab_server.sh). Base of the calls below, so that the arena is
// made before, and destroyed after, their messages.
class CallArena {
 protected:
  CallArena() : arena_(Options(block_, sizeof(block_))) {}

  template <class Message>
  Message& Make() {
    return *google::protobuf::Arena::CreateMessage<Message>(&arena_);
  }

 private:
  static google::protobuf::ArenaOptions Options(char* block, size_t size) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = size;
    return options;
  }

  // Room for a typical answer of 10 to 20 items with their explanations;
  // a larger one continues in blocks the arena allocates.
  alignas(16) char block_[4096];
  google::protobuf::Arena arena_;
};

// A UnaryCall with its request and response messages (on its CallArena).
template <class Request, class Response>
class MessageCall final : private CallArena, public UnaryCall {
 public:
  explicit MessageCall(grpc::ByteBuffer* wire_response)
      : UnaryCall(wire_response),
        request(Make<Request>()),
        reply(Make<Response>()) {}
  Request& request;
  Response& reply;

 private:
  const google::protobuf::MessageLite& response() const override {
    return reply;
  }
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_UNARY_CALL_H_
