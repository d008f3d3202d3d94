// `aisle train --cluster` and `aisle models import --cluster`: training
// and model delivery for cluster mode (docs/cluster.md, "Models through
// the cluster"), without a shared filesystem.
//
// The command runs a follower: the same node code as `aisle serve
// --cluster` (server/server.h) on its own data directory, bound to an
// ephemeral loopback port that nobody else uses. It applies the log like
// every node (so it trains on exactly the state the nodes hold, duplicates
// and erasures included; with a kept data directory only the log's tail
// since the last run), then the new version is published to the
// cluster's model bucket (cluster/blob_store.h) and its activation is
// appended to the log, so every node fetches it and switches at
// the same log position. The follower logs errors only (to stderr): its
// progress is the command's own output.
//
//   ASSIGN_OR_RETURN(auto follower, ClusterFollower::Start(urls, "AISLE",
//                                                           dir));
//   core::Engine::TrainingData data =
//       follower->engine().ExportTrainingData();
//   ... train ...
//   ASSIGN_OR_RETURN(std::string where,
//                    follower->Deliver(metadata, blob, /*activate=*/true));
//
// Thread safety: one thread at a time.
#ifndef AISLE_CLI_CLUSTER_TRAINING_H_
#define AISLE_CLI_CLUSTER_TRAINING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/flags.h"
#include "core/engine.h"
#include "core/types.h"
#include "server/server.h"

namespace aisle::cli {

// --cluster and --cluster-stream of the commands above.
struct ClusterFlags {
  std::string urls;  // empty: not in cluster mode
  std::string stream = "AISLE";
  // How long the follower may take to apply the log before training.
  int64_t catch_up_seconds = 1800;
  void Register(FlagParser& parser);
  bool enabled() const { return !urls.empty(); }
};

class ClusterFollower {
 public:
  // Starts the follower on `data_dir` (created if missing) and waits until
  // it applied everything the log held. Errors: the server's start-up
  // errors; Unavailable when NATS cannot be reached; DeadlineExceeded when
  // catching up takes longer than flags.catch_up_seconds.
  static absl::StatusOr<std::unique_ptr<ClusterFollower>> Start(
      const ClusterFlags& flags, const std::string& data_dir);
  ~ClusterFollower();  // stops the follower

  core::Engine& engine() { return server_->engine(); }
  storage::Store& store() { return server_->store(); }
  // The log position the follower had applied when it caught up.
  uint64_t position() const { return position_; }
  double catch_up_seconds() const { return catch_up_seconds_; }

  // Publishes `blob` (version `metadata`) to the cluster's model bucket
  // and, with `activate`, appends its activation to the log (every node,
  // this follower included, applies it in log order). Returns lines for the
  // user (sizes, times, what happens next). Errors: Unavailable from NATS;
  // AlreadyExists when the version is published with other bytes.
  absl::StatusOr<std::string> Deliver(const core::ModelMetadata& metadata,
                                      const std::string& blob, bool activate);

 private:
  ClusterFollower() = default;
  ClusterFlags flags_;
  std::unique_ptr<server::AisleServer> server_;
  uint64_t position_ = 0;
  double catch_up_seconds_ = 0;
};

// ClusterFollower::Start for a command: on failure prints the error and
// what to check, and returns null.
std::unique_ptr<ClusterFollower> StartFollowerOrReport(
    const ClusterFlags& flags, const std::string& data_dir);

}  // namespace aisle::cli

#endif  // AISLE_CLI_CLUSTER_TRAINING_H_
