// Conversions between the public API (aisle.v1 protos) and the domain types
// (core/types.h). Conversion only maps shapes: it applies no request rule,
// returns no errors and makes no ids; validation.h owns the rules and runs
// on the converted values.
//
// Proto3 enums are open (a client may send any number). Unknown numbers are
// carried into the core enum unchanged, so that validation.h rejects them
// naming the number sent (the core enums are int32, as the proto's). The
// API's meaning of unset fields is
// applied here: SCENARIO_UNSPECIFIED is FOR_YOU, count 0 is kDefaultCount.
//
// Thread safety: pure functions.
#ifndef AISLE_SERVER_CONVERT_H_
#define AISLE_SERVER_CONVERT_H_

#include "aisle/v1/recommender.pb.h"
#include "core/types.h"

namespace aisle::server {

// --- Enums -----------------------------------------------------------------
core::EventType ToCoreEventType(int value);
core::Scenario ToCoreScenario(int value);
v1::EventType ToProtoEventType(core::EventType type);
v1::Source ToProtoSource(core::Source source);
v1::ReasonCode ToProtoReasonCode(core::ReasonCode code);
v1::Scenario ToProtoScenario(core::Scenario scenario);

// --- Messages --------------------------------------------------------------
core::Event ToCoreEvent(const v1::Event& proto);
void ToProtoEvent(const core::Event& event, v1::Event* proto);

core::Item ToCoreItem(const v1::Item& proto);
void ToProtoItem(const core::Item& item, v1::Item* proto);
core::UserAttributes ToCoreUser(const v1::User& proto);
void ToProtoUser(const core::UserAttributes& user, v1::User* proto);

core::RecommendRequest ToCoreRecommendRequest(
    const v1::RecommendRequest& proto);
core::Filter ToCoreFilter(const v1::Filter& proto);

// Fills items, model_version, source, fallback fields (not
// recommendation_id).
void ToProtoRecommendation(const core::Recommendation& rec,
                           v1::RecommendResponse* proto);

core::RankRequest ToCoreRankRequest(const v1::RankRequest& proto);
void ToProtoRankResult(const core::RankResult& result, v1::RankResponse* proto);
void ToProtoUserProfile(const core::UserProfile& profile,
                        v1::UserProfile* proto);
void ToProtoModelMetadata(const core::ModelMetadata& metadata,
                          v1::ModelInfo* proto);

}  // namespace aisle::server

#endif  // AISLE_SERVER_CONVERT_H_
