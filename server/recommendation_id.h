// Recommendation ids: the server stamps every Recommend answer with one;
// clients echo it in the events that follow (Event.recommendation_id), and
// the server counts those events per scenario and variant
// (aisle_attributed_events_total, docs/metrics.md).
//
// Format: "r1-<scenario number>-<variant>-<16 hex random>", e.g.
// "r1-1-default-3fa9c1e2b7d04a11". The variant is "default" outside
// experiments.
//
// Thread safety: NewRecommendationId uses a thread-local random generator;
// ParseRecommendationId is pure.
#ifndef AISLE_SERVER_RECOMMENDATION_ID_H_
#define AISLE_SERVER_RECOMMENDATION_ID_H_

#include <optional>
#include <string>
#include <string_view>

#include "core/types.h"

namespace aisle::server {

// The only experiment variant the server issues today. Attribution counts
// only variants the server issued, so clients cannot create label series.
inline constexpr std::string_view kDefaultVariant = "default";

// REQUIRES: `variant` is 1..64 characters of [A-Za-z0-9_] (no '-').
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

#endif  // AISLE_SERVER_RECOMMENDATION_ID_H_
