// Signals and scenarios of issue 15 through the real gRPC API: the POPULAR
// scenario (bestsellers), the FAVORITE event, event weights as
// configuration, and MergeUsers (an anonymous visitor who logs in), also
// across a restart.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cluster/testing/nats_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct EventSpec {
  std::string id;
  std::string user;
  std::string item;
  v1::EventType type;
};

class SignalsTest : public ::testing::Test {
 protected:
  void Start(server::ServerConfig config) {
    server_ = TestServer();  // stops the previous one first
    ASSERT_OK_AND_ASSIGN(server_, StartTestServer(config));
  }
  void Start() { Start(TestServerConfig(dir_.Sub("data"))); }

  // Items: a, b, c in "shoes"; d in "bags". All available.
  void UpsertCatalog() {
    v1::UpsertItemsRequest items;
    for (const char* id : {"a", "b", "c", "d"}) {
      v1::Item* item = items.add_items();
      item->set_item_id(id);
      item->set_title(absl::StrCat("Item ", id));
      item->add_categories(std::string(id) == "d" ? "bags" : "shoes");
      item->set_available(true);
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(FromGrpc(server_.stub->UpsertItems(ContextWithDeadline().get(),
                                                 items, &upserted)));
  }

  absl::Status Feed(const std::vector<EventSpec>& specs,
                    v1::FeedbackResponse* response = nullptr) {
    v1::FeedbackRequest request;
    for (const EventSpec& s : specs) {
      v1::Event* e = request.add_events();
      e->set_event_id(s.id);
      e->set_user_id(s.user);
      e->set_item_id(s.item);
      e->set_type(s.type);
    }
    v1::FeedbackResponse local;
    return FromGrpc(
        server_.stub->Feedback(ContextWithDeadline().get(), request,
                               response != nullptr ? response : &local));
  }

  absl::StatusOr<v1::RecommendResponse> Recommend(
      const v1::RecommendRequest& request) {
    v1::RecommendResponse response;
    absl::Status s = FromGrpc(server_.stub->Recommend(
        ContextWithDeadline().get(), request, &response));
    if (!s.ok()) return s;
    return response;
  }

  std::vector<std::string> Ids(const v1::RecommendResponse& response) {
    std::vector<std::string> ids;
    for (const v1::RecommendedItem& item : response.items()) {
      ids.push_back(item.item_id());
    }
    return ids;
  }

  absl::StatusOr<v1::UserProfile> GetUser(const std::string& user) {
    v1::GetUserRequest request;
    request.set_user_id(user);
    v1::UserProfile profile;
    absl::Status s = FromGrpc(
        server_.stub->GetUser(ContextWithDeadline().get(), request, &profile));
    if (!s.ok()) return s;
    return profile;
  }

  int64_t Count(const v1::UserProfile& profile, v1::EventType type) {
    for (const v1::EventCount& c : profile.event_counts()) {
      if (c.type() == type) return c.count();
    }
    return 0;
  }

  absl::StatusOr<v1::MergeUsersResponse> Merge(const std::string& from,
                                               const std::string& to) {
    v1::MergeUsersRequest request;
    request.set_from_user_id(from);
    request.set_to_user_id(to);
    v1::MergeUsersResponse response;
    absl::Status s = FromGrpc(server_.stub->MergeUsers(
        ContextWithDeadline().get(), request, &response));
    if (!s.ok()) return s;
    return response;
  }

  TempDir dir_;
  TestServer server_;
};

// Views make b the most popular item; purchases make c the bestseller.
TEST_F(SignalsTest, PopularRanksByPurchasesAndFiltersByCategory) {
  Start();
  UpsertCatalog();
  std::vector<EventSpec> events;
  for (int i = 0; i < 20; ++i) {
    events.push_back(
        {absl::StrCat("v", i), absl::StrCat("u", i), "b", v1::VIEW});
  }
  for (int i = 0; i < 3; ++i) {
    events.push_back(
        {absl::StrCat("p", i), absl::StrCat("u", i), "c", v1::PURCHASE});
  }
  events.push_back({"pa", "u9", "a", v1::PURCHASE});
  events.push_back({"pd1", "u1", "d", v1::PURCHASE});
  events.push_back({"pd2", "u2", "d", v1::PURCHASE});
  ASSERT_OK(Feed(events));

  v1::RecommendRequest request;
  request.set_scenario(v1::POPULAR);
  request.set_count(4);
  request.set_explain(true);
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse all, Recommend(request));
  // By purchases (c 3, d 2, a 1), then by popularity (b: views only).
  EXPECT_THAT(Ids(all), ElementsAre("c", "d", "a", "b"));
  EXPECT_EQ(all.source(), v1::SOURCE_POPULARITY);
  EXPECT_FALSE(all.fallback());
  ASSERT_GT(all.items(0).reasons_size(), 0);
  EXPECT_EQ(all.items(0).reasons(0).code(), v1::REASON_POPULAR);
  EXPECT_EQ(all.items(0).reasons(0).detail(), "Bestseller in the store");
  EXPECT_EQ(all.items(3).reasons(0).detail(), "Popular in the store");

  request.mutable_filter()->add_include_categories("shoes");
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse shoes, Recommend(request));
  EXPECT_THAT(Ids(shoes), ElementsAre("c", "a", "b"));
  EXPECT_EQ(shoes.items(0).reasons(0).detail(), "Bestseller in shoes");

  // The usual filters: a user's seen items are left out.
  request.clear_filter();
  request.set_user_id("u0");  // viewed b, bought c
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse for_u0, Recommend(request));
  EXPECT_THAT(Ids(for_u0), ElementsAre("d", "a"));

  request.set_scenario(static_cast<v1::Scenario>(7));
  EXPECT_THAT(Recommend(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("scenario: unknown value 7")));
}

TEST_F(SignalsTest, FavoriteIsAStoredSignalWithItsWeight) {
  Start();
  UpsertCatalog();
  // Default weights: a favorite (3) outweighs two views (2).
  ASSERT_OK(Feed({{"f1", "u1", "a", v1::FAVORITE},
                  {"v1", "u2", "b", v1::VIEW},
                  {"v2", "u3", "b", v1::VIEW}}));
  v1::RecommendRequest trending;
  trending.set_scenario(v1::TRENDING);
  trending.set_count(2);
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse before, Recommend(trending));
  EXPECT_THAT(Ids(before), ElementsAre("a", "b"));
  ASSERT_OK_AND_ASSIGN(v1::UserProfile u1, GetUser("u1"));
  EXPECT_EQ(Count(u1, v1::FAVORITE), 1);
  EXPECT_THAT(u1.recent_item_ids(), ElementsAre("a"));

  // Stored and replayed (a clean stop writes an engine snapshot that the
  // restart loads), and a retry is a duplicate.
  Start();
  ASSERT_OK_AND_ASSIGN(u1, GetUser("u1"));
  EXPECT_EQ(Count(u1, v1::FAVORITE), 1);
  v1::FeedbackResponse retried;
  ASSERT_OK(Feed({{"f1", "u1", "a", v1::FAVORITE}}, &retried));
  EXPECT_EQ(retried.duplicates(), 1);
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse after, Recommend(trending));
  EXPECT_THAT(Ids(after), ElementsAre("a", "b"));

  // Weights are configuration: with views weighing 10 the order flips
  // (the events are replayed under the new weights).
  std::vector<std::string> args = {"serve", "--event-weights",
                                   "view=10, favorite=3"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  ASSERT_OK_AND_ASSIGN(
      server::ServerConfig parsed,
      server::ParseServeArgs(static_cast<int>(argv.size()), argv.data(), {}));
  server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
  config.engine.weights = parsed.engine.weights;
  Start(config);
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse reweighed, Recommend(trending));
  EXPECT_THAT(Ids(reweighed), ElementsAre("b", "a"));

  // Unknown event types are still refused, naming the field.
  EXPECT_THAT(Feed({{"x", "u1", "a", static_cast<v1::EventType>(11)}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("events[0].type: unknown value 11")));
}

TEST_F(SignalsTest, EventAndBlendWeightFlagsAreValidated) {
  const auto parse = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    return server::ParseServeArgs(static_cast<int>(argv.size()), argv.data(),
                                  {})
        .status();
  };
  EXPECT_THAT(parse({"serve", "--event-weights", "purchase=x"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--event-weights: event weight "
                                 "\"purchase=x\": not a number")));
  EXPECT_THAT(parse({"serve", "--event-weights", "view=-1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"view=-1\": must be 0..1000")));
  EXPECT_THAT(parse({"serve", "--event-weights", "dislike=1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown name (known: view, click")));
  EXPECT_THAT(parse({"serve", "--blend-weights", "session=2"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"session=2\": must be 0..1")));
  EXPECT_OK(parse({"serve", "--blend-weights", "session=0.5"}));
}

TEST_F(SignalsTest, MergeUsersMovesTheVisitorOnceAndErasesIt) {
  Start();
  UpsertCatalog();
  ASSERT_OK(Feed({{"m1", "member", "d", v1::PURCHASE}}));
  ASSERT_OK(Feed({{"anon-1", "visitor", "a", v1::VIEW},
                  {"anon-2", "visitor", "b", v1::FAVORITE}}));

  ASSERT_OK_AND_ASSIGN(v1::MergeUsersResponse merged,
                       Merge("visitor", "member"));
  EXPECT_EQ(merged.events_moved(), 2);
  EXPECT_EQ(merged.idempotency_keys_moved(), 2);
  EXPECT_TRUE(merged.profile_merged());
  ASSERT_OK_AND_ASSIGN(v1::UserProfile member, GetUser("member"));
  EXPECT_EQ(Count(member, v1::VIEW), 1);
  EXPECT_EQ(Count(member, v1::FAVORITE), 1);
  EXPECT_EQ(Count(member, v1::PURCHASE), 1);
  // The visitor's session is the member's latest.
  EXPECT_THAT(member.recent_item_ids(), ElementsAre("b", "a", "d"));
  EXPECT_THAT(GetUser("visitor").status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(server_.server->store().CountUserRecords("visitor"),
              IsOkAndHolds(0));

  // Idempotent: again, nothing moves; a retried event is not stored twice
  // (under the member it is a duplicate; under the visitor's id it is
  // another user's id now).
  ASSERT_OK_AND_ASSIGN(merged, Merge("visitor", "member"));
  EXPECT_EQ(merged.events_moved(), 0);
  EXPECT_FALSE(merged.profile_merged());
  v1::FeedbackResponse retried;
  ASSERT_OK(Feed({{"anon-1", "member", "a", v1::VIEW}}, &retried));
  EXPECT_EQ(retried.duplicates(), 1);
  EXPECT_THAT(Feed({{"anon-1", "visitor", "a", v1::VIEW}}),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));

  // Durable: after a restart the member still has the visitor's events.
  Start();
  ASSERT_OK_AND_ASSIGN(member, GetUser("member"));
  EXPECT_EQ(Count(member, v1::VIEW), 1);
  EXPECT_EQ(Count(member, v1::FAVORITE), 1);
  EXPECT_THAT(GetUser("visitor").status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  v1::RecommendRequest recent;
  recent.set_user_id("member");
  recent.set_scenario(v1::RECENTLY_VIEWED);
  ASSERT_OK_AND_ASSIGN(v1::RecommendResponse viewed, Recommend(recent));
  EXPECT_THAT(Ids(viewed), ElementsAre("b", "a", "d"));
}

TEST_F(SignalsTest, MergeUsersRefusesBadRequestsNamingTheField) {
  Start();
  EXPECT_THAT(Merge("", "member").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("from_user_id: must be 1..256 bytes")));
  EXPECT_THAT(Merge("visitor", "").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("to_user_id: must be 1..256 bytes")));
  EXPECT_THAT(Merge("same", "same").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("to_user_id: must differ from from_user_id")));
  // Nothing stored for an unknown visitor: OK, nothing moved.
  ASSERT_OK_AND_ASSIGN(v1::MergeUsersResponse merged,
                       Merge("nobody", "member"));
  EXPECT_EQ(merged.events_moved(), 0);
  EXPECT_THAT(GetUser("member").status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

// Cluster mode: the merge is a log entry that every node applies.
TEST(SignalsClusterTest, MergeUsersGoesThroughTheLog) {
  absl::StatusOr<std::unique_ptr<cluster::testing::NatsCluster>> nats =
      cluster::testing::NatsCluster::Start(1);
  ASSERT_OK(nats.status());
  TempDir dir;
  std::vector<TestServer> nodes;
  for (int i = 0; i < 2; ++i) {
    server::ServerConfig config = TestServerConfig(dir.Sub(absl::StrCat(i)));
    config.cluster = (*nats)->url_list();
    ASSERT_OK_AND_ASSIGN(TestServer node, StartTestServer(config));
    nodes.push_back(std::move(node));
  }
  v1::FeedbackRequest events;
  for (const char* id : {"e1", "e2"}) {
    v1::Event* e = events.add_events();
    e->set_event_id(id);
    e->set_user_id("visitor");
    e->set_item_id(id);
    e->set_type(v1::VIEW);
  }
  v1::FeedbackResponse fed;
  ASSERT_OK(FromGrpc(
      nodes[0].stub->Feedback(ContextWithDeadline().get(), events, &fed)));
  v1::MergeUsersRequest merge;
  merge.set_from_user_id("visitor");
  merge.set_to_user_id("member");
  v1::MergeUsersResponse merged;
  ASSERT_OK(FromGrpc(
      nodes[1].stub->MergeUsers(ContextWithDeadline().get(), merge, &merged)));
  EXPECT_EQ(merged.events_moved(), 2);
  // Node 0 applies the entry too (polled, bounded).
  const auto views = [&](TestServer& node, const std::string& user) {
    v1::GetUserRequest request;
    request.set_user_id(user);
    v1::UserProfile profile;
    if (!node.stub->GetUser(ContextWithDeadline().get(), request, &profile)
             .ok()) {
      return int64_t{-1};
    }
    for (const v1::EventCount& c : profile.event_counts()) {
      if (c.type() == v1::VIEW) return c.count();
    }
    return int64_t{0};
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  // Both halves: the store's batch is visible before the engine's part.
  while (
      !(views(nodes[0], "member") == 2 && views(nodes[0], "visitor") == -1) &&
      absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (TestServer& node : nodes) {
    EXPECT_EQ(views(node, "member"), 2);
    EXPECT_EQ(views(node, "visitor"), -1) << "erased";
    EXPECT_THAT(node.server->store().CountUserRecords("visitor"),
                IsOkAndHolds(0));
  }
}

}  // namespace
}  // namespace aisle::testing
