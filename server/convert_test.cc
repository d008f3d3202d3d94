#include "server/convert.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

// Conversion passes unknown numbers through (validation rejects them,
// naming the number); only the API's meaning of unset values is applied.
TEST(EnumConversionTest, KnownAndUnknownNumbers) {
  EXPECT_EQ(ToCoreEventType(v1::PURCHASE), core::EventType::kPurchase);
  EXPECT_EQ(ToCoreEventType(v1::IMPRESSION), core::EventType::kImpression);
  EXPECT_EQ(ToCoreEventType(0), core::EventType::kUnspecified);
  EXPECT_EQ(static_cast<int>(ToCoreEventType(42)), 42);
  // Unknown numbers reach validation as the client sent them.
  EXPECT_EQ(static_cast<int>(ToCoreEventType(-3)), -3);
  EXPECT_EQ(static_cast<int>(ToCoreEventType(1 << 20)), 1 << 20);

  EXPECT_EQ(ToCoreScenario(v1::SCENARIO_UNSPECIFIED), core::Scenario::kForYou);
  EXPECT_EQ(ToCoreScenario(v1::TRENDING), core::Scenario::kTrending);
  EXPECT_EQ(static_cast<int>(ToCoreScenario(6)), 6);
  EXPECT_EQ(static_cast<int>(ToCoreScenario(-1)), -1);
}

TEST(EventConversionTest, RoundTrip) {
  v1::Event proto;
  proto.set_event_id("e1");
  proto.set_user_id("u1");
  proto.set_item_id("i1");
  proto.set_type(v1::RATING);
  proto.set_value(4.5);
  proto.set_timestamp_ms(1234);
  proto.set_recommendation_id("r1-1-default-0123456789abcdef");
  const core::Event event = ToCoreEvent(proto);
  EXPECT_EQ(event.type, core::EventType::kRating);
  EXPECT_EQ(event.value, 4.5);
  v1::Event back;
  ToProtoEvent(event, &back);
  EXPECT_EQ(back.SerializeAsString(), proto.SerializeAsString());
}

TEST(ItemConversionTest, RoundTrip) {
  v1::Item proto;
  proto.set_item_id("i1");
  proto.set_title("Red shoes");
  proto.add_categories("fashion/shoes");
  proto.add_tags("red");
  proto.set_price(49.9);
  proto.set_available(true);
  (*proto.mutable_attributes())["brand"] = "acme";
  proto.set_updated_at_ms(99);
  core::Item item = ToCoreItem(proto);
  EXPECT_EQ(item.categories, std::vector<std::string>{"fashion/shoes"});
  EXPECT_EQ(item.attributes.at("brand"), "acme");
  v1::Item back;
  ToProtoItem(item, &back);
  EXPECT_EQ(back.item_id(), "i1");
  EXPECT_EQ(back.title(), "Red shoes");
  EXPECT_EQ(back.price(), 49.9);
  EXPECT_TRUE(back.available());
  EXPECT_EQ(back.attributes().at("brand"), "acme");
  EXPECT_EQ(back.updated_at_ms(), 99);
}

TEST(RecommendRequestConversionTest, DefaultsAndFilter) {
  v1::RecommendRequest proto;
  proto.set_user_id("u1");
  proto.set_scenario(v1::SIMILAR_ITEMS);
  proto.add_context_item_ids("i9");
  proto.mutable_filter()->set_min_price(5);
  proto.mutable_filter()->add_include_categories("fashion");
  proto.mutable_filter()->set_available_only(true);
  const core::RecommendRequest r = ToCoreRecommendRequest(proto);
  EXPECT_EQ(r.count, 10);  // 0 means the default
  EXPECT_EQ(r.scenario, core::Scenario::kSimilarItems);
  EXPECT_EQ(r.context_item_ids, std::vector<std::string>{"i9"});
  ASSERT_TRUE(r.filter.min_price.has_value());
  EXPECT_EQ(*r.filter.min_price, 5);
  EXPECT_FALSE(r.filter.max_price.has_value());
  EXPECT_TRUE(r.filter.available_only);

  proto.set_count(-4);
  EXPECT_EQ(ToCoreRecommendRequest(proto).count, -4);  // validation rejects
  proto.set_scenario(static_cast<v1::Scenario>(77));
  EXPECT_EQ(static_cast<int>(ToCoreRecommendRequest(proto).scenario), 77);
}

TEST(RecommendationConversionTest, FillsResponse) {
  core::Recommendation rec;
  rec.items.push_back({"i1",
                       0.9,
                       core::Source::kFactorModel,
                       {{core::ReasonCode::kSimilarTo, "i7", "Similar to X"}}});
  rec.items.push_back({"i2", 0.5, core::Source::kPopularity, {}});
  rec.model_version = "v1";
  rec.source = core::Source::kFactorModel;
  rec.fallback = true;
  rec.fallback_reason = "unknown user";
  v1::RecommendResponse proto;
  ToProtoRecommendation(rec, &proto);
  ASSERT_EQ(proto.items_size(), 2);
  EXPECT_EQ(proto.items(0).item_id(), "i1");
  EXPECT_EQ(proto.items(0).source(), v1::SOURCE_FACTOR_MODEL);
  ASSERT_EQ(proto.items(0).reasons_size(), 1);
  EXPECT_EQ(proto.items(0).reasons(0).code(), v1::REASON_SIMILAR_TO);
  EXPECT_EQ(proto.items(0).reasons(0).related_item_id(), "i7");
  EXPECT_EQ(proto.items(1).source(), v1::SOURCE_POPULARITY);
  EXPECT_EQ(proto.model_version(), "v1");
  EXPECT_TRUE(proto.fallback());
  EXPECT_EQ(proto.fallback_reason(), "unknown user");
}

TEST(UserProfileConversionTest, Counts) {
  core::UserProfile profile;
  profile.user_id = "u1";
  profile.event_counts = {{core::EventType::kView, 3},
                          {core::EventType::kPurchase, 1}};
  profile.recent_item_ids = {"i2", "i1"};
  profile.segment = "casual";
  profile.has_vector = true;
  v1::UserProfile proto;
  ToProtoUserProfile(profile, &proto);
  ASSERT_EQ(proto.event_counts_size(), 2);
  EXPECT_EQ(proto.event_counts(0).type(), v1::VIEW);
  EXPECT_EQ(proto.event_counts(0).count(), 3);
  EXPECT_EQ(proto.event_counts(1).type(), v1::PURCHASE);
  EXPECT_EQ(proto.recent_item_ids(0), "i2");
  EXPECT_EQ(proto.segment(), "casual");
  EXPECT_TRUE(proto.has_vector());
}

}  // namespace
}  // namespace aisle::server
