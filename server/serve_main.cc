// `aisle serve`: flags, logging, signals, and the AisleServer's lifetime.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "server/cpu_policy.h"
#include "server/logging.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace aisle::server {
namespace {

// The AISLE_* entries of the process environment.
std::map<std::string, std::string> AisleEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry = *e;
    if (entry.substr(0, 6) != "AISLE_") continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

}  // namespace

int ServeMain(int argc, char** argv) {
  absl::StatusOr<ServerConfig> config =
      ParseServeArgs(argc, argv, AisleEnvironment());
  if (!config.ok()) {
    if (IsHelpRequest(config.status())) {
      std::cout << ServeUsage();
      return 0;
    }
    std::cerr << "error: " << config.status().message()
              << "\nhint: run `aisle serve --help` for the options\n";
    return 2;
  }
  if (absl::Status s = ConfigureLogging(config->log_format, config->log_level);
      !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 2;
  }

  // Debian builds Abseil without NDEBUG, so every absl::Mutex lock would
  // record its acquisition order in a global graph (deadlock detection):
  // about 3% of a loaded server's CPU in a profile, behind a global lock.
  // The tests keep it on (they never call ServeMain); the binary turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are taken synchronously by a dedicated thread (sigwait), so
  // shutdown work never runs inside a signal handler. They are blocked
  // before any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Before AisleServer::Start creates gRPC's, RocksDB's and the read
  // loop's threads, so that they inherit it. `normal` leaves the policy
  // the process was started with (chrt(1) can set one).
  if (config->cpu_policy == CpuPolicy::kBatch) {
    if (absl::Status s = ApplyCpuPolicy(config->cpu_policy); !s.ok()) {
      spdlog::warn("--cpu-policy batch: {}; the threads keep their policy",
                   s.ToString());
    }
  }

  // gRPC reads it when it first starts, inside AisleServer::Start.
  const std::string poll_strategy =
      GrpcPollStrategy(*config, std::getenv("GRPC_POLL_STRATEGY"));
  setenv("GRPC_POLL_STRATEGY", poll_strategy.c_str(), 1);
  spdlog::info("gRPC poll strategy: {}", poll_strategy);

  absl::StatusOr<std::unique_ptr<AisleServer>> server =
      AisleServer::Start(*config);
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    return 1;
  }
  std::cerr << "aisle serving on " << config->host << ":" << (*server)->port()
            << " (try: aisle recommend --target localhost:" << (*server)->port()
            << " --user u1)\n";

  int signo = 0;
  sigwait(&signals, &signo);
  spdlog::info("received {}, shutting down (grace {} ms)",
               signo == SIGTERM ? "SIGTERM" : "SIGINT",
               config->shutdown_grace_ms);
  (*server)->Shutdown();
  server->reset();
  spdlog::info("bye");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace aisle::server
