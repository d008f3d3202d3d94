// Signed recommendation ids end to end: an id the server issued counts
// once for its user; a made-up, altered or another user's id is stored
// with its event but counted as rejected, not attributed.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

TEST(AttributionTest, OnlyIdsIssuedToTheUserAreAttributed) {
  TempDir data;
  server::ServerConfig config = TestServerConfig(data.path());
  config.metrics_port = 0;
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(config));
  v1::RecommendRequest request;
  request.set_user_id("alice");
  request.set_scenario(v1::TRENDING);
  v1::RecommendResponse recommended;
  ASSERT_OK(FromGrpc(server.stub->Recommend(ContextWithDeadline().get(),
                                            request, &recommended)));
  const std::string id = recommended.recommendation_id();
  std::string altered = id;
  altered[3] = '1';  // claims for_you instead of trending

  v1::FeedbackRequest feedback;
  auto add = [&](const std::string& event_id, const std::string& user,
                 const std::string& rec_id) {
    v1::Event* e = feedback.add_events();
    e->set_event_id(event_id);
    e->set_user_id(user);
    e->set_item_id("i1");
    e->set_type(v1::CLICK);
    e->set_recommendation_id(rec_id);
  };
  add("e1", "alice", id);
  add("e2", "mallory", id);  // someone else's id
  add("e3", "alice", altered);
  add("e4", "alice",
      "r2-5-default-0-0123456789abcdef-u-" + std::string(32, 'f'));
  add("e5", "alice", "not-an-id");
  v1::FeedbackResponse fed;
  ASSERT_OK(FromGrpc(
      server.stub->Feedback(ContextWithDeadline().get(), feedback, &fed)));
  EXPECT_EQ(fed.accepted(), 5) << "every event is stored";

  ASSERT_OK_AND_ASSIGN(std::string text,
                       HttpGet(server.server->metrics_port(), "/metrics"));
  std::map<std::string, double> samples = ParseMetricSamples(text);
  EXPECT_EQ(
      samples
          [R"(aisle_attributed_events_total{scenario="trending",type="click",variant="default"})"],
      1);
  EXPECT_EQ(
      samples.count(
          R"(aisle_attributed_events_total{scenario="for_you",type="click",variant="default"})")
          ? samples
                [R"(aisle_attributed_events_total{scenario="for_you",type="click",variant="default"})"]
          : 0,
      0);
  EXPECT_EQ(samples[R"(aisle_attribution_rejected_total{reason="forged"})"], 3);
  EXPECT_EQ(samples[R"(aisle_attribution_rejected_total{reason="malformed"})"],
            1);
  EXPECT_EQ(samples[R"(aisle_attribution_rejected_total{reason="expired"})"],
            0);
}

}  // namespace
}  // namespace aisle::testing
