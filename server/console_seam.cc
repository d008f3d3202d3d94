#include "server/console_seam.h"

#include <optional>
#include <string_view>
#include <utility>

#include "grpcpp/support/channel_arguments.h"
#include "spdlog/spdlog.h"

namespace aisle::server {

absl::StatusOr<std::unique_ptr<console::ConsoleServer>> StartConsole(
    const ServerConfig& config, grpc::Server* grpc_server,
    std::shared_ptr<Authenticator> auth, Metrics* metrics,
    const ItemActivity* activity) {
  if (config.console_port < 0) return nullptr;
  console::ConsoleOptions options;
  options.host = config.console_host;
  options.port = config.console_port;
  options.sample_interval_ms = config.console_sample_interval_ms;
  options.channel = grpc_server->InProcessChannel(grpc::ChannelArguments());
  if (auth != nullptr && auth->enabled()) {
    // The in-process channel bypasses the port's credentials, so the
    // console asks the same Authenticator before every call.
    options.authorize = [auth](std::string_view path,
                               std::optional<std::string_view> authorization) {
      grpc::Status status = auth->Check(path, authorization, {});
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    };
  }
  options.metrics = metrics->collectable();
  if (activity != nullptr) {
    options.item_counts = [activity](std::string_view item_id) {
      const ItemActivity::Counts c = activity->Get(item_id);
      auto events = [&c](core::EventType type) {
        return c.events[static_cast<int>(type)];
      };
      console::ItemCounts counts;
      counts.recommended = c.recommended;
      counts.views = events(core::EventType::kView);
      counts.clicks = events(core::EventType::kClick);
      counts.add_to_carts = events(core::EventType::kAddToCart);
      counts.purchases = events(core::EventType::kPurchase);
      counts.since_ms = activity->started_ms();
      counts.partial = activity->full();
      return counts;
    };
  }
  absl::StatusOr<std::unique_ptr<console::ConsoleServer>> console =
      console::ConsoleServer::Start(std::move(options));
  if (!console.ok()) return console.status();
  spdlog::info("console on http://{}:{}/{}", config.console_host,
               (*console)->port(),
               auth != nullptr && auth->enabled()
                   ? ""
                   : " (no --auth-tokens: anyone who reaches it may "
                     "change models)");
  return console;
}

}  // namespace aisle::server
