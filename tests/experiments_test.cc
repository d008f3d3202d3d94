// A/B experiments through the real gRPC API: a simulated experiment in
// which one arm's users truly click more often must be reported as a
// significant win for that arm; an A/A experiment (both arms alike) must
// not; the counts survive a restart; the report's requests are validated.
//
// The simulated users click each shown item with a fixed probability per
// arm, drawn from a seeded generator: the run is deterministic, and the
// assertions hold for the statistics, not for hard-coded counts (the
// expected counts are what the test itself sent).
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kUsers = 800;
constexpr int kShown = 5;

// Two arms over TRENDING (no model needed). `click_a` and `click_b`: the
// probability that a user of the arm clicks a shown item.
struct Arms {
  std::string control, treatment;
  double click_control = 0, click_treatment = 0;
};

std::string WriteFile(const TempDir& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir.Sub(name);
  std::ofstream(path) << text;
  return path;
}

std::string ExperimentsJson(const Arms& arms) {
  return absl::StrCat(R"({"salt": "test-salt", "experiments": [{
      "name": "trending_test", "scenarios": ["trending"],
      "variants": [{"name": ")",
                      arms.control, R"(", "share": 1},
                   {"name": ")",
                      arms.treatment,
                      R"(", "share": 1, "diversity": 0.2}]}]})");
}

class ExperimentsTest : public ::testing::Test {
 protected:
  void Start(const Arms& arms) {
    config_ = TestServerConfig(dir_.Sub("data"));
    config_.metrics_port = 0;
    config_.experiments_file =
        WriteFile(dir_, "experiments.json", ExperimentsJson(arms));
    ASSERT_OK_AND_ASSIGN(server_, StartTestServer(config_));
  }
  void Restart() {
    server_ = TestServer();  // shuts down and releases the data dir
    ASSERT_OK_AND_ASSIGN(server_, StartTestServer(config_));
  }
  v1::Recommender::Stub& stub() { return *server_.stub; }

  void AddCatalog() {
    v1::UpsertItemsRequest items;
    for (int i = 0; i < 30; ++i) {
      v1::Item* item = items.add_items();
      item->set_item_id(absl::StrCat("i", i));
      item->add_categories(i % 2 == 0 ? "books" : "music");
      item->set_available(true);
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(FromGrpc(
        stub().UpsertItems(ContextWithDeadline().get(), items, &upserted)));
  }

  // Every user gets a TRENDING list, "sees" kShown items (IMPRESSION
  // events) and clicks each with their arm's probability. Returns the
  // impressions and clicks sent per variant.
  struct Sent {
    std::map<std::string, int64_t> impressions, clicks;
  };
  Sent Simulate(const Arms& arms, uint32_t seed) {
    Sent sent;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> uniform(0, 1);
    for (int u = 0; u < kUsers; ++u) {
      v1::RecommendRequest request;
      request.set_user_id(absl::StrCat("user", u));
      request.set_scenario(v1::TRENDING);
      request.set_count(kShown);
      v1::RecommendResponse list;
      EXPECT_OK(FromGrpc(
          stub().Recommend(ContextWithDeadline().get(), request, &list)));
      const std::string& variant = list.variant();
      EXPECT_TRUE(variant == arms.control || variant == arms.treatment)
          << variant;
      const double p =
          variant == arms.treatment ? arms.click_treatment : arms.click_control;
      v1::FeedbackRequest feedback;
      for (const v1::RecommendedItem& item : list.items()) {
        for (v1::EventType type : {v1::IMPRESSION, v1::CLICK}) {
          if (type == v1::CLICK && uniform(rng) >= p) continue;
          v1::Event* e = feedback.add_events();
          e->set_user_id(request.user_id());
          e->set_item_id(item.item_id());
          e->set_type(type);
          e->set_recommendation_id(list.recommendation_id());
          ++(type == v1::CLICK ? sent.clicks : sent.impressions)[variant];
        }
      }
      v1::FeedbackResponse fed;
      EXPECT_OK(FromGrpc(
          stub().Feedback(ContextWithDeadline().get(), feedback, &fed)));
    }
    return sent;
  }

  v1::ExperimentReport Report() {
    v1::ExperimentReport report;
    EXPECT_OK(FromGrpc(
        stub().GetExperimentReport(ContextWithDeadline().get(),
                                   v1::GetExperimentReportRequest(), &report)));
    return report;
  }

  TempDir dir_;
  server::ServerConfig config_;
  TestServer server_;
};

TEST_F(ExperimentsTest, TheTrulyBetterArmWinsAndCountsSurviveARestart) {
  const Arms arms{"control", "treatment", 0.05, 0.10};
  Start(arms);
  AddCatalog();
  const Sent sent = Simulate(arms, 1);
  // The stable hash splits the users about evenly.
  EXPECT_GT(sent.impressions.at("control"), kUsers * kShown / 3);
  EXPECT_GT(sent.impressions.at("treatment"), kUsers * kShown / 3);

  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(run == 0 ? "before the restart" : "after the restart");
    const v1::ExperimentReport report = Report();
    ASSERT_EQ(report.experiments_size(), 1);
    const v1::ExperimentResult& xp = report.experiments(0);
    EXPECT_EQ(xp.name(), "trending_test");
    EXPECT_EQ(xp.control(), "control");
    ASSERT_EQ(xp.arms_size(), 2);
    for (const v1::ExperimentArm& arm : xp.arms()) {
      EXPECT_EQ(arm.impressions(), sent.impressions.at(arm.variant()));
      EXPECT_EQ(arm.clicks(), sent.clicks.at(arm.variant()));
      EXPECT_NEAR(arm.share(), 0.5, 1e-9);
      EXPECT_LE(arm.ctr().low(), arm.ctr().value());
      EXPECT_GE(arm.ctr().high(), arm.ctr().value());
    }
    const v1::ExperimentArm& treatment = xp.arms(1);
    EXPECT_TRUE(treatment.ctr_vs_control().significant());
    EXPECT_GT(treatment.ctr_vs_control().difference(), 0);
    EXPECT_LT(treatment.ctr_vs_control().p_value(), 0.05);
    // The intervals do not overlap: the control's is below.
    EXPECT_LT(xp.arms(0).ctr().high(), treatment.ctr().low());
    EXPECT_THAT(xp.summary(), HasSubstr("treatment beats control"));
    if (run == 0) Restart();
  }

  ASSERT_OK_AND_ASSIGN(std::string text,
                       HttpGet(server_.server->metrics_port(), "/metrics"));
  std::map<std::string, double> samples = ParseMetricSamples(text);
  // Counted since this start only (the metric is a process counter), at
  // 0 from the start for every configured arm.
  EXPECT_EQ(
      samples.count(
          R"(aisle_attributed_events_total{scenario="trending",type="click",variant="treatment"})"),
      1u);
  EXPECT_EQ(
      samples.count(
          R"(aisle_grpc_requests_total{code="OK",method="GetExperimentReport"})"),
      1u);
}

TEST_F(ExperimentsTest, AnAAExperimentFindsNoDifference) {
  const Arms arms{"a1", "a2", 0.08, 0.08};
  Start(arms);
  AddCatalog();
  Simulate(arms, 2);
  const v1::ExperimentReport report = Report();
  ASSERT_EQ(report.experiments_size(), 1);
  const v1::ExperimentArm& a2 = report.experiments(0).arms(1);
  EXPECT_GT(a2.impressions(), 0);
  EXPECT_FALSE(a2.ctr_vs_control().significant())
      << "p=" << a2.ctr_vs_control().p_value();
  EXPECT_GT(a2.ctr_vs_control().p_value(), 0.05);
  EXPECT_THAT(report.experiments(0).summary(),
              HasSubstr("no significant CTR difference"));
}

TEST_F(ExperimentsTest, AssignmentIsStableAndAnonymousVisitorsGetDefault) {
  Start({"control", "treatment", 0, 0});
  AddCatalog();
  std::string first;
  for (int i = 0; i < 3; ++i) {
    v1::RecommendRequest request;
    request.set_user_id("alice");
    request.set_scenario(v1::TRENDING);
    v1::RecommendResponse list;
    ASSERT_OK(FromGrpc(
        stub().Recommend(ContextWithDeadline().get(), request, &list)));
    if (i == 0) first = list.variant();
    EXPECT_EQ(list.variant(), first);
  }
  v1::RecommendRequest anonymous;
  anonymous.set_scenario(v1::TRENDING);
  v1::RecommendResponse list;
  ASSERT_OK(FromGrpc(
      stub().Recommend(ContextWithDeadline().get(), anonymous, &list)));
  EXPECT_EQ(list.variant(), "default");
  v1::RecommendRequest for_you;  // not in the experiment's scenarios
  for_you.set_user_id("alice");
  ASSERT_OK(
      FromGrpc(stub().Recommend(ContextWithDeadline().get(), for_you, &list)));
  EXPECT_EQ(list.variant(), "default");
}

TEST_F(ExperimentsTest, ReportRequestsAreValidated) {
  Start({"control", "treatment", 0, 0});
  v1::GetExperimentReportRequest request;
  v1::ExperimentReport report;
  request.set_experiment("nope");
  EXPECT_THAT(FromGrpc(stub().GetExperimentReport(ContextWithDeadline().get(),
                                                  request, &report)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("experiment")));
  request.set_experiment("");
  request.set_confidence(2);
  EXPECT_THAT(
      FromGrpc(stub().GetExperimentReport(ContextWithDeadline().get(), request,
                                          &report)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("confidence")));
}

TEST(ExperimentsConfigTest, ABadFileStopsTheServerNamingTheField) {
  TempDir dir;
  server::ServerConfig config = TestServerConfig(dir.Sub("data"));
  config.experiments_file = WriteFile(dir, "x.json", R"({"experiments": [
      {"name": "e", "variants": [{"name": "a", "share": 1},
                                 {"name": "b", "share": 0}]}]})");
  EXPECT_THAT(StartTestServer(config).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("experiments[0].variants[1].share")));
}

}  // namespace
}  // namespace aisle::testing
