// Event weights and FOR_YOU blend weights as text, for configuration
// (`aisle serve --event-weights`, `--blend-weights`, the config file, and
// `aisle eval`), so that they are settings rather than code.
//
// Syntax: comma-separated `name=number` pairs; names not given keep the
// value they had (so "purchase=10" changes one weight). Whitespace around
// names and numbers is ignored. An empty text changes nothing.
//
// Thread safety: pure functions.
#ifndef AISLE_CORE_WEIGHTS_CONFIG_H_
#define AISLE_CORE_WEIGHTS_CONFIG_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/engine.h"

namespace aisle::core {

// Event weights by event type name (core/types.h, lower case): view,
// click, add_to_cart, remove_from_cart, purchase, rating (the factor a
// rating's value is multiplied by), impression, favorite. Each must be a
// finite number in -1000..1000, >= 0 except remove_from_cart (<= 0: it
// subtracts). dislike has no weight (it blocks the item): an unknown name.
// Errors: InvalidArgument naming the entry and what is wrong, e.g.
// `"purchase=x": not a number`; on error *weights is unchanged.
absl::Status ParseEventWeights(std::string_view text, EventWeights* weights);

// The inverse: every weight, in the order above ("view=1,click=2,...").
std::string FormatEventWeights(const EventWeights& weights);

// FOR_YOU blend weights: the sources blended into the factor model's
// scores (the other sources are a cascade that tops the list up, so they
// have an order, not a weight). Names: session
// (SessionOptions::blend_weight), people_like_you
// (PeopleLikeYouOptions::blend_weight). Each 0..1. Errors as
// ParseEventWeights; on error *options is unchanged.
absl::Status ParseBlendWeights(std::string_view text, EngineOptions* options);

// "session=0.9,people_like_you=0".
std::string FormatBlendWeights(const EngineOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_WEIGHTS_CONFIG_H_
