// Internal to cluster/: the NATS connection set-up and error mapping that
// the log (jetstream_log.cc) and the blob store (jetstream_blobs.cc)
// share, and owning pointers for the C client's objects (libnats 3.4).
//
// Thread safety: ConnectNats is called once per connection; the handles
// are as thread-safe as libnats makes them (connections and JetStream
// contexts may be shared).
#ifndef AISLE_CLUSTER_NATS_CONNECTION_H_
#define AISLE_CLUSTER_NATS_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nats/nats.h"

namespace aisle::cluster {

struct OptionsDeleter {
  void operator()(natsOptions* p) const { natsOptions_Destroy(p); }
};
struct ConnectionDeleter {
  void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
};
struct JsDeleter {
  void operator()(jsCtx* p) const { jsCtx_Destroy(p); }
};
struct StreamInfoDeleter {
  void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); }
};

// A connection, the options it was made with (which must outlive it) and
// its JetStream context.
struct NatsConnection {
  std::unique_ptr<natsOptions, OptionsDeleter> options;
  std::unique_ptr<natsConnection, ConnectionDeleter> conn;
  std::unique_ptr<jsCtx, JsDeleter> js;
};

// Optional connection callbacks (run on NATS threads; must not block).
struct NatsCallbacks {
  natsConnectionHandler disconnected = nullptr;
  natsConnectionHandler reconnected = nullptr;
  natsConnectionHandler closed = nullptr;
  // Also called once a first connection made in the background succeeds.
  natsConnectionHandler connected = nullptr;
  void* closure = nullptr;
};

// Connects to any of `servers`, reconnecting forever (every 250 ms) and
// noticing a dead server within ~2 s, and opens JetStream on it with
// `js_options`. When no server answers yet the connection is returned all
// the same and connects in the background. Errors: InvalidArgument for
// bad options; Unavailable otherwise.
absl::Status ConnectNats(const std::vector<std::string>& servers,
                         const std::string& name,
                         const NatsCallbacks& callbacks, jsOptions* js_options,
                         NatsConnection* out);

// A NATS failure as UNAVAILABLE (everything NATS reports at run time is a
// reason to retry later or elsewhere), with the library's last error.
absl::Status NatsError(natsStatus s, jsErrCode js_error,
                       absl::string_view what);

// At least 1 ms (NATS reads 0 as "no wait").
inline int64_t Millis(absl::Duration d) {
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(d));
}

}  // namespace aisle::cluster

#endif  // AISLE_CLUSTER_NATS_CONNECTION_H_
