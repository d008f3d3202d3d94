// The seam between the server and its web console (console/): builds the
// console's options from the server's flags and units.
//
// Thread safety: StartConsole may be called from any thread.
#ifndef AISLE_SERVER_CONSOLE_SEAM_H_
#define AISLE_SERVER_CONSOLE_SEAM_H_

#include <memory>

#include "absl/status/statusor.h"
#include "console/console_server.h"
#include "grpcpp/server.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/item_activity.h"
#include "server/metrics.h"

namespace aisle::server {

// Starts the console on config.console_host:console_port, calling
// `grpc_server`'s services through an in-process channel, with `auth`
// deciding who may call what (nothing is checked when it is not enabled)
// `metrics` for the overview and `activity` (may be null) for the Item
// page's counts. All borrowed: they must outlive the returned console. Null
// when config.console_port is -1 (off). Errors: Unavailable when the port
// cannot be bound.
absl::StatusOr<std::unique_ptr<console::ConsoleServer>> StartConsole(
    const ServerConfig& config, grpc::Server* grpc_server,
    std::shared_ptr<Authenticator> auth, Metrics* metrics,
    const ItemActivity* activity);

}  // namespace aisle::server

#endif  // AISLE_SERVER_CONSOLE_SEAM_H_
