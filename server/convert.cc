#include "server/convert.h"

#include <array>
#include <random>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace aisle::server {
namespace {

absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

constexpr std::array<std::string_view, 17> kCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

// Stable 64-bit hash (FNV-1a with a splitmix64 finaliser). Unlike
// absl::Hash it is the same in every process and build, which derived
// event ids require.
class StableHasher {
 public:
  explicit StableHasher(uint64_t seed) : h_(0xcbf29ce484222325ULL ^ seed) {}
  void Add(std::string_view bytes) {
    AddLength(bytes.size());  // length prefix: ("ab","c") != ("a","bc")
    for (unsigned char c : bytes) Mix(c);
  }
  void AddInt(uint64_t value) {
    for (int i = 0; i < 8; ++i)
      Mix(static_cast<unsigned char>(value >> (8 * i)));
  }
  uint64_t Finish() const {
    uint64_t z = h_ + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  void AddLength(uint64_t n) { AddInt(n); }
  void Mix(unsigned char c) {
    h_ ^= c;
    h_ *= 0x100000001b3ULL;
  }
  uint64_t h_;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share the canonical numbering.
  int code = static_cast<int>(status.code());
  if (code < 0 || code >= static_cast<int>(kCodeNames.size())) {
    code = static_cast<int>(grpc::StatusCode::UNKNOWN);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code),
                      std::string(status.message()));
}

std::string_view GrpcCodeName(grpc::StatusCode code) {
  int index = static_cast<int>(code);
  if (index < 0 || index >= static_cast<int>(kCodeNames.size())) {
    return "UNKNOWN";
  }
  return kCodeNames[index];
}

absl::StatusOr<core::EventType> ToCoreEventType(int value,
                                                std::string_view field) {
  if (value == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(field), ": must be set (VIEW, CLICK, ...)"));
  }
  if (value < 0 || value >= core::kNumEventTypes ||
      !v1::EventType_IsValid(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(field), ": unknown value ", value));
  }
  return static_cast<core::EventType>(value);
}

absl::StatusOr<core::Scenario> ToCoreScenario(int value,
                                              std::string_view field) {
  if (value == v1::SCENARIO_UNSPECIFIED) return core::Scenario::kForYou;
  if (value < v1::FOR_YOU || value > v1::TRENDING ||
      !v1::Scenario_IsValid(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(field), ": unknown value ", value));
  }
  return static_cast<core::Scenario>(value);
}

v1::EventType ToProtoEventType(core::EventType type) {
  return static_cast<v1::EventType>(type);
}
v1::Source ToProtoSource(core::Source source) {
  return static_cast<v1::Source>(source);
}
v1::ReasonCode ToProtoReasonCode(core::ReasonCode code) {
  return static_cast<v1::ReasonCode>(code);
}
v1::Scenario ToProtoScenario(core::Scenario scenario) {
  return static_cast<v1::Scenario>(scenario);
}

absl::StatusOr<core::Event> ToCoreEvent(const v1::Event& proto,
                                        std::string_view field) {
  absl::StatusOr<core::EventType> type =
      ToCoreEventType(proto.type(), absl::StrCat(AV(field), ".type"));
  if (!type.ok()) return type.status();
  core::Event event;
  event.event_id = proto.event_id();
  event.user_id = proto.user_id();
  event.item_id = proto.item_id();
  event.type = *type;
  event.value = proto.value();
  event.timestamp_ms = proto.timestamp_ms();
  event.recommendation_id = proto.recommendation_id();
  return event;
}

void ToProtoEvent(const core::Event& event, v1::Event* proto) {
  proto->set_event_id(event.event_id);
  proto->set_user_id(event.user_id);
  proto->set_item_id(event.item_id);
  proto->set_type(ToProtoEventType(event.type));
  proto->set_value(event.value);
  proto->set_timestamp_ms(event.timestamp_ms);
  proto->set_recommendation_id(event.recommendation_id);
}

core::Item ToCoreItem(const v1::Item& proto) {
  core::Item item;
  item.item_id = proto.item_id();
  item.title = proto.title();
  item.categories.assign(proto.categories().begin(), proto.categories().end());
  item.tags.assign(proto.tags().begin(), proto.tags().end());
  item.price = proto.price();
  item.available = proto.available();
  for (const auto& [key, value] : proto.attributes()) {
    item.attributes.emplace(key, value);
  }
  item.updated_at_ms = proto.updated_at_ms();
  return item;
}

void ToProtoItem(const core::Item& item, v1::Item* proto) {
  proto->set_item_id(item.item_id);
  proto->set_title(item.title);
  for (const std::string& c : item.categories) proto->add_categories(c);
  for (const std::string& t : item.tags) proto->add_tags(t);
  proto->set_price(item.price);
  proto->set_available(item.available);
  for (const auto& [key, value] : item.attributes) {
    (*proto->mutable_attributes())[key] = value;
  }
  proto->set_updated_at_ms(item.updated_at_ms);
}

core::Filter ToCoreFilter(const v1::Filter& proto) {
  core::Filter filter;
  filter.include_categories.assign(proto.include_categories().begin(),
                                   proto.include_categories().end());
  filter.exclude_categories.assign(proto.exclude_categories().begin(),
                                   proto.exclude_categories().end());
  filter.exclude_item_ids.assign(proto.exclude_item_ids().begin(),
                                 proto.exclude_item_ids().end());
  if (proto.has_min_price()) filter.min_price = proto.min_price();
  if (proto.has_max_price()) filter.max_price = proto.max_price();
  filter.available_only = proto.available_only();
  return filter;
}

absl::StatusOr<core::RecommendRequest> ToCoreRecommendRequest(
    const v1::RecommendRequest& proto) {
  absl::StatusOr<core::Scenario> scenario =
      ToCoreScenario(proto.scenario(), "scenario");
  if (!scenario.ok()) return scenario.status();
  core::RecommendRequest request;
  request.user_id = proto.user_id();
  request.scenario = *scenario;
  request.context_item_ids.assign(proto.context_item_ids().begin(),
                                  proto.context_item_ids().end());
  request.count = proto.count() == 0 ? 10 : proto.count();
  request.filter = ToCoreFilter(proto.filter());
  request.include_seen = proto.include_seen();
  request.diversity = proto.diversity();
  request.explain = proto.explain();
  return request;
}

void ToProtoRecommendation(const core::Recommendation& rec,
                           v1::RecommendResponse* proto) {
  proto->mutable_items()->Reserve(static_cast<int>(rec.items.size()));
  for (const core::ScoredItem& scored : rec.items) {
    v1::RecommendedItem* item = proto->add_items();
    item->set_item_id(scored.item_id);
    item->set_score(scored.score);
    item->set_source(ToProtoSource(scored.source));
    for (const core::Reason& reason : scored.reasons) {
      v1::Reason* r = item->add_reasons();
      r->set_code(ToProtoReasonCode(reason.code));
      r->set_related_item_id(reason.related_item_id);
      r->set_detail(reason.detail);
    }
  }
  proto->set_model_version(rec.model_version);
  proto->set_source(ToProtoSource(rec.source));
  proto->set_fallback(rec.fallback);
  proto->set_fallback_reason(rec.fallback_reason);
}

void ToProtoUserProfile(const core::UserProfile& profile,
                        v1::UserProfile* proto) {
  proto->set_user_id(profile.user_id);
  for (const auto& [type, count] : profile.event_counts) {
    v1::EventCount* ec = proto->add_event_counts();
    ec->set_type(ToProtoEventType(type));
    ec->set_count(count);
  }
  for (const std::string& id : profile.recent_item_ids) {
    proto->add_recent_item_ids(id);
  }
  proto->set_first_seen_ms(profile.first_seen_ms);
  proto->set_last_seen_ms(profile.last_seen_ms);
  proto->set_segment(profile.segment);
  for (const std::string& c : profile.top_categories) {
    proto->add_top_categories(c);
  }
  proto->set_has_vector(profile.has_vector);
}

void ToProtoModelMetadata(const core::ModelMetadata& metadata,
                          v1::ModelInfo* proto) {
  proto->set_version(metadata.version);
  proto->set_trained_at_ms(metadata.trained_at_ms);
  proto->set_factors(metadata.factors);
  proto->set_users(metadata.users);
  proto->set_items(metadata.items);
  proto->set_interactions(metadata.interactions);
  for (const auto& [key, value] : metadata.metrics) {
    (*proto->mutable_metrics())[key] = value;
  }
  for (const auto& [key, value] : metadata.parameters) {
    (*proto->mutable_parameters())[key] = value;
  }
}

std::string DerivedEventId(const core::Event& event) {
  // Two independently seeded 64-bit hashes: 128 bits make accidental
  // collisions (which would drop a real event as a duplicate) negligible.
  std::string out = "h1-";
  for (uint64_t seed : {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL}) {
    StableHasher h(seed);
    h.Add(event.user_id);
    h.Add(event.item_id);
    h.AddInt(static_cast<uint64_t>(event.type));
    h.AddInt(static_cast<uint64_t>(event.timestamp_ms));
    absl::StrAppend(&out, absl::Hex(h.Finish(), absl::kZeroPad16));
  }
  return out;
}

std::string NewRecommendationId(core::Scenario scenario,
                                std::string_view variant) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat("r1-", static_cast<int>(scenario), "-", AV(variant), "-",
                      absl::Hex(rng(), absl::kZeroPad16));
}

std::optional<RecommendationIdParts> ParseRecommendationId(
    std::string_view id) {
  std::vector<absl::string_view> parts = absl::StrSplit(AV(id), '-');
  if (parts.size() != 4 || parts[0] != "r1") return std::nullopt;
  int scenario = 0;
  if (!absl::SimpleAtoi(parts[1], &scenario) || scenario < 1 ||
      scenario > static_cast<int>(core::Scenario::kTrending)) {
    return std::nullopt;
  }
  if (parts[2].empty() || parts[2].size() > 64) return std::nullopt;
  for (char c : parts[2]) {
    if (!absl::ascii_isalnum(c) && c != '_') return std::nullopt;
  }
  if (parts[3].size() != 16) return std::nullopt;
  for (char c : parts[3]) {
    if (!absl::ascii_isxdigit(c)) return std::nullopt;
  }
  return RecommendationIdParts{static_cast<core::Scenario>(scenario),
                               std::string(parts[2])};
}

}  // namespace aisle::server
