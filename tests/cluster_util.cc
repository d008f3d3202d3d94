#include "tests/cluster_util.h"

#include "absl/strings/str_cat.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {

v1::Event MakeEvent(const std::string& id, const std::string& user,
                    const std::string& item) {
  v1::Event e;
  e.set_event_id(id);
  e.set_user_id(user);
  e.set_item_id(item);
  e.set_type(v1::VIEW);
  return e;
}

absl::StatusOr<v1::FeedbackResponse> SendFeedback(
    v1::Recommender::Stub& stub, const std::vector<v1::Event>& events) {
  v1::FeedbackRequest request;
  for (const v1::Event& e : events) *request.add_events() = e;
  v1::FeedbackResponse response;
  auto ctx = ContextWithDeadline(std::chrono::seconds(15));
  absl::Status status = FromGrpc(stub.Feedback(ctx.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

// Retries while the cluster fails over, as a client would: UNAVAILABLE,
// and DEADLINE_EXCEEDED (a node's own bound on a write, an append of up
// to 6 s then up to 10 s for its apply, can outlast the call's 15 s on a
// loaded machine; the write is idempotent, so retrying is safe).
absl::StatusOr<v1::FeedbackResponse> SendFeedbackWithRetry(
    v1::Recommender::Stub& stub, const std::vector<v1::Event>& events) {
  absl::StatusOr<v1::FeedbackResponse> response;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    response = SendFeedback(stub, events);
    if (response.ok() || !(absl::IsUnavailable(response.status()) ||
                           absl::IsDeadlineExceeded(response.status()))) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (absl::Now() < deadline);
  return response;
}

absl::StatusOr<v1::UserProfile> GetUser(v1::Recommender::Stub& stub,
                                        const std::string& user) {
  v1::GetUserRequest request;
  request.set_user_id(user);
  v1::UserProfile profile;
  auto ctx = ContextWithDeadline();
  absl::Status status = FromGrpc(stub.GetUser(ctx.get(), request, &profile));
  if (!status.ok()) return status;
  return profile;
}

// The user's stored view count as a node reports it (0 when unknown).
int64_t Views(v1::Recommender::Stub& stub, const std::string& user) {
  absl::StatusOr<v1::UserProfile> profile = GetUser(stub, user);
  if (!profile.ok()) return 0;
  for (const v1::EventCount& c : profile->event_counts()) {
    if (c.type() == v1::VIEW) return c.count();
  }
  return 0;
}

absl::StatusOr<v1::RecommendResponse> Recommend(v1::Recommender::Stub& stub,
                                                const std::string& user,
                                                uint64_t min_position) {
  v1::RecommendRequest request;
  request.set_user_id(user);
  request.set_scenario(v1::FOR_YOU);
  request.set_include_seen(true);
  request.set_min_log_position(min_position);
  v1::RecommendResponse response;
  auto ctx = ContextWithDeadline();
  absl::Status status = FromGrpc(stub.Recommend(ctx.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

bool WaitForPosition(v1::Recommender::Stub& stub, uint64_t position) {
  return WaitFor([&] {
    absl::StatusOr<v1::RecommendResponse> r =
        Recommend(stub, "position-probe", position);
    return r.ok() && !r->stale();
  });
}

void ClusterNodes::StartNats(int servers) {
  absl::StatusOr<std::unique_ptr<cluster::testing::NatsCluster>> nats =
      cluster::testing::NatsCluster::Start(servers);
  ASSERT_OK(nats.status());
  nats_ = *std::move(nats);
}

void ClusterNodes::StartNode(
    const std::function<void(server::ServerConfig&)>& configure) {
  server::ServerConfig config =
      TestServerConfig(dir_.Sub(absl::StrCat("node", nodes_.size())));
  config.cluster = nats_->url_list();
  if (configure) configure(config);
  absl::StatusOr<TestServer> node = StartTestServer(config);
  ASSERT_OK(node.status());
  nodes_.push_back(*std::move(node));
}

}  // namespace aisle::testing
