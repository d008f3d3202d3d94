// Fitting SessionOptions::ranker_weights (issue 14): a linear scorer of
// the FOR_YOU candidates of a fresh session (Engine::SessionRankerRows),
// fitted as a conditional logit (softmax over each query's candidates,
// the item the user took next the label) with an L2 penalty, by Newton's
// method on standardised features. Deterministic: the same queries give
// the same weights.
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_SESSION_RANKER_H_
#define AISLE_CORE_SESSION_RANKER_H_

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "core/engine.h"

namespace aisle::core {

// One request: its candidates' features and which one the user took.
struct SessionRankerQuery {
  std::vector<std::array<double, kSessionRankerFeatures>> rows;
  int positive = -1;  // index into rows
};

struct SessionRankerFitOptions {
  // L2 penalty on the standardised weights, per query (the loss is the
  // mean negative log-likelihood over queries plus l2 / 2 * |w|^2).
  double l2 = 1e-3;
  int max_iterations = 50;
  // Bit f set: feature f is used; the others get weight 0.
  uint32_t feature_mask = (1u << kSessionRankerFeatures) - 1;
};

struct SessionRankerFit {
  std::vector<double> weights;  // kSessionRankerFeatures, on raw features
  int queries = 0;              // used (a positive among >= 2 candidates)
  int iterations = 0;
  double loss = 0;  // final mean negative log-likelihood (no penalty)
};

// Errors: InvalidArgument for l2 < 0, max_iterations < 1, a positive out
// of range, or no usable query.
absl::StatusOr<SessionRankerFit> FitSessionRanker(
    std::span<const SessionRankerQuery> queries,
    const SessionRankerFitOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_SESSION_RANKER_H_
