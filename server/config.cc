#include "server/config.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "cluster/event_log.h"
#include "core/string_view.h"
#include "server/config_flags.h"

namespace aisle::server {
namespace {

using config_internal::Bad;
using config_internal::BoolSetter;
using config_internal::FlagOption;
using config_internal::IntSetter;
using config_internal::ParseDouble;
using config_internal::ParseInt;
using config_internal::Setter;

Setter DurationSetter(int64_t ServerConfig::*field, bool allow_disable) {
  return [=](absl::string_view v, ServerConfig* c) -> absl::Status {
    if (allow_disable && absl::StripAsciiWhitespace(v) == "-1") {
      c->*field = -1;
      return absl::OkStatus();
    }
    absl::StatusOr<int64_t> ms = ParseDurationMs(core::ToStd(v));
    if (!ms.ok()) return ms.status();
    if (allow_disable && *ms == 0) {
      return Bad("must be positive, or -1 to disable");
    }
    c->*field = *ms;
    return absl::OkStatus();
  };
}

Setter StringSetter(std::string ServerConfig::*field, bool non_empty) {
  return [=](absl::string_view v, ServerConfig* c) -> absl::Status {
    if (non_empty && v.empty()) return Bad("must not be empty");
    c->*field = std::string(v);
    return absl::OkStatus();
  };
}

Setter PathSetter(std::string TlsFiles::*field) {
  return [=](absl::string_view v, ServerConfig* c) -> absl::Status {
    c->tls.*field = std::string(v);
    return absl::OkStatus();
  };
}

// Every flag but the engine-tuning ones, in the order --help lists them.
std::vector<FlagOption> ServerFlagOptions() {
  return {
      {"host", "ADDR",
       "Address to bind the gRPC server (default 0.0.0.0: all interfaces, "
       "for containers; 127.0.0.1 keeps it local).",
       false, StringSetter(&ServerConfig::host, true)},
      {"port", "N", "gRPC port; 0 = ephemeral (default 50051).", false,
       IntSetter(&ServerConfig::port, 0, 65535)},
      {"metrics-port", "N",
       "Prometheus /metrics port; 0 = ephemeral, -1 = disabled (default "
       "9464).",
       false, IntSetter(&ServerConfig::metrics_port, -1, 65535)},
      {"data-dir", "DIR", "RocksDB data directory (default ./aisle-data).",
       false, StringSetter(&ServerConfig::data_dir, true)},
      {"demo", "",
       "With an empty data dir, generate a demo catalog and events and "
       "train an initial model (default off).",
       true, BoolSetter([](ServerConfig* c) -> bool& { return c->demo; })},
      {"durability", "process|machine",
       "process: acknowledged events survive a process crash; machine: "
       "fsync, they survive power loss (default process).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         if (v == "process") {
           c->durability = storage::Durability::kProcess;
         } else if (v == "machine") {
           c->durability = storage::Durability::kMachine;
         } else {
           return Bad(
               absl::StrCat("must be process or machine, got \"", v, "\""));
         }
         return absl::OkStatus();
       }},
      {"log-level", "LEVEL",
       "trace, debug, info, warn, error or off (default info).", false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         static constexpr absl::string_view kLevels[] = {
             "trace", "debug", "info", "warn", "error", "off"};
         for (absl::string_view level : kLevels) {
           if (v == level) {
             c->log_level = std::string(v);
             return absl::OkStatus();
           }
         }
         return Bad(absl::StrCat(
             "must be trace, debug, info, warn, error or off, got \"", v,
             "\""));
       }},
      {"log-format", "text|json",
       "Log lines as text or one JSON object per line (default text).", false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         if (v == "text") {
           c->log_format = LogFormat::kText;
         } else if (v == "json") {
           c->log_format = LogFormat::kJson;
         } else {
           return Bad(absl::StrCat("must be text or json, got \"", v, "\""));
         }
         return absl::OkStatus();
       }},
      {"access-log-sample", "FRACTION",
       "Fraction of RPCs written to the access log, 0..1 (default 0.01).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<double> d = ParseDouble(v, 0, 1);
         if (!d.ok()) return d.status();
         c->access_log_sample = *d;
         return absl::OkStatus();
       }},
      {"log-salt", "SECRET",
       "Key for hashing user ids in logs (default: random per process).", false,
       StringSetter(&ServerConfig::log_salt, false)},
      {"model-poll-interval", "DURATION",
       "How often to check <data-dir>/model-inbox for new models; -1 "
       "disables (default 10s).",
       false, DurationSetter(&ServerConfig::model_poll_interval_ms, true)},
      {"max-message-bytes", "SIZE",
       "Largest accepted request; larger ones get RESOURCE_EXHAUSTED "
       "(default 4MiB).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseByteSize(core::ToStd(v));
         if (!n.ok()) return n.status();
         if (*n < 1024 || *n > (1LL << 30)) {
           return Bad(absl::StrCat("must be 1KiB..1GiB, got ", *n, " bytes"));
         }
         c->max_message_bytes = *n;
         return absl::OkStatus();
       }},
      {"threads", "N", "Cap on gRPC's thread quota; 0 = no cap (default 0).",
       false, IntSetter(&ServerConfig::threads, 0, 1024)},
      {"admission", "adaptive|fixed|off",
       "Admission control: past the limit of its class (read, write, "
       "admin) a call is refused at once with RESOURCE_EXHAUSTED. adaptive: "
       "the write limit follows latency up to --max-in-flight-write, read "
       "and admin limits are fixed; fixed: the --max-in-flight-* limits; "
       "off: none (default adaptive).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         if (v == "adaptive") {
           c->admission = AdmissionMode::kAdaptive;
         } else if (v == "fixed") {
           c->admission = AdmissionMode::kFixed;
         } else if (v == "off") {
           c->admission = AdmissionMode::kOff;
         } else {
           return Bad(
               absl::StrCat("must be adaptive, fixed or off, got \"", v, "\""));
         }
         return absl::OkStatus();
       }},
      {"max-in-flight-read", "N",
       "Recommend/GetItem/GetUser calls queued or worked on at once "
       "(default 64).",
       false, IntSetter(&ServerConfig::max_in_flight_read, 1, 100000)},
      {"max-in-flight-write", "N",
       "Feedback/ImportEvents/UpsertItems/DeleteItems calls at once "
       "(default 32).",
       false, IntSetter(&ServerConfig::max_in_flight_write, 1, 100000)},
      {"max-in-flight-admin", "N",
       "GetModelInfo/ListModels/ActivateModel/DeleteUser calls at once; "
       "always fixed (default 4).",
       false, IntSetter(&ServerConfig::max_in_flight_admin, 1, 100000)},
      {"workers", "N",
       "Recommend calls worked on at once; 0 = the cores the process may "
       "use: its CPU affinity, capped by its cgroup's CPU limit (default 0).",
       false, IntSetter(&ServerConfig::workers, 0, 1024)},
      {"cpu-policy", "adaptive|batch|normal",
       "Linux scheduling policy of the server's threads. batch "
       "(SCHED_BATCH): a thread woken by an arriving request does not "
       "preempt the one working on a call: more calls per core and a lower "
       "p99 near capacity (background work then runs under SCHED_IDLE), but "
       "fewer calls shed in time past capacity; adaptive: the gRPC threads "
       "that run Recommend are under SCHED_BATCH while nothing is shed for "
       "load and under SCHED_OTHER from the first call shed until a second "
       "passes without one; normal: the policy the process was started "
       "with, the kernel's default unless chrt(1) set another (default "
       "adaptive).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         if (v == "adaptive") {
           c->cpu_policy = CpuPolicy::kAdaptive;
         } else if (v == "batch") {
           c->cpu_policy = CpuPolicy::kBatch;
         } else if (v == "normal") {
           c->cpu_policy = CpuPolicy::kNormal;
         } else {
           return Bad(absl::StrCat("must be adaptive, batch or normal, got \"",
                                   v, "\""));
         }
         return absl::OkStatus();
       }},
      {"grpc-poll-strategy", "poll|epoll1",
       "gRPC's poll strategy. poll: each connection is read by the threads "
       "of its completion queue; epoll1: by any thread. Measured: no gain "
       "from poll, and fewer calls answered in time past capacity (default: "
       "GRPC_POLL_STRATEGY when set, else epoll1).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         if (v != "poll" && v != "epoll1") {
           return Bad(absl::StrCat("must be poll or epoll1, got \"", v, "\""));
         }
         c->grpc_poll_strategy = std::string(v);
         return absl::OkStatus();
       }},
      {"max-queued-read", "N",
       "Recommend calls waiting for a worker; past it a call is "
       "refused at once with RESOURCE_EXHAUSTED (default 64).",
       false, IntSetter(&ServerConfig::max_queued_read, 1, 100000)},
      {"max-queue-delay", "DURATION",
       "A Recommend that waited longer to be worked on is refused unworked "
       "with RESOURCE_EXHAUSTED (default 20ms).",
       false, DurationSetter(&ServerConfig::max_queue_delay_ms, false)},
      {"grpc-memory", "SIZE",
       "Memory gRPC may use for connections and calls (default 1GiB).", false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseByteSize(core::ToStd(v));
         if (!n.ok()) return n.status();
         if (*n < (1 << 20)) {
           return Bad(
               absl::StrCat("must be at least 1MiB, got ", *n, " bytes"));
         }
         c->grpc_memory_bytes = *n;
         return absl::OkStatus();
       }},
      {"max-concurrent-streams", "N",
       "Calls one client connection may have open at once; more wait in "
       "the client (default 100).",
       false, IntSetter(&ServerConfig::max_concurrent_streams, 1, 1000000)},
      {"idempotency-retention", "DURATION",
       "How long event ids are remembered to skip duplicates (default "
       "30d).",
       false, DurationSetter(&ServerConfig::idempotency_retention_ms, false)},
      {"models-to-keep", "N", "Model versions kept in the store (default 5).",
       false, IntSetter(&ServerConfig::models_to_keep, 1, 1000)},
      {"shutdown-grace", "DURATION",
       "Time in-flight RPCs get to finish at shutdown (default 10s).", false,
       DurationSetter(&ServerConfig::shutdown_grace_ms, false)},
      {"block-cache", "SIZE", "RocksDB block cache size (default 256MiB).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseByteSize(core::ToStd(v));
         if (!n.ok()) return n.status();
         c->block_cache_bytes = *n;
         return absl::OkStatus();
       }},
      {"cluster", "URLS",
       "Cluster mode: comma-separated NATS URLs of the replicated log, e.g. "
       "nats://h1:4222,nats://h2:4222,nats://h3:4222 (default: none, "
       "single-node; docs/cluster.md).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<std::vector<std::string>> servers =
             cluster::ParseServerList(core::ToStd(v));
         if (!servers.ok()) return servers.status();
         c->cluster = std::string(v);
         return absl::OkStatus();
       }},
      {"cluster-stream", "NAME",
       "JetStream stream of the cluster's log (default AISLE).", false,
       StringSetter(&ServerConfig::cluster_stream, true)},
      {"cluster-read-wait", "DURATION",
       "How long Recommend waits for its min_log_position before answering "
       "stale (default 50ms).",
       false, DurationSetter(&ServerConfig::cluster_read_wait_ms, false)},
      {"cluster-snapshot-interval", "DURATION",
       "Cluster mode: publish this node's store for joining nodes when "
       "the newest published snapshot is older than this; -1 = never "
       "(default 1h).",
       false,
       DurationSetter(&ServerConfig::cluster_snapshot_interval_ms, true)},
      {"cluster-join-wait", "DURATION",
       "Cluster mode: how long a node with an empty data dir waits at "
       "start for NATS to list the cluster's snapshots (default 60s).",
       false, DurationSetter(&ServerConfig::cluster_join_wait_ms, false)},
      {"cluster-max-age", "DURATION",
       "Cluster mode: the log keeps entries this long (at least 3 "
       "snapshot intervals); 0 = forever (default: the stream's limits "
       "as they are).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> ms = ParseDurationMs(core::ToStd(v));
         if (!ms.ok()) return ms.status();
         if (*ms < 0) return Bad("must be 0 (forever) or positive");
         c->cluster_max_age_ms = *ms;
         return absl::OkStatus();
       }},
      {"tls-cert", "FILE",
       "PEM certificate chain of the gRPC port; with --tls-key turns on "
       "TLS (default: none = plaintext, with a warning).",
       false, PathSetter(&TlsFiles::cert)},
      {"tls-key", "FILE", "PEM private key of --tls-cert.", false,
       PathSetter(&TlsFiles::key)},
      {"tls-client-ca", "FILE",
       "PEM CA bundle: clients must present a certificate it signed "
       "(mutual TLS).",
       false, PathSetter(&TlsFiles::client_ca)},
      {"auth-tokens", "FILE",
       "Bearer tokens with roles, one `role token` per line (roles read, "
       "write, admin); re-read on change (default: none = no "
       "authentication, with a warning).",
       false, StringSetter(&ServerConfig::auth_tokens_file, false)},
      {"tls-roles", "FILE",
       "Roles of mutual-TLS clients, one `role identity` per line "
       "(identity: the certificate's common name or a subject alternative "
       "name); re-read on change.",
       false, StringSetter(&ServerConfig::tls_roles_file, false)},
      {"metrics-address", "ADDR",
       "Address the /metrics listener binds (default: --host); e.g. the "
       "pod IP, so that only the cluster can scrape.",
       false, StringSetter(&ServerConfig::metrics_address, false)},
      {"snapshot-interval", "DURATION",
       "How often to snapshot the engine's state so that a restart replays "
       "only newer events (also at shutdown); -1 disables (default 10m).",
       false, DurationSetter(&ServerConfig::snapshot_interval_ms, true)},
      {"console-port", "N",
       "Serve the web console on this port (docs/console.md); 0 = "
       "ephemeral, -1 = off (default -1).",
       false, IntSetter(&ServerConfig::console_port, -1, 65535)},
      {"console-host", "ADDR",
       "Address the web console binds (default 127.0.0.1: this machine "
       "only).",
       false, StringSetter(&ServerConfig::console_host, true)},
      {"event-retention", "DURATION",
       "Delete raw events older than this, hourly; 0 = keep forever "
       "(default 0).",
       false, DurationSetter(&ServerConfig::event_retention_ms, false)},
      {"attribution-key", "FILE",
       "Hex keys of the recommendation ids' HMAC, one per line; the first "
       "signs, all verify (default: <data-dir>/attribution.key, generated).",
       false, StringSetter(&ServerConfig::attribution_key_file, false)},
      {"experiments", "FILE",
       "A/B experiments, JSON (docs/experiments.md): arms with traffic "
       "shares and engine settings (default: none).",
       false, StringSetter(&ServerConfig::experiments_file, false)},
      {"attribution-window", "DURATION",
       "Events count for the recommendation whose id they carry for this "
       "long after it was issued (default 7d).",
       false, DurationSetter(&ServerConfig::attribution_window_ms, false)},
      {"tls-reload-interval", "DURATION",
       "How often the TLS files are re-read, so rotated certificates apply "
       "without a restart (default 60s).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> ms = ParseDurationMs(core::ToStd(v));
         if (!ms.ok()) return ms.status();
         if (*ms < 1000 || *ms > 86'400'000) return Bad("must be 1s..1d");
         c->tls.reload_interval_s = static_cast<int>(*ms / 1000);
         return absl::OkStatus();
       }},
  };
}

// The one flag table: the server's flags, then the engine-tuning ones
// (config_engine_flags.cc).
const std::vector<FlagOption>& Options() {
  static const std::vector<FlagOption>* options = [] {
    auto* all = new std::vector<FlagOption>(ServerFlagOptions());
    std::vector<FlagOption> engine = config_internal::EngineFlagOptions();
    all->insert(all->end(), engine.begin(), engine.end());
    return all;
  }();
  return *options;
}

const FlagOption* FindOption(absl::string_view name) {
  for (const FlagOption& option : Options()) {
    if (option.name == name) return &option;
  }
  return nullptr;
}

std::string EnvName(absl::string_view name) {
  std::string env = absl::StrCat("AISLE_", name);
  absl::AsciiStrToUpper(&env);
  absl::StrReplaceAll({{"-", "_"}}, &env);
  return env;
}

// A value and where it came from, for error messages.
struct Setting {
  std::string value;
  std::string source;  // "--port", "AISLE_PORT", "file.conf:3"
};

absl::Status ParseConfigFile(const std::string& path,
                             std::map<std::string, Setting>* out) {
  return ForEachFlagFileLine(
      "--config", path, [&](absl::string_view text, int line_no) {
        std::string where = absl::StrCat(path, ":", line_no);
        size_t eq = text.find('=');
        if (eq == absl::string_view::npos) {
          return Bad(absl::StrCat(where, ": expected `key = value`, got \"",
                                  text, "\""));
        }
        std::string key(absl::StripAsciiWhitespace(text.substr(0, eq)));
        absl::StrReplaceAll({{"_", "-"}}, &key);
        absl::string_view value =
            absl::StripAsciiWhitespace(text.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
          value = value.substr(1, value.size() - 2);
        }
        if (key == "config" || FindOption(key) == nullptr) {
          return Bad(absl::StrCat(where, ": unknown option \"", key, "\""));
        }
        (*out)[key] = Setting{std::string(value), where};
        return absl::OkStatus();
      });
}

constexpr absl::string_view kHelpMessage = "help";

}  // namespace

std::string GrpcPollStrategy(const ServerConfig& config, const char* grpc_env) {
  if (!config.grpc_poll_strategy.empty()) return config.grpc_poll_strategy;
  if (grpc_env != nullptr && grpc_env[0] != '\0') return grpc_env;
  return "epoll1";
}

bool IsHelpRequest(const absl::Status& status) {
  return absl::IsInvalidArgument(status) && status.message() == kHelpMessage;
}

absl::StatusOr<ServerConfig> ParseServeArgs(
    int argc, char** argv, const std::map<std::string, std::string>& env) {
  std::map<std::string, Setting> flags;
  std::optional<Setting> config_file;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return Bad(kHelpMessage);
    if (!absl::ConsumePrefix(&arg, "--")) {
      return Bad(absl::StrCat("unexpected argument \"", arg,
                              "\" (flags start with --; see --help)"));
    }
    std::string name;
    std::optional<std::string> value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else {
      name = std::string(arg);
    }
    const FlagOption* option = FindOption(name);
    if (option == nullptr && name != "config") {
      return Bad(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!value.has_value()) {
      if (option != nullptr && option->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return Bad(absl::StrCat("--", name, ": missing value"));
      }
    }
    Setting setting{*value, absl::StrCat("--", name)};
    if (name == "config") {
      config_file = setting;
    } else {
      flags[name] = setting;
    }
  }
  if (!config_file.has_value()) {
    if (auto it = env.find("AISLE_CONFIG"); it != env.end()) {
      config_file = Setting{it->second, "AISLE_CONFIG"};
    }
  }

  std::map<std::string, Setting> file_settings;
  if (config_file.has_value() && !config_file->value.empty()) {
    absl::Status status = ParseConfigFile(config_file->value, &file_settings);
    if (!status.ok()) return status;
  }

  ServerConfig config;
  if (config_file.has_value()) config.config_file = config_file->value;
  // Lowest precedence first; later layers overwrite.
  std::map<std::string, Setting> merged = std::move(file_settings);
  for (const FlagOption& option : Options()) {
    std::string env_name = EnvName(option.name);
    if (auto it = env.find(env_name); it != env.end()) {
      merged[std::string(option.name)] = Setting{it->second, env_name};
    }
  }
  for (auto& [name, setting] : flags) merged[name] = setting;

  for (const auto& [name, setting] : merged) {
    const FlagOption* option = FindOption(name);
    absl::Status status = option->set(setting.value, &config);
    if (!status.ok()) {
      return Bad(absl::StrCat(setting.source, ": ", status.message()));
    }
  }
  if (config.cluster_max_age_ms > 0) {
    if (config.cluster_snapshot_interval_ms <= 0) {
      return Bad(
          "--cluster-max-age needs snapshots (--cluster-snapshot-interval "
          "is -1): without them a joining node cannot get the deleted "
          "entries");
    }
    if (config.cluster_max_age_ms < 3 * config.cluster_snapshot_interval_ms) {
      return Bad(absl::StrCat(
          "--cluster-max-age (", config.cluster_max_age_ms,
          " ms) must be at least 3 x --cluster-snapshot-interval (",
          config.cluster_snapshot_interval_ms,
          " ms), so that a joining node finds a snapshot the log continues"));
    }
  }
  return config;
}

std::string ServeUsage() {
  std::string usage =
      "Usage: aisle serve [flags]\n\n"
      "Runs the Aisle recommendation server (gRPC + Prometheus metrics).\n"
      "Every flag can also be set with an AISLE_<FLAG> environment variable\n"
      "(e.g. AISLE_METRICS_PORT=9464) or a `key = value` line in the file\n"
      "given with --config FILE (or AISLE_CONFIG). Precedence: flag > "
      "environment > file > default.\n"
      "Durations: 250ms, 10s, 5m, 2h, 30d. Sizes: 4194304, 512KiB, 4MiB.\n\n"
      "Flags:\n"
      "  --config FILE\n      Read options from FILE (`key = value` "
      "lines, # comments).\n";
  for (const FlagOption& option : Options()) {
    absl::StrAppend(&usage, "  --", option.name);
    if (!option.value_name.empty()) {
      absl::StrAppend(&usage, " ", option.value_name);
    }
    absl::StrAppend(&usage, "\n      ", option.help, "\n");
  }
  absl::StrAppend(&usage, "  --help\n      Show this help.\n");
  return usage;
}

}  // namespace aisle::server
