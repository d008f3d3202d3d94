// Helpers of the cluster-mode integration tests (cluster_test.cc,
// cluster_models_test.cc): events, Feedback with the retries a client of
// a cluster makes, and the reads the tests compare across nodes. Every
// call has a deadline; every wait polls up to a bound.
//
// Thread safety: free functions; a stub may be shared (gRPC stubs are).
#ifndef AISLE_TESTS_CLUSTER_UTIL_H_
#define AISLE_TESTS_CLUSTER_UTIL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cluster/testing/nats_cluster.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "tests/test_util.h"

namespace aisle::testing {

// Polls `condition` every 20 ms until it holds (true) or `timeout`
// passes (false).
template <typename Fn>
bool WaitFor(Fn condition, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// A VIEW event.
v1::Event MakeEvent(const std::string& id, const std::string& user,
                    const std::string& item);

// One Feedback call (15 s deadline); the call's status otherwise.
absl::StatusOr<v1::FeedbackResponse> SendFeedback(
    v1::Recommender::Stub& stub, const std::vector<v1::Event>& events);

// Retries while the cluster fails over (UNAVAILABLE, DEADLINE_EXCEEDED),
// as a client would, for up to 60 s.
absl::StatusOr<v1::FeedbackResponse> SendFeedbackWithRetry(
    v1::Recommender::Stub& stub, const std::vector<v1::Event>& events);

// GetUser; the call's status otherwise.
absl::StatusOr<v1::UserProfile> GetUser(v1::Recommender::Stub& stub,
                                        const std::string& user);

// The user's stored view count as a node reports it (0 when unknown).
int64_t Views(v1::Recommender::Stub& stub, const std::string& user);

// FOR_YOU with seen items included, waiting for `min_position` (0 =
// none) as RecommendRequest.min_log_position says.
absl::StatusOr<v1::RecommendResponse> Recommend(v1::Recommender::Stub& stub,
                                                const std::string& user,
                                                uint64_t min_position);

// Waits (up to 30 s) until the node behind `stub` has applied log
// position `position`: a Recommend carrying it as min_log_position is
// answered without `stale`. The condition to wait on before comparing a
// node's state with what was written through another node (one call's
// bounded wait, --cluster-read-wait, is not enough on a loaded machine).
bool WaitForPosition(v1::Recommender::Stub& stub, uint64_t position);

// A fixture of in-process cluster nodes over real nats-server processes.
class ClusterNodes : public ::testing::Test {
 protected:
  // Starts `servers` (1 or 3) NATS servers.
  void StartNats(int servers);
  // Starts node i (data in its own directory, config adjusted by
  // `configure` if given) and connects a stub.
  void StartNode(
      const std::function<void(server::ServerConfig&)>& configure = nullptr);
  v1::Recommender::Stub& stub(int i) { return *nodes_[i].stub; }

  TempDir dir_;
  std::unique_ptr<cluster::testing::NatsCluster> nats_;
  std::vector<TestServer> nodes_;
};

}  // namespace aisle::testing

#endif  // AISLE_TESTS_CLUSTER_UTIL_H_
