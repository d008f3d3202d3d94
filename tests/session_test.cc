// The session signal end to end over the real gRPC API: a Feedback event
// changes the very next FOR_YOU, with a "just viewed" reason naming the
// item, and an anonymous visitor's context items work the same way.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

// Items a..f; three shoppers each view `from` then `to` (arrival order:
// the server stamps both with the time it receives them).
void AddShoppers(TestServer& server) {
  v1::UpsertItemsRequest items;
  for (const char* id : {"a", "b", "c", "d", "e", "f"}) {
    v1::Item* item = items.add_items();
    item->set_item_id(id);
    item->set_title(absl::StrCat("Title ", id));
    item->set_available(true);
  }
  v1::UpsertItemsResponse upserted;
  ASSERT_OK(FromGrpc(
      server.stub->UpsertItems(ContextWithDeadline().get(), items, &upserted)));
  v1::FeedbackRequest feedback;
  int n = 0;
  for (const auto& [from, to] : {std::pair{"a", "b"}, std::pair{"c", "d"}}) {
    for (int u = 0; u < 3; ++u) {
      for (const char* item : {from, to}) {
        v1::Event* e = feedback.add_events();
        e->set_event_id(absl::StrCat("setup-", n++));
        e->set_user_id(absl::StrCat("shopper-", from, u));
        e->set_item_id(item);
        e->set_type(v1::VIEW);
      }
    }
  }
  v1::FeedbackResponse fed;
  ASSERT_OK(FromGrpc(
      server.stub->Feedback(ContextWithDeadline().get(), feedback, &fed)));
}

v1::RecommendResponse ForYou(TestServer& server, const std::string& user,
                             std::initializer_list<const char*> context = {}) {
  v1::RecommendRequest request;
  request.set_user_id(user);
  request.set_scenario(v1::FOR_YOU);
  request.set_count(1);
  request.set_explain(true);
  for (const char* c : context) request.add_context_item_ids(c);
  v1::RecommendResponse response;
  EXPECT_OK(FromGrpc(
      server.stub->Recommend(ContextWithDeadline().get(), request, &response)));
  return response;
}

TEST(SessionTest, FeedbackChangesTheVeryNextForYouWithAJustViewedReason) {
  TempDir data;
  ASSERT_OK_AND_ASSIGN(TestServer server,
                       StartTestServer(TestServerConfig(data.path())));
  AddShoppers(server);
  for (const auto& [viewed, next] :
       {std::pair{"c", "d"}, std::pair{"a", "b"}}) {
    v1::FeedbackRequest feedback;
    v1::Event* e = feedback.add_events();
    e->set_event_id(absl::StrCat("me-", viewed));
    e->set_user_id("me");
    e->set_item_id(viewed);
    e->set_type(v1::VIEW);
    v1::FeedbackResponse fed;
    ASSERT_OK(FromGrpc(
        server.stub->Feedback(ContextWithDeadline().get(), feedback, &fed)));
    const v1::RecommendResponse r = ForYou(server, "me");
    ASSERT_EQ(r.items_size(), 1);
    EXPECT_EQ(r.items(0).item_id(), next) << "after viewing " << viewed;
    EXPECT_EQ(r.items(0).source(), v1::SOURCE_SESSION);
    ASSERT_GE(r.items(0).reasons_size(), 1);
    EXPECT_EQ(r.items(0).reasons(0).code(), v1::REASON_JUST_VIEWED);
    EXPECT_EQ(r.items(0).reasons(0).related_item_id(), viewed);
    EXPECT_EQ(r.items(0).reasons(0).detail(),
              absl::StrCat("Because you just viewed Title ", viewed));
  }
}

TEST(SessionTest, AnonymousContextItemsActAsTheSession) {
  TempDir data;
  ASSERT_OK_AND_ASSIGN(TestServer server,
                       StartTestServer(TestServerConfig(data.path())));
  AddShoppers(server);
  for (const auto& [viewed, next] :
       {std::pair{"a", "b"}, std::pair{"c", "d"}}) {
    const v1::RecommendResponse r = ForYou(server, "", {viewed});
    ASSERT_EQ(r.items_size(), 1);
    EXPECT_EQ(r.items(0).item_id(), next);
    EXPECT_EQ(r.items(0).reasons(0).code(), v1::REASON_JUST_VIEWED);
    EXPECT_EQ(r.items(0).reasons(0).related_item_id(), viewed);
    EXPECT_FALSE(r.fallback());
  }
}

}  // namespace
}  // namespace aisle::testing
