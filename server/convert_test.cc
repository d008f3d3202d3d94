#include "server/convert.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

using ::testing::HasSubstr;

TEST(ToGrpcStatusTest, KeepsCodeAndMessage) {
  struct Case {
    absl::Status in;
    grpc::StatusCode code;
  };
  const Case cases[] = {
      {absl::OkStatus(), grpc::StatusCode::OK},
      {absl::InvalidArgumentError("events[0].item_id: bad"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("nope"), grpc::StatusCode::NOT_FOUND},
      {absl::ResourceExhaustedError("full"),
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::FailedPreconditionError("corrupt"),
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::UnavailableError("later"), grpc::StatusCode::UNAVAILABLE},
      {absl::DataLossError("lost"), grpc::StatusCode::DATA_LOSS},
      {absl::InternalError("bug"), grpc::StatusCode::INTERNAL},
  };
  for (const Case& c : cases) {
    grpc::Status out = ToGrpcStatus(c.in);
    EXPECT_EQ(out.error_code(), c.code) << c.in;
    EXPECT_EQ(out.error_message(), std::string(c.in.message()));
  }
}

TEST(GrpcCodeNameTest, Names) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::INVALID_ARGUMENT),
            "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(99)), "UNKNOWN");
}

TEST(EnumConversionTest, RejectsUnknownNumbers) {
  EXPECT_EQ(*ToCoreEventType(v1::PURCHASE, "t"), core::EventType::kPurchase);
  EXPECT_EQ(*ToCoreEventType(v1::IMPRESSION, "t"),
            core::EventType::kImpression);
  absl::StatusOr<core::EventType> unknown =
      ToCoreEventType(42, "events[1].type");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "events[1].type: unknown value 42");
  EXPECT_FALSE(ToCoreEventType(-3, "t").ok());
  EXPECT_FALSE(ToCoreEventType(0, "t").ok());

  EXPECT_EQ(*ToCoreScenario(v1::SCENARIO_UNSPECIFIED, "s"),
            core::Scenario::kForYou);
  EXPECT_EQ(*ToCoreScenario(v1::TRENDING, "s"), core::Scenario::kTrending);
  absl::StatusOr<core::Scenario> bad = ToCoreScenario(6, "scenario");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "scenario: unknown value 6");
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
  absl::StatusOr<core::Event> event = ToCoreEvent(proto, "events[0]");
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, core::EventType::kRating);
  EXPECT_EQ(event->value, 4.5);
  v1::Event back;
  ToProtoEvent(*event, &back);
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
  absl::StatusOr<core::RecommendRequest> r = ToCoreRecommendRequest(proto);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->count, 10);  // 0 means the default
  EXPECT_EQ(r->scenario, core::Scenario::kSimilarItems);
  EXPECT_EQ(r->context_item_ids, std::vector<std::string>{"i9"});
  ASSERT_TRUE(r->filter.min_price.has_value());
  EXPECT_EQ(*r->filter.min_price, 5);
  EXPECT_FALSE(r->filter.max_price.has_value());
  EXPECT_TRUE(r->filter.available_only);

  proto.set_count(-4);
  EXPECT_EQ(ToCoreRecommendRequest(proto)->count, -4);  // validation rejects
  proto.set_scenario(static_cast<v1::Scenario>(77));
  EXPECT_FALSE(ToCoreRecommendRequest(proto).ok());
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

TEST(DerivedEventIdTest, DeterministicAndFieldSensitive) {
  core::Event a;
  a.user_id = "u1";
  a.item_id = "i1";
  a.type = core::EventType::kView;
  a.timestamp_ms = 1000;
  const std::string id = DerivedEventId(a);
  EXPECT_EQ(id.size(), 3u + 32u);
  EXPECT_EQ(id.substr(0, 3), "h1-");
  EXPECT_EQ(DerivedEventId(a), id);

  std::set<std::string> ids = {id};
  core::Event b = a;
  b.user_id = "u2";
  ids.insert(DerivedEventId(b));
  b = a;
  b.item_id = "i2";
  ids.insert(DerivedEventId(b));
  b = a;
  b.type = core::EventType::kClick;
  ids.insert(DerivedEventId(b));
  b = a;
  b.timestamp_ms = 1001;
  ids.insert(DerivedEventId(b));
  // Field boundaries matter: ("u1i", "1") differs from ("u1", "i1").
  b = a;
  b.user_id = "u1i";
  b.item_id = "1";
  ids.insert(DerivedEventId(b));
  // Value and recommendation id are not part of the identity.
  b = a;
  b.value = 3;
  b.recommendation_id = "r";
  EXPECT_EQ(DerivedEventId(b), id);
  EXPECT_EQ(ids.size(), 6u);
}

TEST(RecommendationIdTest, RoundTrip) {
  for (core::Scenario s :
       {core::Scenario::kForYou, core::Scenario::kSimilarItems,
        core::Scenario::kFrequentlyBoughtTogether,
        core::Scenario::kRecentlyViewed, core::Scenario::kTrending}) {
    std::string id = NewRecommendationId(s, "default");
    EXPECT_THAT(id, ::testing::MatchesRegex("r1-[1-5]-default-[0-9a-f]{16}"));
    std::optional<RecommendationIdParts> parts = ParseRecommendationId(id);
    ASSERT_TRUE(parts.has_value()) << id;
    EXPECT_EQ(parts->scenario, s);
    EXPECT_EQ(parts->variant, "default");
  }
  EXPECT_NE(NewRecommendationId(core::Scenario::kForYou, "default"),
            NewRecommendationId(core::Scenario::kForYou, "default"));
}

TEST(RecommendationIdTest, RejectsMalformed) {
  for (const char* id :
       {"", "r1", "r1-1-default", "r2-1-default-0123456789abcdef",
        "r1-0-default-0123456789abcdef", "r1-6-default-0123456789abcdef",
        "r1-x-default-0123456789abcdef", "r1-1--0123456789abcdef",
        "r1-1-default-0123", "r1-1-default-0123456789abcdeg",
        "r1-1-a b-0123456789abcdef", "r1-1-default-0123456789abcdef-extra"}) {
    EXPECT_FALSE(ParseRecommendationId(id).has_value()) << id;
  }
}

}  // namespace
}  // namespace aisle::server
