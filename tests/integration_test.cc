// End-to-end tests of the gRPC API: a real AisleServer on an ephemeral port,
// a real RocksDB in a temp dir, real channels.
#include <signal.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/als.h"
#include "core/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_manager.h"
#include "spdlog/sinks/ringbuffer_sink.h"
#include "spdlog/spdlog.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

v1::Item MakeItem(const std::string& id, const std::string& category) {
  v1::Item item;
  item.set_item_id(id);
  item.set_title(absl::StrCat("Item ", id));
  item.add_categories(category);
  item.set_price(10);
  item.set_available(true);
  return item;
}

v1::Event MakeEvent(const std::string& user, const std::string& item,
                    v1::EventType type, const std::string& event_id = "",
                    int64_t ts = 0) {
  v1::Event e;
  e.set_event_id(event_id);
  e.set_user_id(user);
  e.set_item_id(item);
  e.set_type(type);
  e.set_timestamp_ms(ts);
  return e;
}

std::vector<std::string> ItemIds(const v1::RecommendResponse& response) {
  std::vector<std::string> ids;
  for (const v1::RecommendedItem& item : response.items()) {
    ids.push_back(item.item_id());
  }
  return ids;
}

class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start(bool with_metrics = false) {
    server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
    if (with_metrics) config.metrics_port = 0;
    if (configure_) configure_(config);
    absl::StatusOr<TestServer> server = StartTestServer(config);
    ASSERT_OK(server);
    server_ = *std::move(server);
  }

  // Shuts the server down (its threads joined) and releases the data dir.
  void Stop() {
    server_.stub.reset();
    server_.channel.reset();
    server_.server.reset();
  }

  void Restart(bool with_metrics = false) {
    Stop();
    Start(with_metrics);
  }

  v1::Recommender::Stub& stub() { return *server_.stub; }
  server::AisleServer& server() { return *server_.server; }

  void Upsert(const std::vector<v1::Item>& items) {
    v1::UpsertItemsRequest request;
    for (const v1::Item& item : items) *request.add_items() = item;
    v1::UpsertItemsResponse response;
    auto ctx = ContextWithDeadline();
    grpc::Status status = stub().UpsertItems(ctx.get(), request, &response);
    ASSERT_OK(FromGrpc(status));
    ASSERT_EQ(response.upserted(), static_cast<int>(items.size()));
  }

  grpc::Status Feedback(const std::vector<v1::Event>& events,
                        v1::FeedbackResponse* response) {
    v1::FeedbackRequest request;
    for (const v1::Event& e : events) *request.add_events() = e;
    auto ctx = ContextWithDeadline();
    return stub().Feedback(ctx.get(), request, response);
  }

  grpc::Status Recommend(const v1::RecommendRequest& request,
                         v1::RecommendResponse* response) {
    auto ctx = ContextWithDeadline();
    return stub().Recommend(ctx.get(), request, response);
  }

  grpc::Status GetUser(const std::string& user, v1::UserProfile* profile) {
    v1::GetUserRequest request;
    request.set_user_id(user);
    auto ctx = ContextWithDeadline();
    return stub().GetUser(ctx.get(), request, profile);
  }

  v1::ModelInfo ModelInfo() {
    v1::ModelInfo info;
    auto ctx = ContextWithDeadline();
    grpc::Status status =
        stub().GetModelInfo(ctx.get(), v1::GetModelInfoRequest(), &info);
    EXPECT_OK(FromGrpc(status));
    return info;
  }

  // A catalog of 30 items in three categories and 20 users whose events
  // make c0 items the most popular.
  void SeedCatalogAndEvents() {
    std::vector<v1::Item> items;
    for (int i = 0; i < 30; ++i) {
      items.push_back(MakeItem(absl::StrCat("i", i), absl::StrCat("c", i % 3)));
    }
    Upsert(items);
    std::vector<v1::Event> events;
    const int64_t base = NowMs() - 3'600'000;
    for (int u = 0; u < 20; ++u) {
      for (int k = 0; k < 6; ++k) {
        // Users prefer items of their own category, so the data has
        // structure for the factor model.
        int item = (u % 3) + 3 * ((u + k) % 10);
        events.push_back(MakeEvent(
            absl::StrCat("seed", u), absl::StrCat("i", item), v1::PURCHASE,
            absl::StrCat("s", u, "-", k), base + u * 100 + k));
      }
    }
    v1::FeedbackResponse response;
    grpc::Status status = Feedback(events, &response);
    ASSERT_OK(FromGrpc(status));
    ASSERT_EQ(response.accepted(), static_cast<int>(events.size()));
  }

  // Trains a small model on the server's engine and returns its blob.
  std::string TrainModelBlob(const std::string& version, uint64_t seed) {
    core::Engine::TrainingData data = server().engine().ExportTrainingData();
    core::AlsOptions als;
    als.factors = 8;
    als.iterations = 5;
    als.regularization = 0.1f;
    als.threads = 1;
    als.seed = seed;
    absl::StatusOr<core::AlsFactors> factors =
        core::TrainAls(data.user_items, als);
    EXPECT_OK(factors);
    if (!factors.ok()) return "";
    core::ModelMetadata metadata;
    metadata.version = version;
    metadata.trained_at_ms = NowMs();
    metadata.factors = als.factors;
    metadata.users = data.user_items.rows;
    metadata.items = data.user_items.cols;
    metadata.interactions = data.user_items.nnz();
    metadata.parameters = {{"alpha", "1"}, {"regularization", "0.1"}};
    absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
        core::FactorModel::Create(metadata, data.item_ids, factors->items,
                                  data.user_ids, factors->users,
                                  core::ModelOptions{});
    EXPECT_OK(model);
    return model.ok() ? (*model)->Serialize() : "";
  }

  // Drops a model file into the inbox the way `aisle train` does: write a
  // temporary file, then rename it into place.
  void DropInInbox(const std::string& name, const std::string& blob) {
    ASSERT_OK(DropModelInInbox(server().config().data_dir, name, blob));
  }

  TempDir dir_;
  TestServer server_;
  // Adjusts the config of every later Start (and Restart).
  std::function<void(server::ServerConfig&)> configure_;
};

TEST_F(IntegrationTest, HealthIsServingAndReflectionListsTheService) {
  absl::StatusOr<int> overall =
      HealthCheck(server_.channel, "", std::chrono::seconds(5));
  ASSERT_OK(overall);
  EXPECT_EQ(*overall, 1);  // SERVING
  absl::StatusOr<int> service = HealthCheck(
      server_.channel, "aisle.v1.Recommender", std::chrono::seconds(5));
  ASSERT_OK(service);
  EXPECT_EQ(*service, 1);
  EXPECT_TRUE(server().serving());

  absl::StatusOr<std::vector<std::string>> services =
      ListServicesByReflection(server_.channel);
  ASSERT_OK(services);
  EXPECT_THAT(*services, Contains("aisle.v1.Recommender"));
  EXPECT_THAT(*services, Contains("grpc.health.v1.Health"));
}

TEST_F(IntegrationTest, ItemsUpsertGetDelete) {
  v1::Item shoes = MakeItem("shoes", "fashion/shoes");
  (*shoes.mutable_attributes())["colour"] = "red";
  Upsert({shoes, MakeItem("hat", "fashion/hats")});

  v1::GetItemRequest get;
  get.set_item_id("shoes");
  v1::Item item;
  auto ctx = ContextWithDeadline();
  grpc::Status status = stub().GetItem(ctx.get(), get, &item);
  ASSERT_OK(FromGrpc(status));
  EXPECT_EQ(item.title(), "Item shoes");
  EXPECT_EQ(item.categories(0), "fashion/shoes");
  EXPECT_EQ(item.attributes().at("colour"), "red");
  EXPECT_GT(item.updated_at_ms(), 0);  // set by the server

  v1::DeleteItemsRequest del;
  del.add_item_ids("shoes");
  del.add_item_ids("never-existed");
  v1::DeleteItemsResponse deleted;
  ctx = ContextWithDeadline();
  status = stub().DeleteItems(ctx.get(), del, &deleted);
  ASSERT_OK(FromGrpc(status));
  EXPECT_EQ(deleted.deleted(), 1);
  EXPECT_EQ(deleted.not_found(), 1);

  ctx = ContextWithDeadline();
  status = stub().GetItem(ctx.get(), get, &item);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("shoes"));
}

TEST_F(IntegrationTest, FeedbackIsReflectedByTheNextRecommend) {
  SeedCatalogAndEvents();
  v1::RecommendRequest request;
  request.set_user_id("newcomer");
  request.set_count(5);
  v1::RecommendResponse before;
  grpc::Status status = Recommend(request, &before);
  ASSERT_OK(FromGrpc(status));
  ASSERT_FALSE(before.items().empty());
  EXPECT_THAT(before.recommendation_id(),
              ::testing::MatchesRegex(
                  "r2-1-default-[0-9a-f]+-[0-9a-f]{16}-u-[0-9a-f]{32}"));
  const std::string top = before.items(0).item_id();

  // Interacting with the top item makes it "seen": the very next Recommend
  // must not show it (include_seen is false by default).
  v1::FeedbackResponse fed;
  v1::Event click = MakeEvent("newcomer", top, v1::CLICK, "n1");
  click.set_recommendation_id(before.recommendation_id());
  status = Feedback({click}, &fed);
  ASSERT_OK(FromGrpc(status));
  EXPECT_EQ(fed.accepted(), 1);

  v1::RecommendResponse after;
  status = Recommend(request, &after);
  ASSERT_OK(FromGrpc(status));
  EXPECT_THAT(ItemIds(after), Not(Contains(top)));
  EXPECT_NE(after.recommendation_id(), before.recommendation_id());

  request.set_include_seen(true);
  request.set_count(30);
  status = Recommend(request, &after);
  ASSERT_OK(FromGrpc(status));
  EXPECT_THAT(ItemIds(after), Contains(top));

  v1::UserProfile profile;
  status = GetUser("newcomer", &profile);
  ASSERT_OK(FromGrpc(status));
  ASSERT_EQ(profile.event_counts_size(), 1);
  EXPECT_EQ(profile.event_counts(0).type(), v1::CLICK);
  EXPECT_EQ(profile.event_counts(0).count(), 1);
  EXPECT_THAT(profile.recent_item_ids(), Contains(top));
  ASSERT_EQ(profile.recent_events_size(), 1);
  EXPECT_EQ(profile.recent_events(0).item_id(), top);
  EXPECT_EQ(profile.recent_events(0).type(), v1::CLICK);
  EXPECT_GT(profile.recent_events(0).timestamp_ms(), 0);
}

TEST_F(IntegrationTest, DuplicatesAreCountedOnce) {
  Upsert({MakeItem("i1", "c")});
  const int64_t ts = NowMs() - 1000;
  v1::FeedbackResponse r;
  ASSERT_OK(
      FromGrpc(Feedback({MakeEvent("u", "i1", v1::VIEW, "dup-1", ts)}, &r)));
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(r.duplicates(), 0);
  // Same event_id again, and twice within one batch.
  ASSERT_OK(FromGrpc(Feedback({MakeEvent("u", "i1", v1::VIEW, "dup-1", ts),
                               MakeEvent("u", "i1", v1::VIEW, "dup-2", ts + 1),
                               MakeEvent("u", "i1", v1::VIEW, "dup-2", ts + 1)},
                              &r)));
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(r.duplicates(), 2);
  // Without event_id the server derives one from (user, item, type, ts):
  // the same event re-sent is still a duplicate.
  ASSERT_OK(FromGrpc(Feedback({MakeEvent("u", "i1", v1::CLICK, "", ts)}, &r)));
  EXPECT_EQ(r.accepted(), 1);
  ASSERT_OK(FromGrpc(Feedback({MakeEvent("u", "i1", v1::CLICK, "", ts)}, &r)));
  EXPECT_EQ(r.accepted(), 0);
  EXPECT_EQ(r.duplicates(), 1);

  v1::UserProfile profile;
  ASSERT_OK(FromGrpc(GetUser("u", &profile)));
  std::map<int, int64_t> counts;
  for (const v1::EventCount& c : profile.event_counts()) {
    counts[c.type()] = c.count();
  }
  EXPECT_EQ(counts[v1::VIEW], 2);
  EXPECT_EQ(counts[v1::CLICK], 1);
}

struct BadFeedbackCase {
  std::string name;
  std::function<void(v1::FeedbackRequest*)> mutate;
  grpc::StatusCode code;
  std::string message;  // substring
};

TEST_F(IntegrationTest, BadFeedbackIsRejectedAndNothingIsStored) {
  const int64_t now = NowMs();
  const BadFeedbackCase cases[] = {
      {"EmptyItemId",
       [](v1::FeedbackRequest* r) { r->mutable_events(1)->clear_item_id(); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "events[1].item_id: must be 1..256 bytes, got 0"},
      {"OversizedUserId",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(0)->set_user_id(std::string(300, 'u'));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "events[0].user_id: must be 1..256 bytes, got 300"},
      {"NulInItemId",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(1)->set_item_id(std::string("a\0b", 3));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "events[1].item_id: must not contain"},
      {"UnknownEventType",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(1)->set_type(static_cast<v1::EventType>(42));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "events[1].type: unknown value 42"},
      {"NegativeEventType",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(1)->set_type(static_cast<v1::EventType>(-3));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "events[1].type: unknown value -3"},
      {"HugeEventType",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(0)->set_type(static_cast<v1::EventType>(70000));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "events[0].type: unknown value 70000"},
      {"UnspecifiedEventType",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(0)->set_type(v1::EVENT_TYPE_UNSPECIFIED);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "events[0].type: must be set"},
      {"NanValue",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(1)->set_value(std::nan(""));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "events[1].value: must be finite"},
      {"InfiniteRating",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(1)->set_type(v1::RATING);
         r->mutable_events(1)->set_value(
             std::numeric_limits<double>::infinity());
       },
       grpc::StatusCode::INVALID_ARGUMENT, "events[1].value: must be finite"},
      {"FarFutureTimestamp",
       [now](v1::FeedbackRequest* r) {
         r->mutable_events(1)->set_timestamp_ms(now + 3LL * 24 * 3600 * 1000);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "events[1].timestamp_ms: must be at most 1 day in the future"},
      {"NegativeTimestamp",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(0)->set_timestamp_ms(-1);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "events[0].timestamp_ms: must not be negative"},
      {"TooManyEvents",
       [](v1::FeedbackRequest* r) {
         for (int i = 0; i < 1000; ++i) *r->add_events() = r->events(0);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "events: must have 1..1000 entries, got 1002"},
      {"EmptyBatch", [](v1::FeedbackRequest* r) { r->clear_events(); },
       grpc::StatusCode::INVALID_ARGUMENT, "events: must have 1..1000"},
      {"OversizedMessage",
       [](v1::FeedbackRequest* r) {
         r->mutable_events(0)->set_recommendation_id(std::string(5 << 20, 'x'));
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
  };
  for (const BadFeedbackCase& c : cases) {
    SCOPED_TRACE(c.name);
    // Two good events for "victim"; the mutation breaks one of them, so
    // the whole batch must be rejected.
    v1::FeedbackRequest request;
    *request.add_events() = MakeEvent("victim", "i1", v1::VIEW, "v1");
    *request.add_events() = MakeEvent("victim", "i2", v1::VIEW, "v2");
    c.mutate(&request);
    v1::FeedbackResponse response;
    auto ctx = ContextWithDeadline();
    grpc::Status status = stub().Feedback(ctx.get(), request, &response);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));

    v1::UserProfile profile;
    EXPECT_EQ(GetUser("victim", &profile).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(*server().store().CountUserRecords("victim"), 0);
  // Still serving: a good request goes through.
  v1::FeedbackResponse ok;
  ASSERT_OK(
      FromGrpc(Feedback({MakeEvent("victim", "i1", v1::VIEW, "v1")}, &ok)));
  EXPECT_EQ(ok.accepted(), 1);
}

struct BadRecommendCase {
  std::string name;
  std::function<void(v1::RecommendRequest*)> mutate;
  std::string message;
};

TEST_F(IntegrationTest, BadRecommendRequestsAreRejected) {
  const BadRecommendCase cases[] = {
      {"CountTooLarge", [](v1::RecommendRequest* r) { r->set_count(501); },
       "count: must be 0..500"},
      {"CountNegative", [](v1::RecommendRequest* r) { r->set_count(-1); },
       "count: must be 0..500"},
      {"UnknownScenario",
       [](v1::RecommendRequest* r) {
         r->set_scenario(static_cast<v1::Scenario>(9));
       },
       "scenario: unknown value 9"},
      {"NegativeScenario",
       [](v1::RecommendRequest* r) {
         r->set_scenario(static_cast<v1::Scenario>(-1));
       },
       "scenario: unknown value -1"},
      {"OversizedUser",
       [](v1::RecommendRequest* r) { r->set_user_id(std::string(257, 'u')); },
       "user_id: must be 1..256 bytes, got 257"},
      {"DiversityNan",
       [](v1::RecommendRequest* r) { r->set_diversity(std::nan("")); },
       "diversity"},
      {"TooManyContextItems",
       [](v1::RecommendRequest* r) {
         for (int i = 0; i < 101; ++i) r->add_context_item_ids("i1");
       },
       "context_item_ids: at most 100"},
      {"PriceBoundsInverted",
       [](v1::RecommendRequest* r) {
         r->mutable_filter()->set_min_price(10);
         r->mutable_filter()->set_max_price(1);
       },
       "filter.min_price: must be <= filter.max_price"},
      {"SimilarWithoutContext",
       [](v1::RecommendRequest* r) { r->set_scenario(v1::SIMILAR_ITEMS); },
       "context_item_ids: required"},
  };
  for (const BadRecommendCase& c : cases) {
    SCOPED_TRACE(c.name);
    v1::RecommendRequest request;
    request.set_user_id("u1");
    c.mutate(&request);
    v1::RecommendResponse response;
    grpc::Status status = Recommend(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  v1::RecommendRequest good;
  v1::RecommendResponse response;
  EXPECT_OK(FromGrpc(Recommend(good, &response)));
}

TEST_F(IntegrationTest, ImportEventsCommitsBatchesAndReportsBadEvents) {
  Upsert({MakeItem("i1", "c"), MakeItem("i2", "c")});
  auto import = [&](int bad_every) {
    auto ctx = ContextWithDeadline();
    v1::ImportEventsResponse response;
    std::unique_ptr<grpc::ClientWriter<v1::FeedbackRequest>> writer =
        stub().ImportEvents(ctx.get(), &response);
    for (int b = 0; b < 3; ++b) {
      v1::FeedbackRequest batch;
      for (int i = 0; i < 10; ++i) {
        v1::Event e =
            MakeEvent(absl::StrCat("imp", i % 4), "i1", v1::VIEW,
                      absl::StrCat("imp-", b, "-", i), NowMs() - 10'000 + i);
        if (bad_every > 0 && i % bad_every == 0) e.clear_user_id();
        *batch.add_events() = e;
      }
      EXPECT_TRUE(writer->Write(batch));
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    EXPECT_OK(FromGrpc(status));
    return response;
  };
  v1::ImportEventsResponse first = import(5);  // events 0 and 5 are bad
  EXPECT_EQ(first.accepted(), 24);
  EXPECT_EQ(first.rejected(), 6);
  EXPECT_EQ(first.duplicates(), 0);
  ASSERT_EQ(first.errors_size(), 6);
  EXPECT_EQ(first.errors(0),
            "batch 0: events[0].user_id: must be 1..256 bytes, got 0");
  EXPECT_THAT(first.errors(5), HasSubstr("batch 2: events[5].user_id"));

  // Resuming: re-sent events are duplicates, the fixed ones are new.
  v1::ImportEventsResponse second = import(0);
  EXPECT_EQ(second.accepted(), 6);
  EXPECT_EQ(second.duplicates(), 24);
  EXPECT_EQ(second.rejected(), 0);

  v1::UserProfile profile;
  ASSERT_OK(FromGrpc(GetUser("imp1", &profile)));
  ASSERT_EQ(profile.event_counts_size(), 1);
  EXPECT_EQ(profile.event_counts(0).count(), 9);  // i = 1, 5, 9 per batch
}

TEST_F(IntegrationTest, MetricsEndpointCountsRequests) {
  Restart(/*with_metrics=*/true);
  SeedCatalogAndEvents();
  v1::RecommendRequest request;
  request.set_user_id("seed1");
  v1::RecommendResponse response;
  ASSERT_OK(FromGrpc(Recommend(request, &response)));
  ASSERT_GT(response.items_size(), 0);
  const int served = response.items_size();
  // An attributed click.
  v1::Event click = MakeEvent("seed1", response.items(0).item_id(), v1::CLICK,
                              "attributed-1");
  click.set_recommendation_id(response.recommendation_id());
  v1::FeedbackResponse fed;
  ASSERT_OK(FromGrpc(Feedback({click}, &fed)));
  request.set_count(1000);  // invalid
  EXPECT_THAT(FromGrpc(Recommend(request, &response)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("count")));

  ASSERT_GT(server().metrics_port(), 0);
  absl::StatusOr<std::string> body =
      HttpGet(server().metrics_port(), "/metrics");
  ASSERT_OK(body);
  std::map<std::string, double> samples = ParseMetricSamples(*body);
  EXPECT_EQ(
      samples[R"(aisle_grpc_requests_total{code="OK",method="Recommend"})"], 1);
  EXPECT_EQ(
      samples
          [R"(aisle_grpc_requests_total{code="INVALID_ARGUMENT",method="Recommend"})"],
      1);
  EXPECT_EQ(
      samples[R"(aisle_grpc_requests_total{code="OK",method="Feedback"})"], 2);
  EXPECT_EQ(
      samples
          [R"(aisle_grpc_request_duration_seconds_count{method="Recommend"})"],
      2);
  EXPECT_EQ(samples[R"(aisle_events_total{type="purchase"})"], 120);
  EXPECT_EQ(samples[R"(aisle_events_total{type="click"})"], 1);
  EXPECT_EQ(
      samples
          [R"(aisle_attributed_events_total{scenario="for_you",type="click",variant="default"})"],
      1);
  EXPECT_EQ(samples[R"(aisle_recommendations_total{scenario="for_you"})"], 1);
  EXPECT_EQ(
      samples
          [R"(aisle_recommended_items_total{scenario="for_you",variant="default"})"],
      served);
  EXPECT_EQ(samples["aisle_up"], 1);
  EXPECT_EQ(samples["aisle_catalog_items"], 30);
  EXPECT_EQ(samples["aisle_known_users"], 20);  // seed0..seed19
  EXPECT_EQ(samples[absl::StrCat("aisle_build_info{version=\"", AISLE_VERSION,
                                 "\"}")],
            1);
  EXPECT_TRUE(samples.count("aisle_storage_live_data_bytes"));
  EXPECT_TRUE(samples.count("aisle_model_age_seconds"));
}

TEST_F(IntegrationTest, ModelHotSwapViaInboxWhileServing) {
  SeedCatalogAndEvents();
  EXPECT_EQ(ModelInfo().version(), "");
  const std::string blob_a = TrainModelBlob("20260101T000000Z-a", 1);
  const std::string blob_b = TrainModelBlob("20260102T000000Z-b", 2);
  ASSERT_FALSE(blob_a.empty());

  // A Recommend loop on its own channel that must never fail.
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::thread loop([&] {
    auto stub = MakeStub(server_.address());
    while (!stop.load()) {
      v1::RecommendRequest request;
      request.set_user_id(absl::StrCat("seed", calls.load() % 20));
      v1::RecommendResponse response;
      auto ctx = ContextWithDeadline();
      grpc::Status status = stub->Recommend(ctx.get(), request, &response);
      if (!status.ok() || response.items().empty()) {
        if (failures.fetch_add(1) == 0) first_failure = status.error_message();
      }
      calls.fetch_add(1);
    }
  });
  auto wait_for_calls = [&](int n) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (calls.load() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  };

  wait_for_calls(5);
  DropInInbox("20260101T000000Z-a.model", blob_a);
  ASSERT_OK(server().PollModelsOnce());
  EXPECT_EQ(ModelInfo().version(), "20260101T000000Z-a");
  EXPECT_EQ(ModelInfo().factors(), 8);
  int seen = calls.load();
  wait_for_calls(seen + 5);

  DropInInbox("20260102T000000Z-b.model", blob_b);
  DropInInbox("20260103T000000Z-bad.model", "not a model at all");
  ASSERT_OK(server().PollModelsOnce());
  // The corrupt file is set aside; b serves.
  EXPECT_EQ(ModelInfo().version(), "20260102T000000Z-b");
  const fs::path inbox = server::ModelInboxDir(server().config().data_dir);
  EXPECT_TRUE(fs::exists(inbox / "20260103T000000Z-bad.model.rejected"));
  EXPECT_FALSE(fs::exists(inbox / "20260102T000000Z-b.model"));
  EXPECT_FALSE(fs::exists(inbox / "20260101T000000Z-a.model"));
  seen = calls.load();
  wait_for_calls(seen + 5);

  stop.store(true);
  loop.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;

  // The personalised path now uses the model.
  v1::RecommendRequest request;
  request.set_user_id("seed1");
  v1::RecommendResponse response;
  ASSERT_OK(FromGrpc(Recommend(request, &response)));
  EXPECT_EQ(response.model_version(), "20260102T000000Z-b");

  // ListModels shows both, newest first, b active.
  v1::ListModelsResponse models;
  auto ctx = ContextWithDeadline();
  ASSERT_OK(
      FromGrpc(stub().ListModels(ctx.get(), v1::ListModelsRequest(), &models)));
  ASSERT_EQ(models.models_size(), 2);
  EXPECT_EQ(models.models(0).version(), "20260102T000000Z-b");
  EXPECT_EQ(models.active_version(), "20260102T000000Z-b");

  // Rollback goes back to a.
  v1::ActivateModelRequest rollback;
  rollback.set_rollback(true);
  v1::ModelInfo info;
  ctx = ContextWithDeadline();
  grpc::Status status = stub().ActivateModel(ctx.get(), rollback, &info);
  ASSERT_OK(FromGrpc(status));
  EXPECT_EQ(info.version(), "20260101T000000Z-a");
  EXPECT_EQ(ModelInfo().version(), "20260101T000000Z-a");

  // Explicit activation by version.
  v1::ActivateModelRequest activate;
  activate.set_version("20260102T000000Z-b");
  ctx = ContextWithDeadline();
  status = stub().ActivateModel(ctx.get(), activate, &info);
  ASSERT_OK(FromGrpc(status));
  EXPECT_EQ(ModelInfo().version(), "20260102T000000Z-b");

  // Unknown version: NOT_FOUND; nothing changes.
  activate.set_version("no-such-version");
  ctx = ContextWithDeadline();
  status = stub().ActivateModel(ctx.get(), activate, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  // A stored but corrupt blob: FAILED_PRECONDITION, b keeps serving.
  core::ModelMetadata corrupt_meta;
  corrupt_meta.version = "20260104T000000Z-corrupt";
  std::string corrupt = blob_a;
  corrupt[corrupt.size() / 2] ^= 0x5A;
  ASSERT_OK(server().store().PutModel(corrupt_meta, corrupt));
  activate.set_version("20260104T000000Z-corrupt");
  ctx = ContextWithDeadline();
  status = stub().ActivateModel(ctx.get(), activate, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("keeps serving"));
  EXPECT_EQ(ModelInfo().version(), "20260102T000000Z-b");
}

// ActivateModel keeps the ANN index it builds in the data dir's cache, so
// that a swap back to the version (a rollback) and the next start load it
// instead of building it again (minutes at 1M items).
TEST_F(IntegrationTest, AnActivatedVersionsIndexIsKeptForRollbackAndRestart) {
  configure_ = [](server::ServerConfig& config) {
    config.engine.model.ann_min_items = 10;  // the 30 items get an index
    config.engine.model.ann.threads = 1;
  };
  Restart();
  SeedCatalogAndEvents();
  for (const auto& [version, seed] :
       std::vector<std::pair<std::string, uint64_t>>{
           {"20260101T000000Z-a", 1}, {"20260102T000000Z-b", 2}}) {
    const std::string blob = TrainModelBlob(version, seed);
    ASSERT_OK_AND_ASSIGN(core::ModelMetadata metadata,
                         core::FactorModel::PeekMetadata(blob));
    ASSERT_OK(server().store().PutModel(metadata, blob));
  }
  const fs::path cache = server::AnnCacheDir(server().config().data_dir);
  v1::ModelInfo info;
  for (const std::string version :
       {"20260101T000000Z-a", "20260102T000000Z-b"}) {
    v1::ActivateModelRequest activate;
    activate.set_version(version);
    ASSERT_OK(FromGrpc(
        stub().ActivateModel(ContextWithDeadline().get(), activate, &info)));
    EXPECT_TRUE(fs::exists(cache / (version + ".hnsw"))) << version;
    EXPECT_TRUE(fs::exists(cache / (version + ".hnsw.sum"))) << version;
  }

  // What the server logs while `fn` runs. The capturing logger stays the
  // default until the server is gone (below): the server's background
  // threads (re-solving user vectors after an activation, at the idle
  // policy) may still be logging when `fn` returns, and swapping the
  // default logger under a thread that is logging frees the logger it
  // uses. The ring buffer sink is read under its own lock.
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  auto logged = [&](const std::function<void()>& fn) {
    const size_t before = sink->last_formatted().size();
    fn();
    const std::vector<std::string> lines = sink->last_formatted();
    return absl::StrJoin(lines.begin() + static_cast<std::ptrdiff_t>(before),
                         lines.end(), "");
  };
  const std::string loaded_a =
      "loaded the stored ANN index over 30 items of model "
      "20260101T000000Z-a";
  v1::ActivateModelRequest rollback;
  rollback.set_rollback(true);
  grpc::Status rolled_back;
  EXPECT_THAT(logged([&] {
                rolled_back = stub().ActivateModel(ContextWithDeadline().get(),
                                                   rollback, &info);
              }),
              HasSubstr(loaded_a));
  ASSERT_OK(FromGrpc(rolled_back));
  EXPECT_EQ(info.version(), "20260101T000000Z-a");

  // The start also drops the indexes of versions the store no longer has.
  for (const char* stray :
       {"20250101T000000Z-gone.hnsw", "20250101T000000Z-gone.hnsw.sum"}) {
    std::ofstream(cache / stray) << "index of an erased version";
  }
  const std::string restart_log = logged([&] { Restart(); });
  EXPECT_THAT(restart_log, HasSubstr(loaded_a));
  EXPECT_THAT(restart_log, Not(HasSubstr("built the ANN index")));
  EXPECT_FALSE(fs::exists(cache / "20250101T000000Z-gone.hnsw"));
  EXPECT_FALSE(fs::exists(cache / "20250101T000000Z-gone.hnsw.sum"));
  EXPECT_TRUE(fs::exists(cache / "20260102T000000Z-b.hnsw"));
  EXPECT_TRUE(fs::exists(cache / "20260102T000000Z-b.hnsw.sum"));
  Stop();  // its threads joined: nothing logs any more
  spdlog::set_default_logger(previous);
}

TEST_F(IntegrationTest, StateSurvivesRestart) {
  SeedCatalogAndEvents();
  DropInInbox("20260101T000000Z-a.model",
              TrainModelBlob("20260101T000000Z-a", 1));
  ASSERT_OK(server().PollModelsOnce());
  Restart();
  v1::ModelInfo info = ModelInfo();
  EXPECT_EQ(info.version(), "20260101T000000Z-a");
  EXPECT_EQ(info.catalog_items(), 30);
  EXPECT_EQ(info.known_users(), 20);
  EXPECT_EQ(info.events(), 120);
  v1::UserProfile profile;
  ASSERT_OK(FromGrpc(GetUser("seed3", &profile)));
  EXPECT_TRUE(profile.has_vector());
}

TEST_F(IntegrationTest, DeleteUserErasesEverything) {
  SeedCatalogAndEvents();
  v1::FeedbackResponse fed;
  ASSERT_OK(FromGrpc(Feedback({MakeEvent("gone", "i1", v1::VIEW, "g1"),
                               MakeEvent("gone", "i2", v1::PURCHASE, "g2")},
                              &fed)));
  ASSERT_GT(*server().store().CountUserRecords("gone"), 0);

  v1::DeleteUserRequest request;
  request.set_user_id("gone");
  v1::DeleteUserResponse response;
  auto ctx = ContextWithDeadline();
  grpc::Status status = stub().DeleteUser(ctx.get(), request, &response);
  ASSERT_OK(FromGrpc(status));
  EXPECT_EQ(response.events_deleted(), 2);
  EXPECT_EQ(response.idempotency_keys_deleted(), 2);
  EXPECT_TRUE(response.profile_deleted());

  v1::UserProfile profile;
  EXPECT_EQ(GetUser("gone", &profile).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(*server().store().CountUserRecords("gone"), 0);
  // Other users are untouched.
  EXPECT_OK(FromGrpc(GetUser("seed1", &profile)));
}

TEST_F(IntegrationTest, UnknownUserIsNotFound) {
  v1::UserProfile profile;
  grpc::Status status = GetUser("nobody", &profile);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nobody"));
  v1::GetItemRequest get;
  get.set_item_id("");
  v1::Item item;
  auto ctx = ContextWithDeadline();
  status = stub().GetItem(ctx.get(), get, &item);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("item_id"));
}

TEST_F(IntegrationTest, GracefulShutdownCompletesAnInFlightStream) {
  Upsert({MakeItem("i1", "c")});
  auto ctx = ContextWithDeadline(std::chrono::seconds(30));
  v1::ImportEventsResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::FeedbackRequest>> writer =
      stub().ImportEvents(ctx.get(), &response);
  v1::FeedbackRequest batch;
  *batch.add_events() = MakeEvent("late", "i1", v1::VIEW, "late-1");
  ASSERT_TRUE(writer->Write(batch));
  // The call is in flight once the server has committed the first batch.
  const auto committed_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!server().store().GetUser("late").ok() &&
         std::chrono::steady_clock::now() < committed_deadline) {
    std::this_thread::yield();
  }
  ASSERT_OK(server().store().GetUser("late"));

  std::thread shutdown([&] { server().Shutdown(); });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server().serving() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_FALSE(server().serving());

  // New calls are refused while draining: UNAVAILABLE from the service
  // before gRPC's own shutdown starts, CANCELLED or UNAVAILABLE from gRPC
  // after.
  v1::RecommendResponse refused;
  v1::RecommendRequest request;
  auto new_ctx = ContextWithDeadline(std::chrono::seconds(5));
  grpc::Status status =
      MakeStub(server_.address())->Recommend(new_ctx.get(), request, &refused);
  EXPECT_THAT(status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                               grpc::StatusCode::CANCELLED));

  // ...but the stream that was in flight completes.
  batch.mutable_events(0)->set_event_id("late-2");
  writer->Write(batch);
  writer->WritesDone();
  status = writer->Finish();
  shutdown.join();
  ASSERT_OK(FromGrpc(status));
  EXPECT_EQ(response.accepted(), 2);

  Restart();  // both events are durable
  v1::UserProfile profile;
  ASSERT_OK(FromGrpc(GetUser("late", &profile)));
  EXPECT_EQ(profile.event_counts(0).count(), 2);
}

// The real binary: `aisle serve` starts, serves, and exits 0 on SIGTERM;
// a second server on the same data dir, or on the same port, refuses to
// start.
TEST(ServeBinaryTest, StartsServesAndStopsOnSigterm) {
  TempDir dir;
  absl::StatusOr<ServeProcess> serve =
      SpawnServe(dir.Sub("data"), {}, dir.path());
  ASSERT_OK(serve);

  auto stub = MakeStub(serve->address);
  v1::UpsertItemsRequest upsert;
  *upsert.add_items() = MakeItem("i1", "c");
  v1::UpsertItemsResponse upserted;
  auto ctx = ContextWithDeadline();
  ASSERT_OK(FromGrpc(stub->UpsertItems(ctx.get(), upsert, &upserted)));
  v1::RecommendRequest request;
  v1::RecommendResponse response;
  ctx = ContextWithDeadline();
  grpc::Status status = stub->Recommend(ctx.get(), request, &response);
  ASSERT_OK(FromGrpc(status));

  absl::StatusOr<RunResult> second =
      RunAisle({"serve", "--data-dir", dir.Sub("data"), "--port", "0",
                "--metrics-port", "-1"});
  ASSERT_OK(second);
  EXPECT_EQ(second->exit_code, 1) << second->err;
  EXPECT_THAT(second->err, HasSubstr("error: "));

  // Another store on the same port is refused, not given half of the
  // connections (gRPC would share the port through SO_REUSEPORT).
  absl::StatusOr<RunResult> same_port =
      RunAisle({"serve", "--data-dir", dir.Sub("other"), "--host", "127.0.0.1",
                "--port", absl::StrCat(serve->port), "--metrics-port", "-1"},
               {}, std::chrono::seconds(30));
  ASSERT_OK(same_port) << "a second server started on a port in use";
  EXPECT_EQ(same_port->exit_code, 1) << same_port->err;
  EXPECT_THAT(same_port->err, HasSubstr("port in use?"));

  ASSERT_OK(serve->process->Signal(SIGTERM));
  absl::StatusOr<int> code = serve->process->Wait(std::chrono::seconds(30));
  ASSERT_OK(code);
  EXPECT_EQ(*code, 0) << serve->process->Stderr();
  EXPECT_THAT(serve->process->Stderr(), HasSubstr("received SIGTERM"));
}

TEST(ServeBinaryTest, HelpAndBadFlags) {
  absl::StatusOr<RunResult> help = RunAisle({"serve", "--help"});
  ASSERT_OK(help);
  EXPECT_EQ(help->exit_code, 0);
  EXPECT_THAT(help->out, HasSubstr("--metrics-port"));

  absl::StatusOr<RunResult> bad = RunAisle({"serve", "--port", "70000"});
  ASSERT_OK(bad);
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_THAT(bad->err, HasSubstr("--port: must be 0..65535, got 70000"));

  absl::StatusOr<RunResult> bad_env =
      RunAisle({"serve"}, {{"AISLE_DURABILITY", "sometimes"}});
  ASSERT_OK(bad_env);
  EXPECT_EQ(bad_env->exit_code, 2);
  EXPECT_THAT(bad_env->err, HasSubstr("AISLE_DURABILITY: must be process or "
                                      "machine"));
}

}  // namespace
}  // namespace aisle::testing
