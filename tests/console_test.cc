// The web console's JSON API (console/, docs/console.md) over real HTTP on
// loopback, against a real server with bearer tokens: every API answer is
// compared with what the gRPC API answers for the same request, and the
// refusals (no token, too low a role, no CSRF token, a foreign Origin or
// Host, a body that is not JSON) are checked one by one.
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/console_client.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kReadToken[] = "console-read-token-0123456789";
constexpr char kWriteToken[] = "console-write-token-0123456789";
constexpr char kAdminToken[] = "console-admin-token-0123456789";

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tokens = dir_.Sub("tokens");
    std::ofstream(tokens) << "read " << kReadToken << "\nwrite " << kWriteToken
                          << "\nadmin " << kAdminToken << "\n";
    server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
    config.auth_tokens_file = tokens;
    config.console_port = 0;
    config.console_sample_interval_ms = -1;  // sampled when asked
    config.experiments_file = dir_.Sub("experiments.json");
    std::ofstream(config.experiments_file)
        << R"({"salt": "console", "experiments": [{"name": "trending_ab",
             "scenarios": ["trending"], "variants": [
             {"name": "control", "share": 1},
             {"name": "treatment", "share": 1, "diversity": 0.3}]}]})";
    ASSERT_OK_AND_ASSIGN(server_, StartTestServer(config));
    port_ = server_.server->console_port();
    ASSERT_GT(port_, 0);
    Seed();
    ASSERT_OK_AND_ASSIGN(HttpResponse session,
                         Http(port_, "GET", "/api/session"));
    ASSERT_EQ(session.status, 200) << session.body;
    csrf_ = StringField(session.body, "csrfToken");
  }

  std::unique_ptr<grpc::ClientContext> Admin() {
    return ContextWithToken(kAdminToken);
  }

  // 12 items in two categories; users u0..u5 bought items of their own.
  void Seed() {
    v1::UpsertItemsRequest items;
    for (int i = 0; i < 12; ++i) {
      v1::Item* item = items.add_items();
      item->set_item_id(absl::StrCat("i", i));
      item->set_title(absl::StrCat("Item ", i));
      item->add_categories(absl::StrCat("c", i % 2));
      item->set_price(10 + i);
      item->set_available(true);
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(
        FromGrpc(server_.stub->UpsertItems(Admin().get(), items, &upserted)));
    v1::FeedbackRequest events;
    for (int u = 0; u < 6; ++u) {
      for (int k = 0; k < 4; ++k) {
        v1::Event* e = events.add_events();
        e->set_user_id(absl::StrCat("u", u));
        e->set_item_id(absl::StrCat("i", (u % 2) + 2 * ((u + k) % 6)));
        e->set_type(v1::PURCHASE);
        ++purchases_[e->item_id()];
      }
    }
    v1::FeedbackResponse stored;
    ASSERT_OK(FromGrpc(server_.stub->Feedback(Admin().get(), events, &stored)));
  }

  // A POST as the page sends it: token, CSRF token, JSON.
  absl::StatusOr<HttpResponse> Post(const std::string& path,
                                    const std::string& token,
                                    const std::string& body) {
    return ConsoleClient{port_, csrf_}.Post(path, token, body);
  }
  absl::StatusOr<HttpResponse> Get(const std::string& path,
                                   const std::string& token) {
    return ConsoleClient{port_, csrf_}.Get(path, token);
  }

  TempDir dir_;
  TestServer server_;
  int port_ = 0;
  std::string csrf_;
  std::map<std::string, int64_t> purchases_;  // by Seed, per item
};

TEST_F(ConsoleTest, PagesAreServedFromTheBinaryWithStrictHeaders) {
  for (const auto& [path, type] :
       std::vector<std::pair<std::string, std::string>>{
           {"/", "text/html"},
           {"/console.js", "text/javascript"},
           {"/console.css", "text/css"}}) {
    ASSERT_OK_AND_ASSIGN(HttpResponse page, Http(port_, "GET", path));
    EXPECT_EQ(page.status, 200) << path;
    EXPECT_THAT(page.headers["content-type"], HasSubstr(type)) << path;
    EXPECT_FALSE(page.body.empty()) << path;
    const std::string csp = page.headers["content-security-policy"];
    EXPECT_THAT(csp, HasSubstr("script-src 'self'"));
    EXPECT_THAT(csp, HasSubstr("frame-ancestors 'none'"));
    EXPECT_THAT(csp, ::testing::Not(HasSubstr("unsafe-inline")));
    EXPECT_EQ(page.headers["x-content-type-options"], "nosniff");
  }
  ASSERT_OK_AND_ASSIGN(HttpResponse missing, Http(port_, "GET", "/nope.js"));
  EXPECT_EQ(missing.status, 404);
  ASSERT_OK_AND_ASSIGN(HttpResponse index, Http(port_, "GET", "/"));
  EXPECT_THAT(index.body, ::testing::Not(HasSubstr("<script>")))
      << "no inline scripts: the policy would block them";
}

TEST_F(ConsoleTest, SessionGivesAPerProcessCsrfToken) {
  EXPECT_EQ(csrf_.size(), 64u);
  ASSERT_OK_AND_ASSIGN(HttpResponse again, Http(port_, "GET", "/api/session"));
  EXPECT_EQ(StringField(again.body, "csrfToken"), csrf_);
  EXPECT_EQ(again.headers["cache-control"], "no-store");
}

TEST_F(ConsoleTest, OverviewNeedsReadAndMatchesGetModelInfo) {
  ASSERT_OK_AND_ASSIGN(HttpResponse anonymous, Get("/api/overview", ""));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(StringField(anonymous.body, "code"), "UNAUTHENTICATED");
  ASSERT_OK_AND_ASSIGN(HttpResponse wrong,
                       Get("/api/overview", "not-a-token-at-all"));
  EXPECT_EQ(wrong.status, 401);

  ASSERT_OK_AND_ASSIGN(HttpResponse overview, Get("/api/overview", kReadToken));
  ASSERT_EQ(overview.status, 200) << overview.body;
  google::protobuf::Struct s = Parse<google::protobuf::Struct>(overview.body);
  v1::ModelInfo expected;
  ASSERT_OK(FromGrpc(server_.stub->GetModelInfo(
      Admin().get(), v1::GetModelInfoRequest(), &expected)));
  const auto& model = s.fields().at("model").struct_value().fields();
  EXPECT_EQ(model.at("catalogItems").string_value(),
            absl::StrCat(expected.catalog_items()));
  EXPECT_EQ(model.at("knownUsers").string_value(),
            absl::StrCat(expected.known_users()));
  // The seeding Feedback call is in the totals read from the metrics.
  EXPECT_GE(s.fields()
                .at("totals")
                .struct_value()
                .fields()
                .at("feedback_total")
                .number_value(),
            1);
}

TEST_F(ConsoleTest, RecommendAnswersWhatTheGrpcApiAnswers) {
  const std::string body =
      R"({"userId": "u1", "count": 5, "diversity": 0.3,
          "filter": {"includeCategories": ["c1"]}})";
  ASSERT_OK_AND_ASSIGN(HttpResponse answer,
                       Post("/api/recommend", kReadToken, body));
  ASSERT_EQ(answer.status, 200) << answer.body;
  google::protobuf::Struct s = Parse<google::protobuf::Struct>(answer.body);
  v1::RecommendResponse console =
      Member<v1::RecommendResponse>(answer.body, "response");

  v1::RecommendRequest request = Parse<v1::RecommendRequest>(body);
  request.set_explain(true);
  v1::RecommendResponse grpc;
  ASSERT_OK(FromGrpc(server_.stub->Recommend(Admin().get(), request, &grpc)));
  ASSERT_FALSE(grpc.items().empty());
  ASSERT_EQ(console.items_size(), grpc.items_size());
  for (int i = 0; i < grpc.items_size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        console.items(i), grpc.items(i)))
        << console.items(i).DebugString() << " vs "
        << grpc.items(i).DebugString();
    EXPECT_FALSE(console.items(i).reasons().empty());
  }
  // Each recommended item comes with its card.
  EXPECT_EQ(s.fields().at("items").list_value().values_size(),
            grpc.items_size());
}

TEST_F(ConsoleTest, ChangingRequestsNeedTheCsrfTokenJsonAndOwnOrigin) {
  const std::string body = R"({"userId": "u1"})";
  const std::string origin = absl::StrCat("http://127.0.0.1:", port_);
  const std::string bearer = absl::StrCat("Bearer ", kAdminToken);
  const std::vector<std::pair<std::string, Headers>> refused = {
      {"no CSRF token",
       {{"Content-Type", "application/json"}, {"Authorization", bearer}}},
      {"a wrong CSRF token",
       {{"Content-Type", "application/json"},
        {"X-Aisle-Csrf", std::string(64, 'a')},
        {"Authorization", bearer}}},
      {"a foreign Origin",
       {{"Content-Type", "application/json"},
        {"X-Aisle-Csrf", csrf_},
        {"Origin", "http://evil.example"},
        {"Authorization", bearer}}},
      {"a form post",
       {{"Content-Type", "application/x-www-form-urlencoded"},
        {"X-Aisle-Csrf", csrf_},
        {"Origin", origin},
        {"Authorization", bearer}}},
  };
  for (const auto& [what, headers] : refused) {
    ASSERT_OK_AND_ASSIGN(HttpResponse answer,
                         Http(port_, "POST", "/api/recommend", headers, body));
    EXPECT_THAT(answer.status, ::testing::AnyOf(400, 403)) << what;
  }
  // A page of another site re-pointed at loopback (DNS rebinding).
  ASSERT_OK_AND_ASSIGN(HttpResponse rebound,
                       Http(port_, "GET", "/api/session",
                            {{"Host", absl::StrCat("evil.example:", port_)}}));
  EXPECT_EQ(rebound.status, 403);
  EXPECT_EQ(StringField(rebound.body, "csrfToken"), "");
}

TEST_F(ConsoleTest, ShopperProfileNeedsAdminLikeGetUser) {
  const std::string body = R"({"userId": "u2"})";
  ASSERT_OK_AND_ASSIGN(HttpResponse read, Post("/api/user", kReadToken, body));
  EXPECT_EQ(read.status, 403);
  EXPECT_EQ(StringField(read.body, "code"), "PERMISSION_DENIED");

  ASSERT_OK_AND_ASSIGN(HttpResponse admin,
                       Post("/api/user", kAdminToken, body));
  ASSERT_EQ(admin.status, 200) << admin.body;
  v1::GetUserRequest request;
  request.set_user_id("u2");
  v1::UserProfile expected;
  ASSERT_OK(FromGrpc(server_.stub->GetUser(Admin().get(), request, &expected)));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      Member<v1::UserProfile>(admin.body, "profile"), expected));

  ASSERT_OK_AND_ASSIGN(HttpResponse unknown, Post("/api/user", kAdminToken,
                                                  R"({"userId": "nobody"})"));
  EXPECT_EQ(unknown.status, 404);
}

TEST_F(ConsoleTest, TestEventIsStoredAndShowsInTheProfile) {
  const std::string event =
      R"({"events": [{"userId": "u3", "itemId": "i7", "type": "CLICK"}]})";
  ASSERT_OK_AND_ASSIGN(HttpResponse read,
                       Post("/api/feedback", kReadToken, event));
  EXPECT_EQ(read.status, 403);
  ASSERT_OK_AND_ASSIGN(HttpResponse write,
                       Post("/api/feedback", kWriteToken, event));
  ASSERT_EQ(write.status, 200) << write.body;
  EXPECT_EQ(Parse<v1::FeedbackResponse>(write.body).accepted(), 1);

  v1::GetUserRequest request;
  request.set_user_id("u3");
  v1::UserProfile profile;
  ASSERT_OK(FromGrpc(server_.stub->GetUser(Admin().get(), request, &profile)));
  ASSERT_FALSE(profile.recent_item_ids().empty());
  EXPECT_EQ(profile.recent_item_ids(0), "i7");

  // The service's own validation answers, naming the field.
  ASSERT_OK_AND_ASSIGN(
      HttpResponse invalid,
      Post("/api/feedback", kWriteToken,
           R"({"events": [{"userId": "u3", "itemId": "", "type": "CLICK"}]})"));
  EXPECT_EQ(invalid.status, 400);
  EXPECT_THAT(StringField(invalid.body, "message"), HasSubstr("item_id"));
}

TEST_F(ConsoleTest, BodiesThatAreNotTheMessageAreRefusedNamingTheProblem) {
  ASSERT_OK_AND_ASSIGN(HttpResponse garbage,
                       Post("/api/recommend", kReadToken, "{not json"));
  EXPECT_EQ(garbage.status, 400);
  EXPECT_THAT(StringField(garbage.body, "message"), HasSubstr("body"));
  ASSERT_OK_AND_ASSIGN(HttpResponse unknown_field,
                       Post("/api/recommend", kReadToken, R"({"usr": "u1"})"));
  EXPECT_EQ(unknown_field.status, 400);
  ASSERT_OK_AND_ASSIGN(
      HttpResponse huge,
      Post("/api/recommend", kReadToken,
           absl::StrCat(R"({"userId": ")", std::string(2 << 20, 'u'), "\"}")));
  EXPECT_EQ(huge.status, 413);
  ASSERT_OK_AND_ASSIGN(HttpResponse no_api, Get("/api/nothing", kReadToken));
  EXPECT_EQ(no_api.status, 404);
  ASSERT_OK_AND_ASSIGN(HttpResponse wrong_method,
                       Get("/api/models/activate", kAdminToken));
  EXPECT_EQ(wrong_method.status, 405);
}

TEST_F(ConsoleTest, ItemPageMatchesGetItemAndTheItemScenarios) {
  ASSERT_OK_AND_ASSIGN(HttpResponse answer,
                       Post("/api/item", kReadToken, R"({"itemId": "i4"})"));
  ASSERT_EQ(answer.status, 200) << answer.body;
  google::protobuf::Struct s = Parse<google::protobuf::Struct>(answer.body);
  const auto& item = s.fields().at("item").struct_value().fields();
  EXPECT_EQ(item.at("title").string_value(), "Item 4");
  EXPECT_TRUE(s.fields().contains("similar"));
  EXPECT_TRUE(s.fields().contains("boughtTogether"));
  ASSERT_OK_AND_ASSIGN(HttpResponse missing,
                       Post("/api/item", kReadToken, R"({"itemId": "zz"})"));
  EXPECT_EQ(missing.status, 404);
}

TEST_F(ConsoleTest, ItemPageCountsRecommendationsAndEvents) {
  auto activity = [this](const std::string& item) {
    auto answer = Post("/api/item", kReadToken,
                       absl::StrCat(R"({"itemId": ")", item, "\"}"));
    EXPECT_TRUE(answer.ok() && answer->status == 200);
    google::protobuf::Struct s =
        Parse<google::protobuf::Struct>(answer.ok() ? answer->body : "{}");
    return s.fields().at("activity").struct_value().fields();
  };
  const std::string item = "i4";
  const auto before = activity(item);
  EXPECT_EQ(before.at("purchases").number_value(), purchases_[item]);
  EXPECT_GT(before.at("purchases").number_value(), 0);
  EXPECT_GT(before.at("sinceMs").number_value(), 0);

  // A gRPC client's answer counts like the console's own.
  v1::RecommendRequest request;
  request.set_scenario(v1::TRENDING);
  request.set_count(12);
  v1::RecommendResponse list;
  ASSERT_OK(FromGrpc(server_.stub->Recommend(Admin().get(), request, &list)));
  int listed = 0;
  for (const v1::RecommendedItem& r : list.items()) {
    listed += r.item_id() == item;
  }
  ASSERT_EQ(listed, 1) << "TRENDING over all 12 items lists " << item;
  v1::FeedbackRequest click;
  v1::Event* e = click.add_events();
  e->set_user_id("u9");
  e->set_item_id(item);
  e->set_type(v1::CLICK);
  v1::FeedbackResponse stored;
  ASSERT_OK(FromGrpc(server_.stub->Feedback(Admin().get(), click, &stored)));

  const auto after = activity(item);
  EXPECT_EQ(after.at("recommended").number_value(),
            before.at("recommended").number_value() + 1);
  EXPECT_EQ(after.at("clicks").number_value(),
            before.at("clicks").number_value() + 1);
  EXPECT_EQ(after.at("purchases").number_value(), purchases_[item]);

  // The counts are read only by those allowed GetItem.
  ASSERT_OK_AND_ASSIGN(HttpResponse anonymous,
                       Post("/api/item", "", R"({"itemId": "i4"})"));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_FALSE(Parse<google::protobuf::Struct>(anonymous.body)
                   .fields()
                   .contains("activity"));
}

TEST_F(ConsoleTest, ModelChangesNeedAdminAndAnswerAsActivateModel) {
  ASSERT_OK_AND_ASSIGN(HttpResponse models, Get("/api/models", kReadToken));
  ASSERT_EQ(models.status, 200) << models.body;
  const std::string rollback = R"({"rollback": true})";
  ASSERT_OK_AND_ASSIGN(HttpResponse read,
                       Post("/api/models/activate", kReadToken, rollback));
  EXPECT_EQ(read.status, 403);
  ASSERT_OK_AND_ASSIGN(HttpResponse write,
                       Post("/api/models/activate", kWriteToken, rollback));
  EXPECT_EQ(write.status, 403);
  ASSERT_OK_AND_ASSIGN(HttpResponse none,
                       Post("/api/models/activate", "", rollback));
  EXPECT_EQ(none.status, 401);

  // With admin the request reaches the service, which answers exactly as
  // over gRPC (no model versions here to roll back to).
  ASSERT_OK_AND_ASSIGN(HttpResponse admin,
                       Post("/api/models/activate", kAdminToken, rollback));
  v1::ActivateModelRequest request;
  request.set_rollback(true);
  v1::ModelInfo info;
  grpc::Status grpc =
      server_.stub->ActivateModel(Admin().get(), request, &info);
  EXPECT_EQ(StringField(admin.body, "code"),
            absl::StatusCodeToString(
                static_cast<absl::StatusCode>(grpc.error_code())))
      << admin.body;
  EXPECT_EQ(StringField(admin.body, "message"), grpc.error_message());
}

TEST_F(ConsoleTest, ExperimentReportNeedsReadAndMatchesGetExperimentReport) {
  // 20 users get a TRENDING list, see every item (IMPRESSION) and click
  // the first; the counts per arm are what this test sent.
  std::map<std::string, int64_t> impressions;
  for (int u = 0; u < 20; ++u) {
    v1::RecommendRequest request;
    request.set_user_id(absl::StrCat("shopper", u));
    request.set_scenario(v1::TRENDING);
    request.set_count(3);
    v1::RecommendResponse list;
    ASSERT_OK(FromGrpc(server_.stub->Recommend(Admin().get(), request, &list)));
    v1::FeedbackRequest events;
    for (const v1::RecommendedItem& item : list.items()) {
      for (v1::EventType type : {v1::IMPRESSION, v1::CLICK}) {
        if (type == v1::CLICK && events.events_size() > 1) continue;
        v1::Event* e = events.add_events();
        e->set_user_id(request.user_id());
        e->set_item_id(item.item_id());
        e->set_type(type);
        e->set_recommendation_id(list.recommendation_id());
      }
      ++impressions[list.variant()];
    }
    v1::FeedbackResponse stored;
    ASSERT_OK(FromGrpc(server_.stub->Feedback(Admin().get(), events, &stored)));
  }

  ASSERT_OK_AND_ASSIGN(HttpResponse anonymous,
                       Post("/api/experiments", "", "{}"));
  EXPECT_EQ(anonymous.status, 401);
  ASSERT_OK_AND_ASSIGN(HttpResponse wrong,
                       Post("/api/experiments", "not-a-token-at-all", "{}"));
  EXPECT_EQ(wrong.status, 401);
  ASSERT_OK_AND_ASSIGN(
      HttpResponse no_csrf,
      Http(port_, "POST", "/api/experiments",
           {{"Content-Type", "application/json"},
            {"Authorization", absl::StrCat("Bearer ", kReadToken)}},
           "{}"));
  EXPECT_EQ(no_csrf.status, 403);

  const std::string body = R"({"confidence": 0.99})";
  ASSERT_OK_AND_ASSIGN(HttpResponse answer,
                       Post("/api/experiments", kReadToken, body));
  ASSERT_EQ(answer.status, 200) << answer.body;
  v1::ExperimentReport console = Parse<v1::ExperimentReport>(answer.body);
  v1::ExperimentReport grpc;
  ASSERT_OK(FromGrpc(server_.stub->GetExperimentReport(
      Admin().get(), Parse<v1::GetExperimentReportRequest>(body), &grpc)));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(console, grpc))
      << answer.body << " vs " << grpc.DebugString();
  EXPECT_EQ(console.confidence(), 0.99);
  ASSERT_EQ(console.experiments_size(), 1);
  ASSERT_EQ(console.experiments(0).arms_size(), 2);
  int64_t total = 0;
  for (const v1::ExperimentArm& arm : console.experiments(0).arms()) {
    EXPECT_EQ(arm.impressions(), impressions[arm.variant()]) << arm.variant();
    total += arm.impressions();
  }
  EXPECT_GT(total, 0);

  // The service's own validation answers, naming the field.
  ASSERT_OK_AND_ASSIGN(HttpResponse bad, Post("/api/experiments", kReadToken,
                                              R"({"confidence": 2})"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(StringField(bad.body, "message"), HasSubstr("confidence"));
  ASSERT_OK_AND_ASSIGN(HttpResponse unknown,
                       Post("/api/experiments", kReadToken,
                            R"({"experiment": "no_such_test"})"));
  EXPECT_EQ(unknown.status, 404);
}

TEST(ConsoleOffTest, NoConsoleUnlessAPortIsGiven) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(TestServer server,
                       StartTestServer(TestServerConfig(dir.Sub("data"))));
  EXPECT_EQ(server.server->console_port(), -1);
}

}  // namespace
}  // namespace aisle::testing
