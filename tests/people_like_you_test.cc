// "People like you" through the real gRPC API: two groups of shoppers with
// their own items; with the source's blend weight set, FOR_YOU for a
// group-0 shopper names SOURCE_PEOPLE_LIKE_YOU and its reason, and
// recommends what the shopper's group bought; with the default weight (0)
// the source is not used.
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/training.h"
#include "core/weights_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

constexpr int kGroups = 2;
constexpr int kUsersPerGroup = 20;
constexpr int kItemsPerGroup = 12;

class PeopleLikeYouTest : public ::testing::Test {
 protected:
  // A server with `blend_weights`, the groups' events and a trained model.
  void Start(const std::string& blend_weights) {
    server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
    ASSERT_OK(core::ParseBlendWeights(blend_weights, &config.engine));
    ASSERT_OK_AND_ASSIGN(server_, StartTestServer(config));
    v1::UpsertItemsRequest items;
    for (int g = 0; g < kGroups; ++g) {
      for (int i = 0; i < kItemsPerGroup; ++i) {
        v1::Item* item = items.add_items();
        item->set_item_id(absl::StrCat("g", g, "-i", i));
        item->set_available(true);
      }
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(FromGrpc(server_.stub->UpsertItems(ContextWithDeadline().get(),
                                                 items, &upserted)));
    // User u of group g buys the group's items u % 12 .. u % 12 + 5; the
    // shopper asked about ("me") bought two of group 0's.
    v1::FeedbackRequest events;
    for (int g = 0; g < kGroups; ++g) {
      for (int u = 0; u < kUsersPerGroup; ++u) {
        for (int k = 0; k < 6; ++k) {
          Add(&events, absl::StrCat("user-", g, "-", u),
              absl::StrCat("g", g, "-i", (u + k) % kItemsPerGroup));
        }
      }
    }
    Add(&events, "me", "g0-i0");
    Add(&events, "me", "g0-i1");
    v1::FeedbackResponse fed;
    ASSERT_OK(FromGrpc(
        server_.stub->Feedback(ContextWithDeadline().get(), events, &fed)));

    ASSERT_OK(TrainAndServeModel(*server_.server,
                                 SmallModelOptions("20260101T000000Z-ply")));
  }

  static void Add(v1::FeedbackRequest* request, const std::string& user,
                  const std::string& item) {
    v1::Event* e = request->add_events();
    e->set_user_id(user);
    e->set_item_id(item);
    e->set_type(v1::PURCHASE);
  }

  v1::RecommendResponse ForYou() {
    v1::RecommendRequest request;
    request.set_user_id("me");
    request.set_count(5);
    request.set_explain(true);
    v1::RecommendResponse response;
    EXPECT_OK(FromGrpc(server_.stub->Recommend(ContextWithDeadline().get(),
                                               request, &response)));
    return response;
  }

  TempDir dir_;
  TestServer server_;
};

TEST_F(PeopleLikeYouTest, BlendedWithItsWeightAndExplained) {
  Start("people_like_you=1");
  const v1::RecommendResponse response = ForYou();
  ASSERT_EQ(response.items_size(), 5);
  EXPECT_EQ(response.source(), v1::SOURCE_PEOPLE_LIKE_YOU);
  for (const v1::RecommendedItem& item : response.items()) {
    EXPECT_TRUE(item.item_id().starts_with("g0-")) << item.item_id();
    EXPECT_EQ(item.source(), v1::SOURCE_PEOPLE_LIKE_YOU) << item.item_id();
    ASSERT_GT(item.reasons_size(), 0);
    EXPECT_EQ(item.reasons(0).code(), v1::REASON_PEOPLE_LIKE_YOU);
    EXPECT_EQ(item.reasons(0).detail(),
              "People with similar taste bought this");
  }
}

TEST_F(PeopleLikeYouTest, OffByDefault) {
  Start("");
  const v1::RecommendResponse response = ForYou();
  ASSERT_EQ(response.items_size(), 5);
  for (const v1::RecommendedItem& item : response.items()) {
    EXPECT_NE(item.source(), v1::SOURCE_PEOPLE_LIKE_YOU) << item.item_id();
  }
}

}  // namespace
}  // namespace aisle::testing
