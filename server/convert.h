// Conversions between the public API (aisle.v1 protos) and the domain types
// (core/types.h), recommendation ids, and the one place where an internal
// absl::Status becomes a grpc::Status.
//
// Proto -> core conversions that can meet an unknown enum number (proto3
// enums are open) return InvalidArgument naming the field, e.g.
// "events[2].type: unknown value 42"; everything else is checked later by
// validation.h.
//
// Thread safety: pure functions, except NewRecommendationId which uses a
// thread-local random generator.
#ifndef AISLE_SERVER_CONVERT_H_
#define AISLE_SERVER_CONVERT_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aisle/v1/recommender.pb.h"
#include "core/types.h"
#include "grpcpp/support/status.h"
#include "storage/store.h"

namespace aisle::server {

// The single mapping of internal errors to gRPC: the canonical code is kept
// (absl and gRPC share the numbering) and the message is passed through.
grpc::Status ToGrpcStatus(const absl::Status& status);
// Name of a gRPC code as used in metrics labels ("OK", "INVALID_ARGUMENT").
std::string_view GrpcCodeName(grpc::StatusCode code);

// --- Enums -----------------------------------------------------------------
// Unknown numbers and UNSPECIFIED (where not allowed) yield InvalidArgument
// "<field>: ...". SCENARIO_UNSPECIFIED maps to kForYou.
absl::StatusOr<core::EventType> ToCoreEventType(int value,
                                                std::string_view field);
absl::StatusOr<core::Scenario> ToCoreScenario(int value,
                                              std::string_view field);
v1::EventType ToProtoEventType(core::EventType type);
v1::Source ToProtoSource(core::Source source);
v1::ReasonCode ToProtoReasonCode(core::ReasonCode code);
v1::Scenario ToProtoScenario(core::Scenario scenario);

// --- Messages --------------------------------------------------------------
// `field` is the path used in error messages, e.g. "events[3]".
absl::StatusOr<core::Event> ToCoreEvent(const v1::Event& proto,
                                        std::string_view field);
void ToProtoEvent(const core::Event& event, v1::Event* proto);

core::Item ToCoreItem(const v1::Item& proto);
void ToProtoItem(const core::Item& item, v1::Item* proto);

// Maps count 0 to the default (10); the scenario must be known.
absl::StatusOr<core::RecommendRequest> ToCoreRecommendRequest(
    const v1::RecommendRequest& proto);
core::Filter ToCoreFilter(const v1::Filter& proto);

// Fills items, model_version, source, fallback fields (not
// recommendation_id).
void ToProtoRecommendation(const core::Recommendation& rec,
                           v1::RecommendResponse* proto);

void ToProtoUserProfile(const core::UserProfile& profile,
                        v1::UserProfile* proto);
void ToProtoModelMetadata(const core::ModelMetadata& metadata,
                          v1::ModelInfo* proto);

// --- Event ids ---------------------------------------------------------------
// The idempotency key for an event sent without one: "h1-" + 32 hex digits
// of a hash of (user_id, item_id, type, timestamp_ms). Deterministic across
// processes and versions, so a re-sent event without an id is still a
// duplicate.
std::string DerivedEventId(const core::Event& event);

// --- Recommendation ids ------------------------------------------------------
// "r1-<scenario number>-<variant>-<16 hex random>" (see notes/metrics.md).
// `variant` must not contain '-'; "default" outside experiments.
std::string NewRecommendationId(core::Scenario scenario,
                                std::string_view variant);

struct RecommendationIdParts {
  core::Scenario scenario = core::Scenario::kForYou;
  std::string variant;
};
// nullopt for anything that is not a well-formed id of the format above
// (clients may send arbitrary strings; those are stored, not attributed).
std::optional<RecommendationIdParts> ParseRecommendationId(std::string_view id);

}  // namespace aisle::server

#endif  // AISLE_SERVER_CONVERT_H_
