#include "server/convert.h"

#include "server/validation.h"

namespace aisle::server {

core::EventType ToCoreEventType(int value) {
  return static_cast<core::EventType>(value);
}

core::Scenario ToCoreScenario(int value) {
  if (value == v1::SCENARIO_UNSPECIFIED) return core::Scenario::kForYou;
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

core::Event ToCoreEvent(const v1::Event& proto) {
  core::Event event;
  event.event_id = proto.event_id();
  event.user_id = proto.user_id();
  event.item_id = proto.item_id();
  event.type = ToCoreEventType(proto.type());
  event.value = proto.value();
  event.timestamp_ms = proto.timestamp_ms();
  event.recommendation_id = proto.recommendation_id();
  event.query = proto.query();
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
  proto->set_query(event.query);
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

core::UserAttributes ToCoreUser(const v1::User& proto) {
  core::UserAttributes user;
  user.user_id = proto.user_id();
  for (const auto& [key, value] : proto.attributes()) {
    user.attributes.emplace(key, value);
  }
  user.updated_at_ms = proto.updated_at_ms();
  return user;
}

void ToProtoUser(const core::UserAttributes& user, v1::User* proto) {
  proto->set_user_id(user.user_id);
  for (const auto& [key, value] : user.attributes) {
    (*proto->mutable_attributes())[key] = value;
  }
  proto->set_updated_at_ms(user.updated_at_ms);
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

core::RecommendRequest ToCoreRecommendRequest(
    const v1::RecommendRequest& proto) {
  core::RecommendRequest request;
  request.user_id = proto.user_id();
  request.scenario = ToCoreScenario(proto.scenario());
  request.context_item_ids.assign(proto.context_item_ids().begin(),
                                  proto.context_item_ids().end());
  request.count = proto.count() == 0 ? kDefaultCount : proto.count();
  request.filter = ToCoreFilter(proto.filter());
  request.include_seen = proto.include_seen();
  request.diversity = proto.diversity();
  request.explain = proto.explain();
  request.exploration = proto.exploration();  // unset: the caller's default
  if (proto.has_new_item_slots()) {
    request.new_item_slots = proto.new_item_slots();
  }
  return request;
}

core::RankRequest ToCoreRankRequest(const v1::RankRequest& proto) {
  core::RankRequest request;
  request.user_id = proto.user_id();
  request.item_ids.assign(proto.item_ids().begin(), proto.item_ids().end());
  request.explain = proto.explain();
  return request;
}

namespace {

void ToProtoScoredItems(
    const std::vector<core::ScoredItem>& items,
    google::protobuf::RepeatedPtrField<v1::RecommendedItem>* out) {
  out->Reserve(static_cast<int>(items.size()));
  for (const core::ScoredItem& scored : items) {
    v1::RecommendedItem* item = out->Add();
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
}

}  // namespace

void ToProtoRecommendation(const core::Recommendation& rec,
                           v1::RecommendResponse* proto) {
  ToProtoScoredItems(rec.items, proto->mutable_items());
  proto->set_model_version(rec.model_version);
  proto->set_source(ToProtoSource(rec.source));
  proto->set_fallback(rec.fallback);
  proto->set_fallback_reason(rec.fallback_reason);
}

void ToProtoRankResult(const core::RankResult& result,
                       v1::RankResponse* proto) {
  ToProtoScoredItems(result.items, proto->mutable_items());
  for (const std::string& id : result.unknown_item_ids) {
    proto->add_unknown_item_ids(id);
  }
  proto->set_model_version(result.model_version);
  proto->set_fallback(result.fallback);
  proto->set_fallback_reason(result.fallback_reason);
}

void ToProtoUserProfile(const core::UserProfile& profile,
                        v1::UserProfile* proto) {
  proto->set_user_id(profile.user_id);
  for (const auto& [key, value] : profile.attributes) {
    (*proto->mutable_attributes())[key] = value;
  }
  for (const auto& [type, count] : profile.event_counts) {
    v1::EventCount* ec = proto->add_event_counts();
    ec->set_type(ToProtoEventType(type));
    ec->set_count(count);
  }
  for (const std::string& id : profile.recent_item_ids) {
    proto->add_recent_item_ids(id);
  }
  for (const core::ProfileEvent& e : profile.recent_events) {
    v1::ProfileEvent* event = proto->add_recent_events();
    event->set_item_id(e.item_id);
    event->set_type(ToProtoEventType(e.type));
    event->set_timestamp_ms(e.timestamp_ms);
    event->set_query(e.query);
  }
  proto->set_first_seen_ms(profile.first_seen_ms);
  proto->set_last_seen_ms(profile.last_seen_ms);
  proto->set_segment(profile.segment);
  for (const std::string& c : profile.top_categories) {
    proto->add_top_categories(c);
  }
  proto->set_has_vector(profile.has_vector);
  if (profile.segment_id >= 0) proto->set_segment_id(profile.segment_id);
  proto->set_segment_label(profile.segment_label);
  for (const auto& [category, share] : profile.category_weights) {
    v1::CategoryWeight* c = proto->add_category_weights();
    c->set_category(category);
    c->set_share(share);
  }
  proto->set_price_band(profile.price_band);
  for (const core::AttributePreference& a : profile.preferred_attributes) {
    v1::AttributeWeight* w = proto->add_preferred_attributes();
    w->set_key(a.key);
    w->set_value(a.value);
    w->set_share(a.share);
  }
  proto->set_activity_level(profile.activity_level);
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

}  // namespace aisle::server
