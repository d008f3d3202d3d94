// Rank through the real gRPC API: the caller's items come back ordered
// for the user (here by popularity: no model is loaded, and the answer
// says so), unknown items last and reported; a new user with attributes
// gets the order FOR_YOU gives them (what users with matching attributes
// engage with); bad requests are refused naming the field.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_,
                         StartTestServer(TestServerConfig(dir_.Sub("data"))));
    v1::UpsertItemsRequest items;
    for (const char* id : {"a", "b", "c"}) {
      v1::Item* item = items.add_items();
      item->set_item_id(id);
      item->set_title(absl::StrCat("Item ", id));
      item->set_available(true);
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(FromGrpc(server_.stub->UpsertItems(ContextWithDeadline().get(),
                                                 items, &upserted)));
    // Popularity: c (3 purchases) > a (1 view) > b (none).
    v1::FeedbackRequest events;
    auto add = [&](const std::string& user, const std::string& item,
                   v1::EventType type) {
      v1::Event* e = events.add_events();
      e->set_user_id(user);
      e->set_item_id(item);
      e->set_type(type);
    };
    for (const char* user : {"u1", "u2", "u3"}) add(user, "c", v1::PURCHASE);
    add("u1", "a", v1::VIEW);
    v1::FeedbackResponse fed;
    ASSERT_OK(FromGrpc(
        server_.stub->Feedback(ContextWithDeadline().get(), events, &fed)));
  }

  absl::Status Rank(const v1::RankRequest& request, v1::RankResponse* out) {
    return FromGrpc(
        server_.stub->Rank(ContextWithDeadline().get(), request, out));
  }

  // Item ids in response order.
  template <typename Response>
  static std::vector<std::string> Order(const Response& response) {
    std::vector<std::string> ids;
    for (const v1::RecommendedItem& item : response.items()) {
      ids.push_back(item.item_id());
    }
    return ids;
  }

  TempDir dir_;
  TestServer server_;
};

TEST_F(RankTest, OrdersTheItemsAndKeepsUnknownOnesLast) {
  v1::RankRequest request;
  request.set_user_id("u1");
  for (const char* id : {"zzz", "b", "a", "c"}) request.add_item_ids(id);
  request.set_explain(true);
  v1::RankResponse response;
  ASSERT_OK(Rank(request, &response));
  std::vector<std::string> order;
  for (const v1::RecommendedItem& item : response.items()) {
    order.push_back(item.item_id());
  }
  EXPECT_THAT(order, ElementsAre("c", "a", "b", "zzz"));
  EXPECT_THAT(response.unknown_item_ids(), ElementsAre("zzz"));
  EXPECT_TRUE(response.fallback()) << "no model is loaded";
  EXPECT_EQ(response.fallback_reason(), "no model");
  EXPECT_GT(response.items(0).score(), response.items(1).score());
  EXPECT_EQ(response.items(0).source(), v1::SOURCE_POPULARITY);
  ASSERT_GT(response.items(0).reasons_size(), 0);
  EXPECT_EQ(response.items(3).source(), v1::SOURCE_UNSPECIFIED);
  EXPECT_EQ(response.items(3).reasons_size(), 0);
}

// Users in the north buy book items, in the south garden items (one
// item of each bought by all ten, the other by fewer); thirty users
// without attributes buy the hits, the most popular items overall.
TEST_F(RankTest, ANewUserWithAttributesIsRankedAsForYouServesThem) {
  v1::UpsertItemsRequest items;
  for (const char* id :
       {"book0", "book1", "garden0", "garden1", "hit0", "hit1"}) {
    items.add_items()->set_item_id(id);
  }
  v1::UpsertItemsResponse upserted;
  ASSERT_OK(FromGrpc(server_.stub->UpsertItems(ContextWithDeadline().get(),
                                               items, &upserted)));
  v1::UpsertUsersRequest users;
  auto attributed = [&](const std::string& id, const std::string& region) {
    v1::User* user = users.add_users();
    user->set_user_id(id);
    (*user->mutable_attributes())["region"] = region;
  };
  v1::FeedbackRequest events;
  auto buy = [&](const std::string& user, const std::string& item) {
    v1::Event* e = events.add_events();
    e->set_user_id(user);
    e->set_item_id(item);
    e->set_type(v1::PURCHASE);
  };
  for (int k = 0; k < 10; ++k) {
    attributed(absl::StrCat("n", k), "north");
    attributed(absl::StrCat("s", k), "south");
    buy(absl::StrCat("n", k), "book0");
    buy(absl::StrCat("s", k), "garden0");
    if (k < 4) buy(absl::StrCat("n", k), "book1");
    if (k < 4) buy(absl::StrCat("s", k), "garden1");
  }
  for (int k = 0; k < 30; ++k) {
    buy(absl::StrCat("p", k), "hit0");
    if (k % 2 == 0) buy(absl::StrCat("p", k), "hit1");
  }
  attributed("new-north", "north");
  attributed("new-south", "south");
  v1::UpsertUsersResponse upserted_users;
  ASSERT_OK(FromGrpc(server_.stub->UpsertUsers(ContextWithDeadline().get(),
                                               users, &upserted_users)));
  v1::FeedbackResponse fed;
  ASSERT_OK(FromGrpc(
      server_.stub->Feedback(ContextWithDeadline().get(), events, &fed)));

  const std::vector<std::string> page = {"hit0",    "garden1", "book1", "hit1",
                                         "garden0", "book0",   "nope"};
  auto rank = [&](const std::string& user) {
    v1::RankRequest request;
    request.set_user_id(user);
    for (const std::string& id : page) request.add_item_ids(id);
    request.set_explain(true);
    v1::RankResponse response;
    EXPECT_OK(Rank(request, &response));
    return response;
  };
  const v1::RankResponse north = rank("new-north");
  EXPECT_FALSE(north.fallback()) << north.fallback_reason();
  ASSERT_EQ(north.items_size(), 7);
  // Each region's own best item first; the hits, which only users without
  // attributes bought, after every attribute-scored item, by popularity.
  EXPECT_EQ(north.items(0).item_id(), "book0");
  for (int i = 0; i < 4; ++i) {
    const v1::RecommendedItem& item = north.items(i);
    EXPECT_EQ(item.source(), v1::SOURCE_ATTRIBUTES) << item.item_id();
    ASSERT_GT(item.reasons_size(), 0);
    EXPECT_EQ(item.reasons(0).code(), v1::REASON_POPULAR_WITH_SIMILAR_SHOPPERS);
    EXPECT_THAT(item.reasons(0).detail(), HasSubstr("region=north"));
  }
  EXPECT_EQ(north.items(4).item_id(), "hit0");
  EXPECT_EQ(north.items(4).source(), v1::SOURCE_POPULARITY);
  EXPECT_EQ(north.items(5).item_id(), "hit1");
  EXPECT_EQ(north.items(6).item_id(), "nope");
  const std::vector<std::string> north_order = Order(north);
  const auto at = [&](const std::string& id) {
    return std::find(north_order.begin(), north_order.end(), id) -
           north_order.begin();
  };
  EXPECT_LT(at("book0"), at("garden0"));
  EXPECT_LT(at("book1"), at("garden1"));
  const v1::RankResponse south = rank("new-south");
  EXPECT_EQ(south.items(0).item_id(), "garden0");
  EXPECT_THAT(south.items(0).reasons(0).detail(), HasSubstr("region=south"));

  // The same order as FOR_YOU's attribute items for the same user: one
  // rule and one score behind both.
  v1::RecommendRequest for_you;
  for_you.set_user_id("new-north");
  for_you.set_count(10);
  v1::RecommendResponse recommended;
  ASSERT_OK(FromGrpc(server_.stub->Recommend(ContextWithDeadline().get(),
                                             for_you, &recommended)));
  std::vector<std::string> from_attributes;
  for (const v1::RecommendedItem& item : recommended.items()) {
    if (item.source() == v1::SOURCE_ATTRIBUTES) {
      from_attributes.push_back(item.item_id());
    }
  }
  EXPECT_EQ(from_attributes, std::vector<std::string>(north_order.begin(),
                                                      north_order.begin() + 4));
}

TEST_F(RankTest, RefusesBadRequestsNamingTheField) {
  v1::RankResponse response;
  v1::RankRequest request;
  request.add_item_ids("a");
  EXPECT_THAT(
      Rank(request, &response),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user_id")));
  request.set_user_id("u1");
  request.clear_item_ids();
  EXPECT_THAT(Rank(request, &response),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("item_ids: must have 1..1000")));
  for (const char* id : {"a", "b", "a"}) request.add_item_ids(id);
  EXPECT_THAT(Rank(request, &response),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("item_ids[2]: duplicate of item_ids[0]")));
}

}  // namespace
}  // namespace aisle::testing
