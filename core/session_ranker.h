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
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aisle::core {

// The per-candidate features of SessionOptions::ranker_weights, in order
// (computed in core/session_source.cc). "Session" features are multiplied
// by the session's freshness.
enum SessionRankerFeature {
  kRankerBlend = 0,       // the hand blend's score (SessionOptions)
  kRankerModel,           // factor-model score / best model candidate's, >= 0
  kRankerInModelTop,      // 1 if among the model's retrieved candidates
  kRankerTransLast,       // session: P(j follows the latest session item)
  kRankerTransOlder,      // session: sum of decay^k P(j follows the k-th older)
  kRankerCoLast,          // session: co-occurrence cosine with the latest item
  kRankerCoOlder,         // session: sum of decay^k cosine with the older ones
  kRankerSeeds,           // session: share of session items with either
  kRankerLogTrans,        // log(1e-3 + trans_last + trans_older)
  kRankerLogCo,           // log(1e-3 + co_last + co_older)
  kRankerLogUsers,        // log(1 + users with a positive event on j)
  kRankerLogPopularity,   // log(1 + decayed popularity)
  kRankerLogTrending,     // log(1 + trending, hours half-life)
  kRankerLogTransLast,    // log(1e-3 + trans_last)
  kRankerLogCoLast,       // log(1e-3 + co_last)
  kRankerLogModel,        // log(1e-2 + model)
  kRankerUserMainstream,  // log_users x the user's mean log_users (recent)
  kRankerTransGap,    // trans_last x log(1 + seconds since the previous event)
  kRankerLogReverse,  // log(1e-3 + P(the latest session item follows j))
  kSessionRankerFeatures
};
// Short names of the features ("blend", "model", ...), in order.
std::string_view SessionRankerFeatureName(int feature);

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

// How `aisle train` and `aisle eval` fit the weights from events
// (FitSessionRankerOnEvents, core/training.h).
inline constexpr int kDefaultSessionRankerFitSteps = 1;

struct SessionRankerTrainingOptions {
  // Step s (1..steps): each user's events in time order, the last s - 1
  // dropped; of the rest, the last is the label, the one before it is
  // posted live to an engine that replayed the others (with a factor
  // model trained on them), and the FOR_YOU request right after it gives
  // the candidates (Engine::SessionRankerRows). One engine and one ALS
  // training per step. Users with fewer than 3 events left give none.
  // 0: no fit. Default: kDefaultSessionRankerFitSteps.
  int steps = kDefaultSessionRankerFitSteps;
  // Requests per step at most (users taken in order of first event,
  // every n-th when there are more): bounds the cost on a large store.
  int max_requests = 20000;
  int count = 10;  // the request's count
  SessionRankerFitOptions fit;
};

// The key of ModelMetadata::parameters under which `aisle train` stores
// the fitted weights with the model version; the engine uses them when
// SessionOptions::ranker_weights is empty.
inline constexpr std::string_view kSessionRankerWeightsParameter =
    "session_ranker_weights";
// "w0,w1,..." with 9 significant digits (round-trips what the fit gives
// closely enough to reproduce its rankings).
std::string FormatSessionRankerWeights(std::span<const double> weights);
// The inverse; InvalidArgument unless kSessionRankerFeatures finite
// numbers.
absl::StatusOr<std::vector<double>> ParseSessionRankerWeights(
    std::string_view text);

}  // namespace aisle::core

#endif  // AISLE_CORE_SESSION_RANKER_H_
