// ServerConfig: every option of `aisle serve`, with its default, and the
// parser that assembles it from command-line flags, AISLE_* environment
// variables and an optional config file.
//
// Precedence (highest first): --flag, AISLE_<FLAG> environment variable
// (e.g. AISLE_METRICS_PORT for --metrics-port), a `key = value` line in the
// file named by --config (or AISLE_CONFIG), the default below.
//
// Config file syntax: one `key = value` per line; keys are the flag names
// without the leading dashes ("metrics-port" or "metrics_port"); blank lines
// and lines starting with '#' are ignored; values may be wrapped in double
// quotes.
//
// Durations accept a number followed by ms, s, m, h or d ("10s", "30d",
// "250ms"); a bare number means seconds. Sizes accept B, KiB, MiB, GiB (or
// K, M, G as powers of 1024); a bare number means bytes.
//
// Thread safety: plain values; ParseServeArgs is pure (it reads the config
// file but no global state).
#ifndef AISLE_SERVER_CONFIG_H_
#define AISLE_SERVER_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/engine.h"
#include "server/admission.h"
#include "server/cpu_policy.h"
#include "server/tls.h"
#include "storage/store.h"

namespace aisle::server {

enum class LogFormat { kText, kJson };

struct ServerConfig {
  // Address the gRPC server binds. Default: "0.0.0.0" (all interfaces, so
  // that it is reachable inside a container); use 127.0.0.1 to keep it
  // local.
  std::string host = "0.0.0.0";
  // gRPC port. 0 = an ephemeral port (tests). Default: 50051.
  int port = 50051;
  // Prometheus /metrics port, on the same host. 0 = ephemeral, -1 =
  // disabled. Default: 9464.
  int metrics_port = 9464;
  // RocksDB data directory, created if missing. Default: "./aisle-data".
  std::string data_dir = "./aisle-data";
  // With an empty data dir: generate the demo catalog and events and train
  // an initial model. Default: false.
  bool demo = false;
  // kProcess: survives a crash of the process; kMachine: fsync, survives
  // power loss. Default: kProcess.
  storage::Durability durability = storage::Durability::kProcess;
  // "trace", "debug", "info", "warn", "error", "off". Default: "info".
  std::string log_level = "info";
  // Text lines or one JSON object per line. Default: kText.
  LogFormat log_format = LogFormat::kText;
  // Fraction of RPCs written to the access log (0..1). Default: 0.01.
  double access_log_sample = 0.01;
  // Salt for hashing user ids in logs. Default: "" = random per process
  // (hashes then cannot be correlated across restarts).
  std::string log_salt;
  // How often the server checks the model inbox and the active model
  // version, in ms. -1 disables the background poller (tests call
  // AisleServer::PollModelsOnce). Default: 10 s.
  int64_t model_poll_interval_ms = 10'000;
  // Largest accepted gRPC message; larger ones get RESOURCE_EXHAUSTED.
  // Default: 4 MiB.
  int64_t max_message_bytes = 4 << 20;
  // Cap on gRPC's thread quota (grpc::ResourceQuota::SetMaxThreads); 0 =
  // no cap. Callback handlers run on gRPC's own executor, which sizes
  // itself to the cores, so this is rarely needed. Default: 0.
  int threads = 0;
  // Admission control (server/admission.h): kAdaptive moves the write
  // limit with the observed latency between 2 and max_in_flight_write (the
  // read and admin limits stay fixed: admission.h says why);
  // kFixed uses max_in_flight_* as the limits; kOff admits everything.
  // Past the limit a call is refused at once with RESOURCE_EXHAUSTED.
  // In cluster mode kAdaptive keeps the write limit fixed (server.cc says
  // why). Default: kAdaptive.
  AdmissionMode admission = AdmissionMode::kAdaptive;
  // Calls of each class worked on at once: the fixed limits and the
  // adaptive maxima. Handlers are synchronous, so more reads in flight than
  // cores only adds waiting; the defaults leave room for cores plus slow
  // storage reads. Default: read 64, write 32, admin 4 (always fixed).
  int max_in_flight_read = 64;
  int max_in_flight_write = 32;
  int max_in_flight_admin = 4;
  // The scheduling policy of the process's threads (server/cpu_policy.h):
  // kBatch keeps gRPC's I/O threads from preempting a call being worked on
  // at every arriving request (more calls per core; the engine's
  // background work then runs under SCHED_IDLE), at the price of shedding
  // less in time past capacity; kAdaptive does so only for the gRPC
  // threads that run Recommend and only while its queue sheds nothing.
  // kBatch is applied by `aisle serve`, not by AisleServer::Start (a
  // library does not change its host's scheduling); kAdaptive by the
  // Recommend queue to the gRPC threads that submit to it. Default:
  // kAdaptive.
  CpuPolicy cpu_policy = CpuPolicy::kAdaptive;
  // gRPC's poll strategy ("poll" or "epoll1"), set by `aisle serve` before
  // gRPC starts (GrpcPollStrategy below). With "poll" a connection is
  // polled by the threads of the completion queue it is bound to; with
  // epoll1 (gRPC's default on Linux) any polling thread may, and hands
  // the call over. Measured with the earlier read loop (8ca6331) on one
  // core (scripts/ab_server.sh, server CPU per call, poll vs
  // epoll1): FOR_YOU users spread x0.88, one user x0.97, TRENDING x0.88,
  // Feedback x0.93, health check x1.06; but past capacity poll sheds
  // worse (scripts/overload.sh: at 2x the sustainable rate 51% of it
  // answered in time against 73%, at 4x 21% against 31%), and poll()'s
  // cost grows with the connections per queue. With the call queue
  // (call_queue.h) poll saves nothing: FOR_YOU spread x0.991, TRENDING
  // x1.095. --grpc-poll-strategy. Default: "" = GRPC_POLL_STRATEGY from the
  // environment when set, else gRPC's default (epoll1).
  std::string grpc_poll_strategy;
  // Recommend calls worked on at once (server/call_queue.h); 0 = the
  // cores the process may use: its CPU affinity, capped by its cgroup's
  // CPU limit (UsableCores, cpu_policy.h). Default: 0.
  int workers = 0;
  // Recommend calls waiting for a worker; past it a call is refused at
  // once with RESOURCE_EXHAUSTED. At ~5k Recommend/s per core (100k items)
  // 64 is ~13 ms of work, well inside a 100 ms deadline. Default: 64.
  int max_queued_read = 64;
  // A Recommend that waited longer than this to be worked on is refused
  // unworked (RESOURCE_EXHAUSTED): under a spike the stale head of the queue is
  // shed so that fresh calls are answered in time. A fifth of a 100 ms
  // deadline: the wait plus the ~0.1-1 ms of work and the network still
  // fit in it. Default: 20 ms.
  int64_t max_queue_delay_ms = 20;
  // Memory gRPC may use for connections and calls
  // (grpc::ResourceQuota::Resize); past it new calls are refused.
  // Default: 1 GiB.
  int64_t grpc_memory_bytes = int64_t{1} << 30;
  // Calls a client may have open at once on one connection (HTTP/2
  // MAX_CONCURRENT_STREAMS); further calls wait in the client, where their
  // deadline applies. Default: 100.
  int max_concurrent_streams = 100;
  // How long event ids are remembered for idempotency. Default: 30 days.
  int64_t idempotency_retention_ms = 30LL * 24 * 3600 * 1000;
  // Model versions kept in the store. Default: 5.
  int models_to_keep = 5;
  // In-flight RPCs get this long to finish at shutdown; then they are
  // cancelled. Default: 10 s.
  int64_t shutdown_grace_ms = 10'000;
  // RocksDB block cache. Default: 256 MiB.
  int64_t block_cache_bytes = 256 << 20;
  // Demo generation: ALS threads for the initial training (0 = all cores).
  // Default: 0.
  int train_threads = 0;
  // Demo generation: user segments learned with the initial model
  // (core/segments.h; 0 = none). Default: core::kDefaultSegments (6).
  int segments = 6;
  // Cluster mode (docs/cluster.md): the NATS servers of the replicated log,
  // comma-separated ("nats://h1:4222,nats://h2:4222,nats://h3:4222").
  // Default: "" = single-node mode (RocksDB only, no other process).
  std::string cluster;
  // The JetStream stream holding the log; nodes of one cluster share it.
  // Default: "AISLE".
  std::string cluster_stream = "AISLE";
  // How long Recommend waits for its min_log_position to be applied on
  // this node before answering with stale = true. Default: 50 ms.
  int64_t cluster_read_wait_ms = 50;
  // Node snapshots for joining nodes (server/cluster_snapshots.h): a node
  // publishes its store to the cluster's snapshot bucket when the newest
  // published one is older than this (or older than a DeleteUser), and
  // deletes the older ones. -1 = this node never publishes.
  // --cluster-snapshot-interval. Default: 1 hour.
  int64_t cluster_snapshot_interval_ms = 3'600'000;
  // How long a node with an empty data dir retries, at start, while the
  // cluster's snapshots cannot be listed (NATS starting, no JetStream
  // quorum yet) before it exits. --cluster-join-wait. Default: 60 s.
  int64_t cluster_join_wait_ms = 60'000;
  // Retention of the log (--cluster-max-age): JetStream deletes entries
  // older than this; must be at least 3 snapshot intervals, so that a
  // joining node always finds a snapshot the log's tail continues. -1 =
  // leave the stream's limits as they are (default); 0 = keep forever.
  int64_t cluster_max_age_ms = -1;
  // Engine knobs (see core/engine.h for meaning and defaults):
  //   --popularity-half-life (days, default 14), --trending-half-life
  //   (hours, default 24), --user-half-life (days, default 0 = off),
  //   --max-history-per-user (500), --co-occurrence-window (50),
  //   --exact-below-selectivity (0.05), --ann-min-items (20000); the
  //   session signal: --session-blend, --session-items, --session-window,
  //   --session-decay, --session-fresh-half-life,
  //   --session-transition-weight, --session-cooccurrence-weight;
  //   --event-weights and --blend-weights (core/weights_config.h).
  core::EngineOptions engine;
  // TLS of the gRPC port (server/tls.h): --tls-cert, --tls-key,
  // --tls-client-ca, --tls-reload-interval (default 60s). Default: none =
  // plaintext, with a warning at start.
  TlsFiles tls;
  // Credentials with roles (server/auth.h): --auth-tokens FILE (`role
  // token` lines) and --tls-roles FILE (`role identity` lines for mutual
  // TLS client certificates). Default: none = every caller may call every
  // method, with a warning at start.
  std::string auth_tokens_file;
  std::string tls_roles_file;
  // Tests only, no flag: how often calls check those files for changes.
  int64_t auth_reload_check_ms = 1000;
  // Address the /metrics listener binds. Default: "" = --host. Bind it to
  // the pod or management network only, so that the outside sees gRPC
  // only.
  std::string metrics_address;
  // The web console (console/console_server.h, docs/console.md):
  // --console-port (0 = ephemeral, -1 = off) and --console-host. Default:
  // off, on 127.0.0.1 when on.
  int console_port = -1;
  std::string console_host = "127.0.0.1";
  // Tests only, no flag: how often the console samples the metrics; -1 =
  // when its overview is asked (console_server.h).
  int64_t console_sample_interval_ms = 2000;
  // Raw events older than this are deleted by a background job
  // (--event-retention). Default: 0 = kept forever.
  int64_t event_retention_ms = 0;
  // Tests only, no flag: how often that job runs. Default: 1 hour.
  int64_t event_retention_interval_ms = 3'600'000;
  // How often the engine's derived state is snapshotted into the store
  // (when events or erasures happened since the last one), so that a
  // restart replays only the events after it (server/snapshots.h); also
  // at a clean shutdown. -1 disables both (every start replays every
  // event). --snapshot-interval. Default: 10 min.
  int64_t snapshot_interval_ms = 600'000;
  // Keys of the recommendation ids' MAC (server/recommendation_id.h):
  // --attribution-key FILE. Default: "" = <data-dir>/attribution.key,
  // generated on first start.
  std::string attribution_key_file;
  // Feedback carrying a recommendation id older than this is stored but not
  // attributed (--attribution-window). Default: 7 days.
  int64_t attribution_window_ms = 7LL * 24 * 3600 * 1000;
  // A/B experiments (server/experiments.h): --experiments FILE, JSON.
  // Default: "" = none; every answer has variant "default".
  std::string experiments_file;
  // Exploration of a Recommend that does not set it (--exploration,
  // 0..1; RecommendRequest.exploration). Default: 0.
  double default_exploration = 0;
  // The file given with --config, "" if none (for the startup log).
  std::string config_file;
  // Tests only, no flag: what call deadlines are compared with. Default:
  // null = absl::Now.
  std::function<absl::Time()> deadline_clock;
  // Tests only, no flag: run at the start of every Recommend's work (past
  // the call queue), on the thread that works on it; a test holds the
  // worker with it so that calls queue behind. Default: null.
  std::function<void()> recommend_work_hook;
};

// Parses `aisle serve` arguments. argv[0] is the subcommand name ("serve")
// and is skipped. Flags are "--name value" or "--name=value"; boolean flags
// (--demo) take no value or "=true/false". `env` holds the environment
// (only AISLE_* keys are read).
// Errors: InvalidArgument naming the flag (or env var, or file:line) and
// the accepted range, e.g. "--port: must be 0..65535, got 70000"; NotFound
// for a missing --config file. "--help" yields InvalidArgument with the
// message "help" so the caller can print ServeUsage() and exit 0.
absl::StatusOr<ServerConfig> ParseServeArgs(
    int argc, char** argv, const std::map<std::string, std::string>& env);

// True iff `status` is the "--help was requested" result of ParseServeArgs.
bool IsHelpRequest(const absl::Status& status);

// The text of `aisle serve --help`.
std::string ServeUsage();

// The poll strategy `aisle serve` gives gRPC: config.grpc_poll_strategy
// when set, else `grpc_env` (the environment's GRPC_POLL_STRATEGY; null
// or empty when unset), else "epoll1" (gRPC's default on Linux).
std::string GrpcPollStrategy(const ServerConfig& config, const char* grpc_env);

// The files named by flags (config, tokens, roles, keys, certificates).
// NotFound "<flag>: cannot read \"<path>\"" when the file cannot be read.
absl::StatusOr<std::string> ReadFlagFile(std::string_view flag,
                                         const std::string& path);
// Calls fn(text, line_no) for every line of the file that is not blank or
// a '#' comment, with surrounding whitespace stripped; stops at fn's first
// error and returns it. NotFound as ReadFlagFile.
absl::Status ForEachFlagFileLine(
    std::string_view flag, const std::string& path,
    const std::function<absl::Status(absl::string_view text, int line_no)>& fn);

// Helpers shared with the CLI; InvalidArgument with a short explanation.
absl::StatusOr<int64_t> ParseDurationMs(std::string_view text);
absl::StatusOr<int64_t> ParseByteSize(std::string_view text);

}  // namespace aisle::server

#endif  // AISLE_SERVER_CONFIG_H_
