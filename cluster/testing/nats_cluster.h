// NatsCluster: real nats-server processes for tests, on free loopback
// ports, with JetStream storing in a temporary directory. One server, or
// three forming a JetStream cluster (so that streams can have 3 replicas).
// Servers can be killed with SIGKILL and restarted on the same ports and
// store, to test fail-over and recovery. Nothing here sleeps for a fixed
// time: readiness is polled until a bounded deadline.
//
//   ASSIGN_OR_RETURN(auto nats, NatsCluster::Start(3));
//   options.servers = nats->urls();
//   ASSERT_OK(nats->Kill(0));  ...  ASSERT_OK(nats->Restart(0));
//
// The servers die with the test process (PR_SET_PDEATHSIG) and at the
// latest when the NatsCluster is destroyed.
//
// Thread safety: none; use from the test's thread.
#ifndef AISLE_CLUSTER_TESTING_NATS_CLUSTER_H_
#define AISLE_CLUSTER_TESTING_NATS_CLUSTER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aisle::cluster::testing {

// The nats-server binary: $AISLE_NATS_SERVER, else the first nats-server
// on $PATH, /usr/sbin or /usr/bin. NotFound, saying to run
// scripts/setup.sh, when there is none.
absl::StatusOr<std::string> NatsServerBinary();

// A free TCP port on 127.0.0.1 (bound, then released: a small race).
int FreeLoopbackPort();

// Overwrites (`value` set) or purges (nullopt) `key` of the JetStream KV
// `bucket` through the server at `url`: how tests damage a stored blob
// (cluster/blob_store.h). Unavailable on any NATS error.
absl::Status SetBucketKey(const std::string& url, const std::string& bucket,
                          const std::string& key,
                          std::optional<std::string> value);

// Deletes the entries of `stream` below `sequence` through the server at
// `url`, as a retention limit would (JetStream's purge up to a sequence).
// Unavailable on any NATS error.
absl::Status PurgeStreamBelow(const std::string& url, const std::string& stream,
                              uint64_t sequence);

class NatsCluster {
 public:
  // Starts `servers` (1 or 3) nats-server processes with JetStream and
  // waits (up to `timeout`) until JetStream answers on every one of them
  // and, with 3, can place a stream on all three (the nodes' first write
  // creates one).
  // Errors: NotFound without nats-server; DeadlineExceeded when they do not
  // become ready (the message holds the tail of their logs).
  static absl::StatusOr<std::unique_ptr<NatsCluster>> Start(
      int servers, absl::Duration timeout = absl::Seconds(30));
  ~NatsCluster();  // SIGKILLs every server, removes the directory
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(servers_.size()); }
  // "nats://127.0.0.1:<port>" of server i, and of all of them.
  std::string url(int i) const;
  std::vector<std::string> urls() const;
  // The same, comma-separated (what `aisle serve --cluster` takes).
  std::string url_list() const;
  pid_t pid(int i) const { return servers_[i].pid; }
  // The directory that holds every server's store and log.
  const std::string& dir() const { return dir_; }

  // SIGKILL server i and reap it. OK if it was not running.
  absl::Status Kill(int i);
  // Starts server i again on its ports and store, and waits until
  // JetStream answers on it.
  absl::Status Restart(int i, absl::Duration timeout = absl::Seconds(30));
  // Waits until JetStream answers on server i.
  absl::Status WaitReady(int i, absl::Duration timeout);
  // Waits until `stream` has a leader and every replica is online and
  // current (after a restart a replica catches up first; killing another
  // server before that would leave no quorum). DeadlineExceeded with the
  // last state seen.
  absl::Status WaitStreamHealthy(const std::string& stream,
                                 absl::Duration timeout = absl::Seconds(30));

 private:
  struct Server {
    int client_port = 0;
    int route_port = 0;
    std::string store_dir;
    std::string log_path;
    pid_t pid = -1;
  };
  NatsCluster() = default;
  absl::Status Spawn(int i);
  std::string LogTail(int i) const;

  std::string binary_;
  std::string dir_;
  std::vector<Server> servers_;
};

}  // namespace aisle::cluster::testing

#endif  // AISLE_CLUSTER_TESTING_NATS_CLUSTER_H_
