#include "server/validation.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::server {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000'000;  // a fixed "now" (2027)
constexpr int64_t kDay = 24LL * 3600 * 1000;

core::Event GoodEvent() {
  core::Event e;
  e.event_id = "e1";
  e.user_id = "u1";
  e.item_id = "i1";
  e.type = core::EventType::kView;
  e.timestamp_ms = kNow - 1000;
  return e;
}

struct EventCase {
  std::string name;
  void (*mutate)(core::Event*);
  // Empty: valid. Otherwise a substring of the expected message.
  std::string error;
};

class EventValidationTest : public ::testing::TestWithParam<EventCase> {};

TEST_P(EventValidationTest, Validates) {
  const EventCase& c = GetParam();
  core::Event e = GoodEvent();
  c.mutate(&e);
  absl::Status status = ValidateEvent(e, kNow, "events[3]");
  if (c.error.empty()) {
    EXPECT_OK(status);
  } else {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr(c.error)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, EventValidationTest,
    ::testing::Values(
        EventCase{"Good", [](core::Event*) {}, ""},
        EventCase{"EmptyEventIdIsFilledLater",
                  [](core::Event* e) { e->event_id.clear(); }, ""},
        EventCase{"ZeroTimestampMeansNow",
                  [](core::Event* e) { e->timestamp_ms = 0; }, ""},
        EventCase{"EmptyUser", [](core::Event* e) { e->user_id.clear(); },
                  "events[3].user_id: must be 1..256 bytes, got 0"},
        EventCase{"EmptyItem", [](core::Event* e) { e->item_id.clear(); },
                  "events[3].item_id: must be 1..256 bytes, got 0"},
        EventCase{"LongItem",
                  [](core::Event* e) { e->item_id = std::string(257, 'x'); },
                  "events[3].item_id: must be 1..256 bytes, got 257"},
        EventCase{"MaxLengthItem",
                  [](core::Event* e) { e->item_id = std::string(256, 'x'); },
                  ""},
        EventCase{"NulInUser",
                  [](core::Event* e) { e->user_id = std::string("a\0b", 3); },
                  "events[3].user_id: must not contain NUL"},
        EventCase{"ControlInEventId",
                  [](core::Event* e) { e->event_id = "a\nb"; },
                  "events[3].event_id: must not contain"},
        EventCase{"Utf8IsFine",
                  [](core::Event* e) { e->item_id = "caf\xc3\xa9"; }, ""},
        EventCase{
            "UnspecifiedType",
            [](core::Event* e) { e->type = core::EventType::kUnspecified; },
            "events[3].type: must be set"},
        EventCase{
            "UnknownType",
            [](core::Event* e) { e->type = static_cast<core::EventType>(42); },
            "events[3].type: unknown value 42"},
        EventCase{"SearchWithoutItem",
                  [](core::Event* e) {
                    e->type = core::EventType::kSearch;
                    e->item_id.clear();
                    e->query = "blue jazz";
                  },
                  ""},
        EventCase{"SearchWithoutQuery",
                  [](core::Event* e) { e->type = core::EventType::kSearch; },
                  "events[3].query: must be 1..1024 bytes for SEARCH, got 0"},
        EventCase{"LongQuery",
                  [](core::Event* e) {
                    e->type = core::EventType::kSearch;
                    e->query = std::string(1025, 'q');
                  },
                  "events[3].query: must be 1..1024 bytes"},
        EventCase{"QueryNotUtf8",
                  [](core::Event* e) {
                    e->type = core::EventType::kSearch;
                    e->query = "caf\xe9";  // Latin-1
                  },
                  "events[3].query: must be UTF-8 (bad byte at offset 3)"},
        EventCase{"OverlongUtf8",
                  [](core::Event* e) {
                    e->type = core::EventType::kSearch;
                    e->query = "a\xc0\xaf";
                  },
                  "events[3].query: must be UTF-8"},
        EventCase{"ControlInQuery",
                  [](core::Event* e) {
                    e->type = core::EventType::kSearch;
                    e->query = "a\tb";
                  },
                  "events[3].query: must not contain control characters"},
        EventCase{"QueryOnAView", [](core::Event* e) { e->query = "jazz"; },
                  "events[3].query: only SEARCH events carry a query"},
        EventCase{"NanValue", [](core::Event* e) { e->value = std::nan(""); },
                  "events[3].value: must be finite"},
        EventCase{"InfValue",
                  [](core::Event* e) {
                    e->value = std::numeric_limits<double>::infinity();
                  },
                  "events[3].value: must be finite"},
        EventCase{"RatingTooHigh",
                  [](core::Event* e) {
                    e->type = core::EventType::kRating;
                    e->value = 11;
                  },
                  "events[3].value: must be 0..10 for rating, got 11"},
        EventCase{"RatingInRange",
                  [](core::Event* e) {
                    e->type = core::EventType::kRating;
                    e->value = 4.5;
                  },
                  ""},
        EventCase{"NegativeQuantity",
                  [](core::Event* e) {
                    e->type = core::EventType::kPurchase;
                    e->value = -1;
                  },
                  "events[3].value: must be 0..10000 for purchase"},
        EventCase{"NegativeTimestamp",
                  [](core::Event* e) { e->timestamp_ms = -5; },
                  "events[3].timestamp_ms: must not be negative"},
        EventCase{"FarFuture",
                  [](core::Event* e) { e->timestamp_ms = kNow + kDay + 1; },
                  "events[3].timestamp_ms: must be at most 1 day in the "
                  "future"},
        EventCase{"JustUnderADayAhead",
                  [](core::Event* e) { e->timestamp_ms = kNow + kDay; }, ""},
        EventCase{"LongRecommendationId",
                  [](core::Event*
                         e) { e->recommendation_id = std::string(300, 'r'); },
                  "events[3].recommendation_id"}),
    [](const ::testing::TestParamInfo<EventCase>& info) {
      return info.param.name;
    });

core::Item GoodItem() {
  core::Item item;
  item.item_id = "i1";
  item.title = "Red shoes";
  item.categories = {"fashion/shoes"};
  item.tags = {"red"};
  item.price = 49.9;
  item.attributes = {{"brand", "acme"}};
  return item;
}

struct ItemCase {
  std::string name;
  void (*mutate)(core::Item*);
  std::string error;
};

class ItemValidationTest : public ::testing::TestWithParam<ItemCase> {};

TEST_P(ItemValidationTest, Validates) {
  const ItemCase& c = GetParam();
  core::Item item = GoodItem();
  c.mutate(&item);
  absl::Status status = ValidateItem(item, "items[0]");
  if (c.error.empty()) {
    EXPECT_OK(status);
  } else {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr(c.error)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ItemValidationTest,
    ::testing::Values(
        ItemCase{"Good", [](core::Item*) {}, ""},
        ItemCase{"EmptyId", [](core::Item* i) { i->item_id.clear(); },
                 "items[0].item_id: must be 1..256 bytes, got 0"},
        ItemCase{"LongTitle",
                 [](core::Item* i) { i->title = std::string(1025, 't'); },
                 "items[0].title: must be at most 1024 bytes, got 1025"},
        ItemCase{"LongCategory",
                 [](core::Item* i) { i->categories = {std::string(257, 'c')}; },
                 "items[0].categories[0]: must be 1..256 bytes"},
        ItemCase{"TooManyCategories",
                 [](core::Item* i) { i->categories.assign(101, "c"); },
                 "items[0].categories: at most 100 entries, got 101"},
        ItemCase{"EmptyTag",
                 [](core::Item* i) {
                   i->tags = {"ok", std::string()};
                 },
                 "items[0].tags[1]: must be 1..256 bytes"},
        ItemCase{"NanPrice", [](core::Item* i) { i->price = std::nan(""); },
                 "items[0].price: must be finite"},
        ItemCase{"NegativePrice", [](core::Item* i) { i->price = -1; },
                 "items[0].price: must be 0.."},
        ItemCase{"TooManyAttributes",
                 [](core::Item* i) {
                   for (int k = 0; k < 65; ++k) {
                     i->attributes.emplace(absl::StrCat("k", k), "v");
                   }
                 },
                 "items[0].attributes: at most 64 entries"},
        ItemCase{
            "EmptyAttributeKey",
            [](core::Item* i) { i->attributes.emplace(std::string(), "v"); },
            "items[0].attributes: keys must be"}),
    [](const ::testing::TestParamInfo<ItemCase>& info) {
      return info.param.name;
    });

core::RecommendRequest GoodRequest() {
  core::RecommendRequest r;
  r.user_id = "u1";
  r.count = 10;
  return r;
}

struct RequestCase {
  std::string name;
  void (*mutate)(core::RecommendRequest*);
  std::string error;
};

class RecommendValidationTest : public ::testing::TestWithParam<RequestCase> {};

TEST_P(RecommendValidationTest, Validates) {
  const RequestCase& c = GetParam();
  core::RecommendRequest r = GoodRequest();
  c.mutate(&r);
  absl::Status status = ValidateRecommendRequest(r);
  if (c.error.empty()) {
    EXPECT_OK(status);
  } else {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr(c.error)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, RecommendValidationTest,
    ::testing::Values(
        RequestCase{"Good", [](core::RecommendRequest*) {}, ""},
        RequestCase{"Anonymous",
                    [](core::RecommendRequest* r) { r->user_id.clear(); }, ""},
        RequestCase{"LongUser",
                    [](core::RecommendRequest* r) {
                      r->user_id = std::string(257, 'u');
                    },
                    "user_id: must be 1..256 bytes, got 257"},
        RequestCase{"CountZeroAfterConversionIsInvalid",
                    [](core::RecommendRequest* r) { r->count = 0; },
                    "count: must be 0..500"},
        RequestCase{"CountTooLarge",
                    [](core::RecommendRequest* r) { r->count = 501; },
                    "count: must be 0..500 (0 = 10), got 501"},
        RequestCase{"CountNegative",
                    [](core::RecommendRequest* r) { r->count = -1; },
                    "count: must be 0..500"},
        RequestCase{"CountMax",
                    [](core::RecommendRequest* r) { r->count = 500; }, ""},
        RequestCase{
            "DiversityNan",
            [](core::RecommendRequest* r) { r->diversity = std::nan(""); },
            "diversity: must be a finite number in 0..1"},
        RequestCase{"DiversityAboveOne",
                    [](core::RecommendRequest* r) { r->diversity = 1.5; },
                    "diversity"},
        RequestCase{"TooManyContextItems",
                    [](core::RecommendRequest* r) {
                      r->context_item_ids.assign(101, "i");
                    },
                    "context_item_ids: at most 100 entries, got 101"},
        RequestCase{"EmptyContextItem",
                    [](core::RecommendRequest* r) {
                      r->context_item_ids = {"i1", ""};
                    },
                    "context_item_ids[1]: must be 1..256 bytes"},
        RequestCase{"PriceInfinite",
                    [](core::RecommendRequest* r) {
                      r->filter.max_price =
                          std::numeric_limits<double>::infinity();
                    },
                    "filter.max_price: must be finite"},
        RequestCase{"MinAboveMax",
                    [](core::RecommendRequest* r) {
                      r->filter.min_price = 10;
                      r->filter.max_price = 5;
                    },
                    "filter.min_price: must be <= filter.max_price"},
        RequestCase{"TooManyIncludeCategories",
                    [](core::RecommendRequest* r) {
                      r->filter.include_categories.assign(101, "c");
                    },
                    "filter.include_categories: at most 100"},
        RequestCase{"SimilarNeedsContext",
                    [](core::RecommendRequest* r) {
                      r->scenario = core::Scenario::kSimilarItems;
                    },
                    "context_item_ids: required for scenario"},
        RequestCase{"RecentlyViewedNeedsUser",
                    [](core::RecommendRequest* r) {
                      r->scenario = core::Scenario::kRecentlyViewed;
                      r->user_id.clear();
                    },
                    "user_id: required"}),
    [](const ::testing::TestParamInfo<RequestCase>& info) {
      return info.param.name;
    });

TEST(ValidateIdTest, NamesTheField) {
  EXPECT_THAT(ValidateId("", "item_ids[7]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "item_ids[7]: must be 1..256 bytes, got 0"));
  EXPECT_THAT(
      ValidateId(std::string("x\x7f", 2), "user_id"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("user_id: must not contain NUL or control characters "
                         "(byte 0x7f at offset 1)")));
}

TEST(ValidateBatchSizeTest, Limits) {
  EXPECT_THAT(ValidateBatchSize(0, "events"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "events: must have 1..1000 entries, got 0"));
  EXPECT_OK(ValidateBatchSize(1, "events"));
  EXPECT_OK(ValidateBatchSize(1000, "events"));
  // Over the limit is malformed like any other field (INVALID_ARGUMENT),
  // not RESOURCE_EXHAUSTED, which this API keeps for overload.
  EXPECT_THAT(ValidateBatchSize(1001, "events"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "events: must have 1..1000 entries, got 1001"));
}

TEST(ValidateActivateModelTest, VersionOrRollback) {
  EXPECT_OK(ValidateActivateModel("v1", false));
  EXPECT_OK(ValidateActivateModel("v1", true));
  EXPECT_OK(ValidateActivateModel("", true));
  EXPECT_THAT(ValidateActivateModel("", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "version: required unless rollback is set"));
  EXPECT_THAT(ValidateActivateModel(std::string("v\n1"), false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("version: must not contain")));
}

// The type is checked first, so a client that sends an unknown type hears
// about it even when other fields are wrong too (the message it got when
// conversion rejected the type).
TEST(EventValidationOrderTest, TypeFirst) {
  core::Event e;
  e.type = static_cast<core::EventType>(42);
  EXPECT_THAT(ValidateEvent(e, kNow, "events[1]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "events[1].type: unknown value 42"));
  e.type = core::EventType::kUnspecified;
  EXPECT_THAT(ValidateEvent(e, kNow, "events[0]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "events[0].type: must be set (VIEW, CLICK, ...)"));
}

TEST(RecommendValidationOrderTest, ScenarioFirst) {
  core::RecommendRequest r;
  r.scenario = static_cast<core::Scenario>(9);
  r.count = 0;
  EXPECT_THAT(ValidateRecommendRequest(r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "scenario: unknown value 9"));
}

}  // namespace
}  // namespace aisle::server
