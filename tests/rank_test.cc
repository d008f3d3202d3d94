// Rank through the real gRPC API: the caller's items come back ordered
// for the user (here by popularity: no model is loaded, and the answer
// says so), unknown items last and reported; bad requests are refused
// naming the field.
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
