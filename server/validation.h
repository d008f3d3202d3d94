// Input validation for the public API: the one owner of every request
// rule (ids, sizes, ranges, enum values, what each scenario needs). The
// converters (convert.h) only map shapes, and the engine and the store
// trust validated input. Checks run on core types after conversion; an
// unknown proto enum number reaches them unchanged (see convert.h), so the
// message names the number the client sent.
//
// Messages name the offending field with its path and say what is
// accepted, e.g. "events[3].item_id: must be 1..256 bytes, got 0". They
// are part of the API (clients and tests match on them).
// All functions return OK or InvalidArgument, size limits included (too
// many events, items, context items, categories, excluded ids; strings too
// long): a request over a documented limit is malformed and fails the same
// way on every retry. RESOURCE_EXHAUSTED is kept for what a retry with
// backoff can cure: an overloaded server (admission.h). The limits are
// the constants below; proto/aisle/v1/recommender.proto documents each.
//
// Thread safety: pure functions.
#ifndef AISLE_SERVER_VALIDATION_H_
#define AISLE_SERVER_VALIDATION_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "core/types.h"

namespace aisle::server {

inline constexpr size_t kMaxIdBytes = 256;
inline constexpr size_t kMaxBatch = 1000;  // events, items or ids per call
inline constexpr size_t kMaxContextItems = 100;
inline constexpr int kMaxCount = 500;
inline constexpr int kDefaultCount = 10;
inline constexpr size_t kMaxCategories = 100;  // also tags
inline constexpr size_t kMaxCategoryBytes = 256;
inline constexpr size_t kMaxTitleBytes = 1024;
inline constexpr size_t kMaxQueryBytes = 1024;  // a SEARCH event's query
inline constexpr size_t kMaxAttributes = 64;
inline constexpr size_t kMaxAttributeBytes = 1024;  // key or value
inline constexpr double kMaxRating = 10;
inline constexpr double kMaxQuantity = 10000;
inline constexpr double kMaxPrice = 1e12;
inline constexpr int64_t kMaxFutureMs = 24LL * 3600 * 1000;

// An id (user, item, event): 1..256 bytes, no NUL or other ASCII control
// characters (0x00..0x1F, 0x7F). `field` is the path used in the message.
absl::Status ValidateId(std::string_view value, std::string_view field);

// A stored-to-be event. `field` is e.g. "events[3]". Checks, in order:
// type known and not UNSPECIFIED ("<field>.type: must be set (VIEW, CLICK,
// ...)" or "<field>.type: unknown value 42"); event_id empty or a valid id (the
// server fills empty ones after validation); user_id and item_id valid ids;
// value finite and 0..10 for RATING, 0..10000 for PURCHASE/ADD_TO_CART, finite
// otherwise; timestamp_ms >= 0 (0 = now) and at most 1 day after now_ms;
// recommendation_id empty or <= 256 bytes.
absl::Status ValidateEvent(const core::Event& e, int64_t now_ms,
                           std::string_view field);

// An item, `field` e.g. "items[0]": item_id valid; title <= 1024 bytes;
// <= 100 categories and tags, each 1..256 bytes without control
// characters; price finite and 0..1e12; <= 64 attributes, keys 1..1024
// bytes, values <= 1024 bytes.
absl::Status ValidateItem(const core::Item& item, std::string_view field);

// A Recommend request after conversion (count already mapped 0 -> 10 by
// the converter; this checks 1..500): scenario known ("scenario: unknown
// value 9"); user_id empty or a valid id;
// context_item_ids <= 100, each a valid id; diversity and exploration
// finite 0..1;
// filter: <= 100 categories each, valid category strings, <= 1000
// exclude_item_ids, prices finite and min <= max. SIMILAR_ITEMS and
// FREQUENTLY_BOUGHT_TOGETHER need context_item_ids; RECENTLY_VIEWED needs
// user_id.
absl::Status ValidateRecommendRequest(const core::RecommendRequest& request);

// Batch size of Feedback, UpsertItems, DeleteItems and of each
// ImportEvents message: 1..1000 entries ("events: must have 1..1000
// entries, got 0"). `field` e.g. "events".
absl::Status ValidateBatchSize(size_t size, std::string_view field);

// An event whose event_id is already the id of another user's event
// (EventsStored::conflicts): event ids are scoped to the whole store, not
// to a user, so the event is refused, never silently taken for a
// duplicate. AlreadyExists "events[3].event_id: \"e1\" is already the id
// of another user's event; ...". `field` e.g. "events[3]".
absl::Status EventIdConflict(std::string_view field, std::string_view event_id);

// Rank: user_id a valid id; item_ids 1..1000 valid ids without
// duplicates ("item_ids[4]: duplicate of item_ids[1]").
absl::Status ValidateRankRequest(const core::RankRequest& request);

// MergeUsers: from_user_id and to_user_id are ids (ValidateId) and differ
// ("to_user_id: must differ from from_user_id").
absl::Status ValidateMergeUsers(std::string_view from_user_id,
                                std::string_view to_user_id);

// ExportSegment: segment_id >= 0; page_size 0 (the default, 1000) or
// 1..10000.
inline constexpr int kMaxSegmentPage = 10000;
absl::Status ValidateExportSegment(int64_t segment_id, int64_t page_size);

// GetExperimentReport: experiment empty or a valid id; confidence 0 (the
// default, 0.95) or 0.5..0.999.
absl::Status ValidateExperimentReport(std::string_view experiment,
                                      double confidence);

// ActivateModel: `version` is required unless `rollback` is set (then an
// empty version means the previous active one); a given version must be a
// valid id.
absl::Status ValidateActivateModel(std::string_view version, bool rollback);

// UpsertUsers: 1..1000 users (ValidateBatchSize), each `field` e.g.
// "users[0]": user_id a valid id, not a duplicate of an earlier one in
// the request ("users[3].user_id: duplicate of users[1]"); at most 32
// attributes, keys 1..128 bytes and values 1..256 bytes, neither with
// control characters ("users[0].attributes[\"age\"]: must be 1..256
// bytes, got 0").
inline constexpr size_t kMaxUserAttributes = 32;
inline constexpr size_t kMaxUserAttributeKeyBytes = 128;
absl::Status ValidateUsers(std::span<const core::UserAttributes> users);

}  // namespace aisle::server

#endif  // AISLE_SERVER_VALIDATION_H_
