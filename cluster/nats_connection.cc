#include "cluster/nats_connection.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace aisle::cluster {
namespace {

// With a connected callback (even one doing nothing) a failed first
// connect returns at once and retries in the background; without one
// natsConnection_Connect blocks until a server answers.
void IgnoreConnected(natsConnection*, void*) {}

}  // namespace

absl::Status ConnectNats(const std::vector<std::string>& servers,
                         const std::string& name,
                         const NatsCallbacks& callbacks, jsOptions* js_options,
                         NatsConnection* out) {
  natsOptions* raw_options = nullptr;
  if (natsOptions_Create(&raw_options) != NATS_OK) {
    return absl::ResourceExhaustedError("cannot allocate NATS options");
  }
  out->options.reset(raw_options);
  natsOptions* o = out->options.get();
  std::vector<const char*> urls;
  for (const std::string& url : servers) urls.push_back(url.c_str());
  natsStatus s =
      natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(o, name.c_str());
  // Reconnect forever, quickly: a node without NATS cannot take writes.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, 2000);
  // A dead server is noticed within ~2 pings, not the default 4 minutes.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 1000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, 2);
  if (s == NATS_OK && callbacks.disconnected != nullptr) {
    s = natsOptions_SetDisconnectedCB(o, callbacks.disconnected,
                                      callbacks.closure);
  }
  if (s == NATS_OK && callbacks.reconnected != nullptr) {
    s = natsOptions_SetReconnectedCB(o, callbacks.reconnected,
                                     callbacks.closure);
  }
  if (s == NATS_OK && callbacks.closed != nullptr) {
    s = natsOptions_SetClosedCB(o, callbacks.closed, callbacks.closure);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetRetryOnFailedConnect(
        o, true,
        callbacks.connected != nullptr ? callbacks.connected : IgnoreConnected,
        callbacks.closure);
  }
  if (s != NATS_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("NATS options: ", natsStatus_GetText(s), " (servers ",
                     absl::StrJoin(servers, ","), ")"));
  }
  natsConnection* raw_conn = nullptr;
  s = natsConnection_Connect(&raw_conn, o);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    return NatsError(s, static_cast<jsErrCode>(0), "connecting to NATS");
  }
  out->conn.reset(raw_conn);
  jsCtx* raw_js = nullptr;
  s = natsConnection_JetStream(&raw_js, out->conn.get(), js_options);
  if (s != NATS_OK) {
    return NatsError(s, static_cast<jsErrCode>(0), "opening JetStream");
  }
  out->js.reset(raw_js);
  return absl::OkStatus();
}

absl::Status NatsError(natsStatus s, jsErrCode js_error,
                       absl::string_view what) {
  std::string detail = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') absl::StrAppend(&detail, ": ", last);
  if (js_error != 0) {
    absl::StrAppend(&detail, " (JetStream error ", js_error, ")");
  }
  return absl::UnavailableError(
      absl::StrCat(what, ": ", detail, "; check that NATS is running"));
}

}  // namespace aisle::cluster
