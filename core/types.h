// Domain types shared by the engine, storage and server. Plain values: no
// gRPC, no RocksDB. The server converts aisle.v1 protos to and from these.
#ifndef AISLE_CORE_TYPES_H_
#define AISLE_CORE_TYPES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace aisle::core {

// Numbering matches aisle.v1.EventType so conversion is a cast. The
// underlying type is the proto's (an open int32 enum), so that any number a
// client sends reaches validation unchanged and is reported as sent.
enum class EventType : int32_t {
  kUnspecified = 0,
  kView = 1,
  kClick = 2,
  kAddToCart = 3,
  kRemoveFromCart = 4,
  kPurchase = 5,
  kRating = 6,
  kDislike = 7,
  kImpression = 8,
  // "Save for later" (a wishlist): intent short of the cart. Its weight is
  // EventWeights::favorite.
  kFavorite = 9,
  // A search: Event::query holds the words (item_id may be empty). The
  // words feed the user's content profile (core/content.h).
  kSearch = 10,
};
inline constexpr int kNumEventTypes = 11;

// "view", "click", "add_to_cart", ... (lower case, as in the import files);
// "" for a number below kNumEventTypes that names no type.
std::string_view EventTypeName(EventType type);
// Accepts the lower-case names above and the upper-case proto names.
// Returns nullopt for anything else (including "unspecified").
std::optional<EventType> ParseEventType(std::string_view name);

struct Event {
  std::string event_id;  // idempotency key; never empty once stored
  std::string user_id;
  std::string item_id;
  EventType type = EventType::kUnspecified;
  double value = 0;          // rating, or quantity
  int64_t timestamp_ms = 0;  // unix ms
  std::string recommendation_id;
  std::string query;  // SEARCH: what the user searched for
};

struct Item {
  std::string item_id;
  std::string title;
  std::vector<std::string> categories;  // "a/b/c" paths
  std::vector<std::string> tags;
  double price = 0;
  bool available = true;
  std::map<std::string, std::string> attributes;
  int64_t updated_at_ms = 0;
};

// A user's own attributes (UpsertUsers): age band, gender, region, ...
// free key/value strings. Keys are unique per user (a map).
struct UserAttributes {
  std::string user_id;
  std::map<std::string, std::string> attributes;
  int64_t updated_at_ms = 0;  // set by the server when stored
};

// Numbering matches aisle.v1.Scenario; int32_t as EventType's.
enum class Scenario : int32_t {
  kForYou = 1,
  kSimilarItems = 2,
  kFrequentlyBoughtTogether = 3,
  kRecentlyViewed = 4,
  kTrending = 5,
  // Bestsellers: ranked by decayed purchases (Engine::Recommend).
  kPopular = 6,
};
inline constexpr int kNumScenarios = 7;            // including 0 (unspecified)
std::string_view ScenarioName(Scenario scenario);  // "for_you", ...
std::optional<Scenario> ParseScenario(std::string_view name);

// Numbering matches aisle.v1.Source.
enum class Source : uint8_t {
  kUnspecified = 0,
  kFactorModel = 1,
  kCoOccurrence = 2,
  kPopularity = 3,
  kTrending = 4,
  kUserHistory = 5,
  kContent = 6,
  kItemSimilarity = 7,
  kSession = 8,        // the user's (or visitor's) last few items: what follows
  kPeopleLikeYou = 9,  // the nearest users by vector: what they engaged with
  // What users with the same attributes engage with (core/attribute_
  // popularity.h): a new user with attributes and no history.
  kAttributes = 10,
};
inline constexpr int kNumSources = 11;
std::string_view SourceName(Source source);  // "factor_model", ...

// Numbering matches aisle.v1.ReasonCode.
enum class ReasonCode : uint8_t {
  kUnspecified = 0,
  kMatchesYourTaste = 1,
  kBecauseYouInteracted = 2,
  kBoughtTogether = 3,
  kSimilarTo = 4,
  kPopular = 5,
  kTrending = 6,
  kRecentlyViewedByYou = 7,
  kSameCategory = 8,
  kNewUserFallback = 9,
  kJustViewed = 10,     // follows the session's related item ("just viewed")
  kPeopleLikeYou = 11,  // "People with similar taste bought ..."
  // Source kAttributes; detail names the attributes ("age_band=25-34").
  kPopularWithSimilarShoppers = 12,
  // Shares content terms (categories, tags, attributes, title words) with
  // the related item or the user's profile; detail names the terms.
  kSimilarContent = 13,
  kNewItem = 14,  // a new item (no events yet) in the slots kept for them
};

struct Reason {
  ReasonCode code = ReasonCode::kUnspecified;
  std::string related_item_id;
  std::string detail;
};

struct Filter {
  std::vector<std::string> include_categories;  // prefix match on paths
  std::vector<std::string> exclude_categories;
  std::vector<std::string> exclude_item_ids;
  std::optional<double> min_price;
  std::optional<double> max_price;
  bool available_only = false;
};

// The candidate sources FOR_YOU may use before the popularity top-up.
struct ForYouSources {
  bool factor_model = true;
  bool co_occurrence = true;
  bool content = true;
  bool session = true;  // EngineOptions::session (core/engine.h)
  // EngineOptions::people_like_you; blended only when its weight > 0, or
  // alone when factor_model is off.
  bool people_like_you = true;
  // What users with the same attributes engage with, for a user with
  // attributes and no history (Engine::UpsertUsers).
  bool attributes = true;
};

struct RecommendRequest {
  std::string user_id;  // may be empty (anonymous)
  Scenario scenario = Scenario::kForYou;
  std::vector<std::string> context_item_ids;
  int count = 10;
  Filter filter;
  bool include_seen = false;
  double diversity = 0;  // 0..1
  bool explain = false;
  // Turns FOR_YOU sources off for this request (an A/B arm); a source off
  // in EngineOptions::for_you stays off. Default: all on.
  ForYouSources sources;
  // 0..1: popularity penalty and slots for under-exposed items (see
  // Engine::Recommend). Default 0: pure relevance.
  double exploration = 0;
  // Slots of FOR_YOU and SIMILAR_ITEMS kept for new items (no events yet)
  // that match the user's or the context's content (ContentOptions).
  // nullopt: ContentOptions::new_item_slots.
  std::optional<int> new_item_slots;
  // When to give up (the caller's deadline, e.g. a gRPC call's); never
  // changes the ranking, only whether one is returned. The engine checks
  // both between stages (see Engine::Recommend). Default: no deadline, not
  // cancellable.
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;  // optional; true = the caller gave up
  // The request's time (unix ms) for the freshness of the user's session
  // (SessionOptions::fresh_half_life_seconds); 0 = the engine's clock (the
  // latest event applied). The offline evaluation sets it to replay a
  // request made right after an event; the server leaves it 0.
  int64_t now_ms = 0;
};

struct ScoredItem {
  std::string item_id;
  double score = 0;
  Source source = Source::kUnspecified;
  std::vector<Reason> reasons;  // filled only when explain was requested
};

struct Recommendation {
  std::vector<ScoredItem> items;
  std::string model_version;  // empty when no factor model is loaded
  Source source = Source::kUnspecified;
  bool fallback = false;
  std::string fallback_reason;
};

// Re-ranking of the caller's items for a user (Engine::Rank).
struct RankRequest {
  std::string user_id;
  std::vector<std::string> item_ids;  // distinct
  bool explain = false;
};

struct RankResult {
  // The known items best first, then the unknown ones (score 0, source
  // kUnspecified) in request order.
  std::vector<ScoredItem> items;
  std::vector<std::string> unknown_item_ids;  // not in the catalog
  std::string model_version;
  // No user vector, and no attribute scores (a user with attributes and
  // no history is ranked as FOR_YOU serves them): ranked by popularity.
  bool fallback = false;
  std::string fallback_reason;
};

// An item attribute value a user engages with, and its share (0..1) of
// the user's positive weight.
struct AttributePreference {
  std::string key;
  std::string value;
  double share = 0;
};

// One event of a user's timeline (UserProfile::recent_events).
struct ProfileEvent {
  std::string item_id;  // empty for a SEARCH
  EventType type = EventType::kUnspecified;
  int64_t timestamp_ms = 0;
  std::string query;  // SEARCH: what the user searched for
};

struct UserProfile {
  std::string user_id;
  std::map<EventType, int64_t> event_counts;
  std::vector<std::string> recent_item_ids;  // most recent first, <= 20
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  std::string segment;  // "new", "casual", "engaged", "loyal"
  std::vector<std::string> top_categories;
  bool has_vector = false;
  // The learned segment (core/segments.h) of the model serving; -1 when
  // there is none (no model, a model without segments, no vector yet).
  int32_t segment_id = -1;
  std::string segment_label;
  // Full category paths with their share (0..1) of the user's positive
  // weight, strongest first, at most 5.
  std::vector<std::pair<std::string, double>> category_weights;
  // "budget", "mid-range" or "premium" by the weighted median price of the
  // user's items against the model's price bands; "" when unknown.
  std::string price_band;
  // The item attribute values the user engages with most, strongest
  // first, at most 5.
  std::vector<AttributePreference> preferred_attributes;
  // The activity tier: the value `segment` has always had.
  std::string activity_level;
  // The latest events, most recent first, at most 20: the item history
  // and the kept searches (ContentOptions::max_searches), merged by time.
  std::vector<ProfileEvent> recent_events;
  // The user's own attributes (UpsertUsers); empty when none were given.
  std::map<std::string, std::string> attributes;
};

// Metadata of one trained model version.
struct ModelMetadata {
  std::string version;  // e.g. "20261125T101500Z-3f2a"
  int64_t trained_at_ms = 0;
  int factors = 0;
  int64_t users = 0;
  int64_t items = 0;
  int64_t interactions = 0;
  std::map<std::string, double> metrics;          // "ndcg@10" -> 0.48
  std::map<std::string, std::string> parameters;  // "alpha" -> "10"
};

}  // namespace aisle::core

#endif  // AISLE_CORE_TYPES_H_
