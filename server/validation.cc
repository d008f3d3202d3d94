#include "server/validation.h"

#include <cmath>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/string_view.h"

namespace aisle::server {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Position of the first ASCII control character, or npos.
size_t FindControl(absl::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7F) return i;
  }
  return absl::string_view::npos;
}

// A bounded string without control characters (categories, tags).
absl::Status ValidateLabel(absl::string_view value, absl::string_view field) {
  if (value.empty() || value.size() > kMaxCategoryBytes) {
    return Invalid(field, absl::StrCat("must be 1..", kMaxCategoryBytes,
                                       " bytes, got ", value.size()));
  }
  if (size_t pos = FindControl(value); pos != absl::string_view::npos) {
    return Invalid(
        field, absl::StrCat("must not contain control characters "
                            "(byte 0x",
                            absl::Hex(static_cast<unsigned char>(value[pos]),
                                      absl::kZeroPad2),
                            " at offset ", pos, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabels(const std::vector<std::string>& values,
                            absl::string_view field) {
  if (values.size() > kMaxCategories) {
    return Invalid(field, absl::StrCat("at most ", kMaxCategories,
                                       " entries, got ", values.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    absl::Status status =
        ValidateLabel(values[i], absl::StrCat(field, "[", i, "]"));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Offset of the first byte that is not part of well-formed UTF-8 (no
// overlong forms, surrogates or code points past U+10FFFF), or npos.
size_t FindInvalidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return absl::string_view::npos;
}

// SEARCH's query: required there, refused elsewhere.
absl::Status ValidateQuery(const core::Event& e, absl::string_view field) {
  const std::string query_field = absl::StrCat(field, ".query");
  if (e.type != core::EventType::kSearch) {
    if (e.query.empty()) return absl::OkStatus();
    return Invalid(query_field, "only SEARCH events carry a query");
  }
  if (e.query.empty() || e.query.size() > kMaxQueryBytes) {
    return Invalid(query_field,
                   absl::StrCat("must be 1..", kMaxQueryBytes,
                                " bytes for SEARCH, got ", e.query.size()));
  }
  if (size_t pos = FindInvalidUtf8(e.query); pos != absl::string_view::npos) {
    return Invalid(
        query_field,
        absl::StrCat("must be UTF-8 (bad byte at offset ", pos, ")"));
  }
  if (size_t pos = FindControl(e.query); pos != absl::string_view::npos) {
    return Invalid(
        query_field,
        absl::StrCat("must not contain control characters (offset ", pos, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateFinite(double value, absl::string_view field) {
  if (!std::isfinite(value)) {
    return Invalid(field, absl::StrCat("must be finite, got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateId(std::string_view value_in, std::string_view field_in) {
  const absl::string_view value = core::ToAbsl(value_in);
  const absl::string_view field = core::ToAbsl(field_in);
  if (value.empty() || value.size() > kMaxIdBytes) {
    return Invalid(field, absl::StrCat("must be 1..", kMaxIdBytes,
                                       " bytes, got ", value.size()));
  }
  if (size_t pos = FindControl(value); pos != absl::string_view::npos) {
    return Invalid(
        field,
        absl::StrCat(
            "must not contain NUL or control characters (byte 0x",
            absl::Hex(static_cast<unsigned char>(value[pos]), absl::kZeroPad2),
            " at offset ", pos, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvent(const core::Event& e, int64_t now_ms,
                           std::string_view field_in) {
  const absl::string_view field = core::ToAbsl(field_in);
  // The type first: it is what a client most often gets wrong, and the
  // message names the number it sent.
  const int type = static_cast<int>(e.type);
  if (type <= 0 || type >= core::kNumEventTypes ||
      core::EventTypeName(e.type).empty()) {
    return Invalid(absl::StrCat(field, ".type"),
                   type == 0 ? std::string("must be set (VIEW, CLICK, ...)")
                             : absl::StrCat("unknown value ", type));
  }
  if (!e.event_id.empty()) {
    absl::Status s = ValidateId(e.event_id, absl::StrCat(field, ".event_id"));
    if (!s.ok()) return s;
  }
  absl::Status s = ValidateId(e.user_id, absl::StrCat(field, ".user_id"));
  if (!s.ok()) return s;
  // A search need not happen on an item page.
  if (e.type != core::EventType::kSearch || !e.item_id.empty()) {
    s = ValidateId(e.item_id, absl::StrCat(field, ".item_id"));
    if (!s.ok()) return s;
  }
  s = ValidateQuery(e, field);
  if (!s.ok()) return s;

  const std::string value_field = absl::StrCat(field, ".value");
  s = ValidateFinite(e.value, value_field);
  if (!s.ok()) return s;
  double max_value = -1;
  if (e.type == core::EventType::kRating) {
    max_value = kMaxRating;
  } else if (e.type == core::EventType::kPurchase ||
             e.type == core::EventType::kAddToCart) {
    max_value = kMaxQuantity;
  }
  if (max_value >= 0 && (e.value < 0 || e.value > max_value)) {
    return Invalid(value_field,
                   absl::StrCat("must be 0..", max_value, " for ",
                                core::ToAbsl(core::EventTypeName(e.type)),
                                ", got ", e.value));
  }

  const std::string ts_field = absl::StrCat(field, ".timestamp_ms");
  if (e.timestamp_ms < 0) {
    return Invalid(ts_field,
                   absl::StrCat("must not be negative, got ", e.timestamp_ms));
  }
  if (e.timestamp_ms > now_ms + kMaxFutureMs) {
    return Invalid(ts_field,
                   absl::StrCat("must be at most 1 day in the future, got ",
                                e.timestamp_ms, " (now ", now_ms, ")"));
  }
  if (e.recommendation_id.size() > kMaxIdBytes) {
    return Invalid(absl::StrCat(field, ".recommendation_id"),
                   absl::StrCat("must be at most ", kMaxIdBytes, " bytes, got ",
                                e.recommendation_id.size()));
  }
  return absl::OkStatus();
}

absl::Status ValidateItem(const core::Item& item, std::string_view field_in) {
  const absl::string_view field = core::ToAbsl(field_in);
  absl::Status s = ValidateId(item.item_id, absl::StrCat(field, ".item_id"));
  if (!s.ok()) return s;
  if (item.title.size() > kMaxTitleBytes) {
    return Invalid(absl::StrCat(field, ".title"),
                   absl::StrCat("must be at most ", kMaxTitleBytes,
                                " bytes, got ", item.title.size()));
  }
  s = ValidateLabels(item.categories, absl::StrCat(field, ".categories"));
  if (!s.ok()) return s;
  s = ValidateLabels(item.tags, absl::StrCat(field, ".tags"));
  if (!s.ok()) return s;
  const std::string price_field = absl::StrCat(field, ".price");
  s = ValidateFinite(item.price, price_field);
  if (!s.ok()) return s;
  if (item.price < 0 || item.price > kMaxPrice) {
    return Invalid(price_field, absl::StrCat("must be 0..", kMaxPrice, ", got ",
                                             item.price));
  }
  const std::string attr_field = absl::StrCat(field, ".attributes");
  if (item.attributes.size() > kMaxAttributes) {
    return Invalid(attr_field,
                   absl::StrCat("at most ", kMaxAttributes, " entries, got ",
                                item.attributes.size()));
  }
  for (const auto& [key, value] : item.attributes) {
    if (key.empty() || key.size() > kMaxAttributeBytes) {
      return Invalid(attr_field,
                     absl::StrCat("keys must be 1..", kMaxAttributeBytes,
                                  " bytes, got ", key.size()));
    }
    if (value.size() > kMaxAttributeBytes) {
      return Invalid(absl::StrCat(attr_field, "[\"", key.substr(0, 64), "\"]"),
                     absl::StrCat("must be at most ", kMaxAttributeBytes,
                                  " bytes, got ", value.size()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRecommendRequest(const core::RecommendRequest& r) {
  const int scenario = static_cast<int>(r.scenario);
  if (scenario < static_cast<int>(core::Scenario::kForYou) ||
      scenario >= core::kNumScenarios) {
    return Invalid("scenario", absl::StrCat("unknown value ", scenario));
  }
  if (!r.user_id.empty()) {
    absl::Status s = ValidateId(r.user_id, "user_id");
    if (!s.ok()) return s;
  }
  if (r.context_item_ids.size() > kMaxContextItems) {
    return Invalid("context_item_ids",
                   absl::StrCat("at most ", kMaxContextItems, " entries, got ",
                                r.context_item_ids.size()));
  }
  for (size_t i = 0; i < r.context_item_ids.size(); ++i) {
    absl::Status s = ValidateId(r.context_item_ids[i],
                                absl::StrCat("context_item_ids[", i, "]"));
    if (!s.ok()) return s;
  }
  if (r.count < 1 || r.count > kMaxCount) {
    return Invalid("count", absl::StrCat("must be 0..", kMaxCount, " (0 = ",
                                         kDefaultCount, "), got ", r.count));
  }
  if (!std::isfinite(r.diversity) || r.diversity < 0 || r.diversity > 1) {
    return Invalid("diversity", absl::StrCat("must be a finite number in "
                                             "0..1, got ",
                                             r.diversity));
  }
  if (!std::isfinite(r.exploration) || r.exploration < 0 || r.exploration > 1) {
    return Invalid("exploration", absl::StrCat("must be a finite number in "
                                               "0..1, got ",
                                               r.exploration));
  }
  if (r.new_item_slots &&
      (*r.new_item_slots < 0 || *r.new_item_slots > r.count)) {
    return Invalid("new_item_slots",
                   absl::StrCat("must be 0..count (", r.count, "), got ",
                                *r.new_item_slots));
  }
  const core::Filter& f = r.filter;
  absl::Status s =
      ValidateLabels(f.include_categories, "filter.include_categories");
  if (!s.ok()) return s;
  s = ValidateLabels(f.exclude_categories, "filter.exclude_categories");
  if (!s.ok()) return s;
  if (f.exclude_item_ids.size() > kMaxBatch) {
    return Invalid("filter.exclude_item_ids",
                   absl::StrCat("at most ", kMaxBatch, " entries, got ",
                                f.exclude_item_ids.size()));
  }
  for (size_t i = 0; i < f.exclude_item_ids.size(); ++i) {
    s = ValidateId(f.exclude_item_ids[i],
                   absl::StrCat("filter.exclude_item_ids[", i, "]"));
    if (!s.ok()) return s;
  }
  if (f.min_price.has_value()) {
    s = ValidateFinite(*f.min_price, "filter.min_price");
    if (!s.ok()) return s;
  }
  if (f.max_price.has_value()) {
    s = ValidateFinite(*f.max_price, "filter.max_price");
    if (!s.ok()) return s;
  }
  if (f.min_price.has_value() && f.max_price.has_value() &&
      *f.min_price > *f.max_price) {
    return Invalid("filter.min_price",
                   absl::StrCat("must be <= filter.max_price, got ",
                                *f.min_price, " > ", *f.max_price));
  }
  switch (r.scenario) {
    case core::Scenario::kSimilarItems:
    case core::Scenario::kFrequentlyBoughtTogether:
      if (r.context_item_ids.empty()) {
        return Invalid(
            "context_item_ids",
            absl::StrCat("required for scenario ",
                         core::ToAbsl(core::ScenarioName(r.scenario))));
      }
      break;
    case core::Scenario::kRecentlyViewed:
      if (r.user_id.empty()) {
        return Invalid("user_id", "required for scenario recently_viewed");
      }
      break;
    case core::Scenario::kForYou:
    case core::Scenario::kTrending:
    case core::Scenario::kPopular:
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateBatchSize(size_t size, std::string_view field_in) {
  if (size == 0 || size > kMaxBatch) {
    return Invalid(
        core::ToAbsl(field_in),
        absl::StrCat("must have 1..", kMaxBatch, " entries, got ", size));
  }
  return absl::OkStatus();
}

absl::Status ValidateMergeUsers(std::string_view from_user_id,
                                std::string_view to_user_id) {
  if (absl::Status s = ValidateId(from_user_id, "from_user_id"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateId(to_user_id, "to_user_id"); !s.ok()) {
    return s;
  }
  if (from_user_id == to_user_id) {
    return Invalid("to_user_id", "must differ from from_user_id");
  }
  return absl::OkStatus();
}

absl::Status ValidateRankRequest(const core::RankRequest& request) {
  if (absl::Status s = ValidateId(request.user_id, "user_id"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateBatchSize(request.item_ids.size(), "item_ids");
      !s.ok()) {
    return s;
  }
  absl::flat_hash_map<std::string_view, size_t> first;
  for (size_t i = 0; i < request.item_ids.size(); ++i) {
    const std::string field = absl::StrCat("item_ids[", i, "]");
    if (absl::Status s = ValidateId(request.item_ids[i], field); !s.ok()) {
      return s;
    }
    auto [it, inserted] = first.emplace(request.item_ids[i], i);
    if (!inserted) {
      return Invalid(field,
                     absl::StrCat("duplicate of item_ids[", it->second, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateExportSegment(int64_t segment_id, int64_t page_size) {
  if (segment_id < 0) {
    return Invalid("segment_id",
                   absl::StrCat("must be >= 0 (aisle segments lists the "
                                "ids), got ",
                                segment_id));
  }
  if (page_size < 0 || page_size > kMaxSegmentPage) {
    return Invalid("page_size", absl::StrCat("must be 0..", kMaxSegmentPage,
                                             ", got ", page_size));
  }
  return absl::OkStatus();
}

absl::Status ValidateExperimentReport(std::string_view experiment,
                                      double confidence) {
  if (!experiment.empty()) {
    if (absl::Status s = ValidateId(experiment, "experiment"); !s.ok()) {
      return s;
    }
  }
  if (confidence != 0 && !(std::isfinite(confidence) && confidence >= 0.5 &&
                           confidence <= 0.999)) {
    return Invalid(
        "confidence",
        absl::StrCat("must be 0 (= 0.95) or 0.5..0.999, got ", confidence));
  }
  return absl::OkStatus();
}

absl::Status EventIdConflict(std::string_view field,
                             std::string_view event_id) {
  return absl::AlreadyExistsError(absl::StrCat(
      core::ToAbsl(field), ".event_id: \"", core::ToAbsl(event_id),
      "\" is already the id of another user's event; an event id names one "
      "event of one user (a re-send must carry the same user_id): use ids "
      "unique across users, or leave event_id empty to have one derived"));
}

absl::Status ValidateActivateModel(std::string_view version, bool rollback) {
  if (version.empty()) {
    if (rollback) return absl::OkStatus();
    return Invalid("version", "required unless rollback is set");
  }
  return ValidateId(version, "version");
}

absl::Status ValidateUsers(std::span<const core::UserAttributes> users) {
  if (absl::Status s = ValidateBatchSize(users.size(), "users"); !s.ok()) {
    return s;
  }
  absl::flat_hash_map<absl::string_view, size_t> first;
  for (size_t i = 0; i < users.size(); ++i) {
    const core::UserAttributes& user = users[i];
    const std::string field = absl::StrCat("users[", i, "]");
    const std::string id_field = absl::StrCat(field, ".user_id");
    if (absl::Status s = ValidateId(user.user_id, id_field); !s.ok()) return s;
    auto [it, inserted] = first.emplace(core::ToAbsl(user.user_id), i);
    if (!inserted) {
      return Invalid(id_field,
                     absl::StrCat("duplicate of users[", it->second, "]"));
    }
    const std::string attr_field = absl::StrCat(field, ".attributes");
    if (user.attributes.size() > kMaxUserAttributes) {
      return Invalid(attr_field,
                     absl::StrCat("at most ", kMaxUserAttributes,
                                  " entries, got ", user.attributes.size()));
    }
    for (const auto& [key, value] : user.attributes) {
      if (key.empty() || key.size() > kMaxUserAttributeKeyBytes ||
          FindControl(key) != absl::string_view::npos) {
        return Invalid(
            attr_field,
            absl::StrCat("keys must be 1..", kMaxUserAttributeKeyBytes,
                         " bytes without control characters, got "
                         "one of ",
                         key.size(), " bytes"));
      }
      // Values are labels: 1..256 bytes without control characters.
      if (absl::Status s =
              ValidateLabel(value, absl::StrCat(attr_field, "[\"", key, "\"]"));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace aisle::server
