#include "tests/raw_grpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace aisle::testing {
namespace {

// What the nghttp2 callbacks see: the socket, the request body still to
// send, and the response as it arrives.
struct Call {
  int fd = -1;
  std::string body;
  size_t body_sent = 0;
  int32_t stream_id = -1;
  bool stream_closed = false;
  RawGrpcResponse response;
};

ssize_t Send(nghttp2_session*, const uint8_t* data, size_t length, int,
             void* user_data) {
  Call& call = *static_cast<Call*>(user_data);
  const ssize_t n = ::send(call.fd, data, length, MSG_NOSIGNAL);
  if (n < 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  return n;
}

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
             size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
             void* user_data) {
  Call& call = *static_cast<Call*>(user_data);
  if (frame->hd.stream_id != call.stream_id) return 0;
  const absl::string_view key(reinterpret_cast<const char*>(name), namelen);
  const absl::string_view text(reinterpret_cast<const char*>(value), valuelen);
  int number = 0;
  if (key == ":status" && absl::SimpleAtoi(text, &number)) {
    call.response.http_status = number;
  } else if (key == "grpc-status" && absl::SimpleAtoi(text, &number)) {
    call.response.grpc_status = number;
  } else if (key == "grpc-message") {
    call.response.grpc_message = std::string(text);
  }
  return 0;
}

int OnData(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
           size_t len, void* user_data) {
  Call& call = *static_cast<Call*>(user_data);
  if (stream_id == call.stream_id) {
    call.response.data.append(reinterpret_cast<const char*>(data), len);
  }
  return 0;
}

int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                  void* user_data) {
  Call& call = *static_cast<Call*>(user_data);
  if (stream_id != call.stream_id) return 0;
  call.stream_closed = true;
  if (error_code != NGHTTP2_NO_ERROR) call.response.reset_code = error_code;
  return 0;
}

ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                 uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
  Call& call = *static_cast<Call*>(user_data);
  const size_t n = std::min(length, call.body.size() - call.body_sent);
  std::memcpy(buf, call.body.data() + call.body_sent, n);
  call.body_sent += n;
  if (call.body_sent == call.body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

nghttp2_nv Header(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

absl::StatusOr<int> Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError(std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect to 127.0.0.1:", port, ": ", std::strerror(err)));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Runs the session until the call's stream closes.
absl::Status Exchange(nghttp2_session* session, Call& call,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<uint8_t> buffer(16384);
  while (!call.stream_closed) {
    if (int rv = nghttp2_session_send(session); rv != 0) {
      return absl::InternalError(
          absl::StrCat("nghttp2 send: ", nghttp2_strerror(rv)));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError("no answer before the deadline");
    }
    pollfd pfd{call.fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(call.fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) {
      return absl::UnavailableError("the server closed the connection");
    }
    const ssize_t used = nghttp2_session_mem_recv(session, buffer.data(), n);
    if (used < 0) {
      return absl::InternalError(absl::StrCat(
          "nghttp2 recv: ", nghttp2_strerror(static_cast<int>(used))));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string GrpcMessageFrame(std::string_view payload, uint8_t compressed_flag,
                             std::optional<uint32_t> declared_length) {
  const uint32_t length =
      declared_length.value_or(static_cast<uint32_t>(payload.size()));
  std::string frame;
  frame.push_back(static_cast<char>(compressed_flag));
  for (int shift = 24; shift >= 0; shift -= 8) {
    frame.push_back(static_cast<char>((length >> shift) & 0xFF));
  }
  frame.append(payload);
  return frame;
}

absl::StatusOr<RawGrpcResponse> RawGrpcCall(int port, std::string_view path,
                                            std::string body,
                                            std::chrono::milliseconds timeout) {
  absl::StatusOr<int> fd = Connect(port);
  if (!fd.ok()) return fd.status();
  Call call;
  call.fd = *fd;
  call.body = std::move(body);

  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_send_callback(callbacks, Send);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         OnStreamClose);
  nghttp2_session* session = nullptr;
  nghttp2_session_client_new(&session, callbacks, &call);
  nghttp2_session_callbacks_del(callbacks);

  const std::string authority = absl::StrCat("127.0.0.1:", port);
  const nghttp2_nv headers[] = {
      Header(":method", "POST"),
      Header(":scheme", "http"),
      Header(":path", path),
      Header(":authority", authority),
      Header("content-type", "application/grpc"),
      Header("te", "trailers"),
  };
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  nghttp2_data_provider provider{};
  provider.read_callback = ReadBody;
  call.stream_id = nghttp2_submit_request(session, nullptr, headers,
                                          sizeof(headers) / sizeof(headers[0]),
                                          &provider, nullptr);
  absl::Status status =
      call.stream_id < 0
          ? absl::InternalError(absl::StrCat("nghttp2 submit: ",
                                             nghttp2_strerror(call.stream_id)))
          : Exchange(session, call, timeout);
  nghttp2_session_del(session);
  ::close(call.fd);
  if (!status.ok()) return status;
  return call.response;
}

}  // namespace aisle::testing
