// Offline next-item evaluation (`aisle eval --protocol next-item`): does
// the engine predict what a user does next, right after an event?
//
// Protocol, per user with at least 3 ratings (time order, ties in file
// order): train on all but the last two, post the second-to-last live
// through Engine::ApplyEvents (as Feedback does: fold-in, transitions),
// then Recommend FOR_YOU top k at the time of that event (seen items
// excluded, all catalog items ranked) and score the last: HR@k (hit or
// not) and NDCG@k (1 / log2(rank + 1)). Users are evaluated in order of
// first appearance in the file, on one engine: a user's live event stays
// applied (as in production), their held-out item never is.
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_EVAL_NEXT_ITEM_H_
#define AISLE_CORE_EVAL_NEXT_ITEM_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/als.h"
#include "core/engine.h"
#include "core/eval.h"

namespace aisle::core {

enum class NextItemVariant {
  kPopular,       // most popular (plain counts)
  kMarkov,        // first-order Markov: what followed the last item
  kCoOccurrence,  // recency-weighted co-occurrence of the last 5 items
  kFactorModel,   // implicit ALS alone (fold-in of the live event)
  kBlend,         // Aisle's FOR_YOU as configured (EngineOptions)
};
std::string_view NextItemVariantName(NextItemVariant variant);

struct NextItemOptions {
  NextItemVariant variant = NextItemVariant::kBlend;
  int k = 10;
  AlsOptions als;  // kFactorModel, kBlend
  // kBlend uses these as they are; the baselines override the sources and
  // the session options they are defined by.
  EngineOptions engine;
  bool rating_as_weight = true;  // as EvalOptions
  // Drops each user's last rating first, so that the third-to-last is
  // live and the second-to-last scored: a validation split made from
  // the training part, to tune on without looking at the test items.
  bool validation = false;
};

struct NextItemReport {
  std::string variant;
  int k = 10;
  double hit_rate = 0;  // HR@k
  double ndcg = 0;      // NDCG@k
  int64_t users_evaluated = 0;
  int64_t train_ratings = 0;
  double train_seconds = 0;
  double recommend_seconds = 0;  // the live events and Recommend calls
};

// Runs the protocol on `ratings`. Errors: InvalidArgument for k <= 0 or
// no user with 3 ratings (4 with `validation`); training errors (see
// InstallAls).
absl::StatusOr<NextItemReport> EvaluateNextItem(std::span<const Rating> ratings,
                                                const NextItemOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_EVAL_NEXT_ITEM_H_
