#include "cli/cluster_training.h"

#include <filesystem>
#include <iostream>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/output.h"
#include "cli/text.h"
#include "cluster/blob_store.h"
#include "cluster/event_log.h"
#include "core/clock.h"
#include "server/cluster_models.h"
#include "server/log_entry.h"
#include "server/logging.h"

namespace aisle::cli {

void ClusterFlags::Register(FlagParser& parser) {
  parser.String("cluster", &urls,
                "cluster mode: the NATS servers of the cluster's log "
                "(nats://h1:4222,nats://h2:4222,...); DIR is then this "
                "command's own cache of the log (docs/cluster.md)");
  parser.String("cluster-stream", &stream,
                "cluster mode: the JetStream stream of the log");
  parser.Int("cluster-catch-up-seconds", &catch_up_seconds,
             "cluster mode: how long applying the log may take");
}

absl::StatusOr<std::unique_ptr<ClusterFollower>> ClusterFollower::Start(
    const ClusterFlags& flags, const std::string& data_dir) {
  if (absl::StatusOr<std::vector<std::string>> servers =
          cluster::ParseServerList(flags.urls);
      !servers.ok()) {
    return absl::InvalidArgumentError(
        Cat("--cluster: ", servers.status().message()));
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  server::ServerConfig config;
  config.host = "127.0.0.1";  // nobody calls the follower but this command
  config.port = 0;
  config.metrics_port = -1;
  config.console_port = -1;
  config.model_poll_interval_ms = -1;
  config.access_log_sample = 0;
  config.data_dir = data_dir;
  config.cluster = flags.urls;
  config.cluster_stream = flags.stream;
  // The follower's own log lines would interleave with the command's
  // output, and its warnings (a plaintext port without tokens) do not
  // apply to a loopback port only this command uses: errors only.
  if (absl::Status s =
          server::ConfigureLogging(server::LogFormat::kText, "error");
      !s.ok()) {
    return s;
  }
  std::cerr << "applying the cluster's log (" << flags.urls << ", stream "
            << flags.stream << ") into " << data_dir << "\n";
  const auto start = core::SteadyClock::now();
  absl::StatusOr<std::unique_ptr<server::AisleServer>> started =
      server::AisleServer::Start(config);
  if (!started.ok()) return started.status();
  std::unique_ptr<ClusterFollower> follower(new ClusterFollower());
  follower->flags_ = flags;
  follower->server_ = *std::move(started);
  absl::StatusOr<uint64_t> position = follower->server_->CatchUpWithLog(
      absl::Now() + absl::Seconds(flags.catch_up_seconds));
  if (!position.ok()) return position.status();
  follower->position_ = *position;
  follower->catch_up_seconds_ = core::SecondsSince(start);
  return follower;
}

std::unique_ptr<ClusterFollower> StartFollowerOrReport(
    const ClusterFlags& flags, const std::string& data_dir) {
  absl::StatusOr<std::unique_ptr<ClusterFollower>> started =
      ClusterFollower::Start(flags, data_dir);
  if (!started.ok()) {
    PrintError(Cat("following the cluster's log: ", started.status().message()),
               "check --cluster and that the NATS servers are running");
    return nullptr;
  }
  return *std::move(started);
}

ClusterFollower::~ClusterFollower() {
  if (server_ != nullptr) server_->Shutdown();
}

absl::StatusOr<std::string> ClusterFollower::Deliver(
    const core::ModelMetadata& metadata, const std::string& blob,
    bool activate) {
  absl::StatusOr<std::vector<std::string>> servers =
      cluster::ParseServerList(flags_.urls);
  if (!servers.ok()) return servers.status();
  cluster::BlobStoreOptions options;
  options.servers = *std::move(servers);
  options.bucket = server::ModelBucketName(flags_.stream);
  options.connection_name = "aisle train";
  absl::StatusOr<std::unique_ptr<cluster::BlobStore>> blobs =
      cluster::ConnectJetStreamBlobs(options);
  if (!blobs.ok()) return blobs.status();
  const auto publish_start = core::SteadyClock::now();
  absl::StatusOr<cluster::BlobInfo> put = (*blobs)->Put(metadata.version, blob);
  if (!put.ok()) {
    return absl::Status(put.status().code(),
                        Cat("publishing to bucket ", options.bucket, ": ",
                            put.status().message()));
  }
  std::string lines = absl::StrFormat(
      "published to bucket %s: %s bytes in %d chunks (sha256 %s) in %.2f s",
      options.bucket, FormatCount(put->size), put->chunks,
      put->sha256.substr(0, 16), core::SecondsSince(publish_start));
  // Stored here too, so that applying the activation needs no fetch.
  if (absl::Status s = server_->store().PutModel(metadata, blob); !s.ok()) {
    return s;
  }
  if (!activate) {
    return Cat(lines,
               "\nnot activated: activate on any node with `aisle models "
               "activate ",
               metadata.version, " --target NODE` (every node switches)");
  }
  // The activation entry is appended here, not through the follower's
  // write path: that path answers after the follower applied it, which
  // for a large model (loading it, building its ANN index) can exceed its
  // 10 s bound although the entry is logged. The nodes apply the entry
  // whatever the follower does.
  cluster::LogOptions log_options;
  log_options.servers = options.servers;
  log_options.stream = flags_.stream;
  log_options.connection_name = "aisle train";
  absl::StatusOr<std::unique_ptr<cluster::EventLog>> log =
      cluster::ConnectJetStream(log_options);
  if (!log.ok()) return log.status();
  const auto activate_start = core::SteadyClock::now();
  absl::StatusOr<cluster::Appended> appended =
      absl::UnavailableError("not tried");
  // Bounded retries while JetStream fails over; a retry may append the
  // entry twice, which is harmless (activating twice leaves one state).
  for (int attempt = 0; attempt < 3 && !appended.ok(); ++attempt) {
    appended =
        (*log)->Append(server::UniqueEntryId(),
                       server::ActivateModelEntry(
                           metadata.version, absl::ToUnixMillis(absl::Now())));
  }
  if (!appended.ok()) {
    return absl::Status(appended.status().code(),
                        Cat("logging the activation of ", metadata.version,
                            ": ", appended.status().message(),
                            "; the version is published, activate it with "
                            "`aisle models activate ",
                            metadata.version, " --target NODE`"));
  }
  return Cat(
      lines,
      absl::StrFormat("\nactivation logged at position %d in %.2f s: "
                      "every node fetches the version if it lacks it "
                      "and switches at that log position",
                      appended->sequence, core::SecondsSince(activate_start)));
}

}  // namespace aisle::cli
