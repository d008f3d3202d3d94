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
// A sequence model (core/sequence_model.h) is evaluated on the same split:
// trained on every user's training part (time order), then per evaluated
// user it scores every item after the training part plus the live item,
// the items of that sequence excluded. kBlendSequence fuses its ranking
// with the blend's by weighted reciprocal ranks.
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_EVAL_NEXT_ITEM_H_
#define AISLE_CORE_EVAL_NEXT_ITEM_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/als.h"
#include "core/engine.h"
#include "core/eval.h"
#include "core/sequence_model.h"
#include "core/session_ranker.h"

namespace aisle::core {

enum class NextItemVariant {
  kPopular,        // most popular (plain counts)
  kMarkov,         // first-order Markov: what followed the last item
  kCoOccurrence,   // recency-weighted co-occurrence of the last 5 items
  kFactorModel,    // implicit ALS alone (fold-in of the live event)
  kBlend,          // Aisle's FOR_YOU as configured (EngineOptions)
  kSequence,       // NextItemOptions::sequence_model alone
  kBlendSequence,  // kBlend and the sequence model, rank fusion
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

  // kSequence, kBlendSequence: the model, trained here (so pass a fresh
  // one); not owned.
  SequenceModel* sequence_model = nullptr;
  // Total training epochs after which to evaluate, increasing: one
  // training run, one result per entry (NextItemReport::points).
  std::vector<int> sequence_epochs = {20};
  // kBlendSequence: the sequence model's weight w, each one evaluated:
  //   fused(i) = w / (offset + rank_seq(i)) + (1 - w) / (offset +
  //   rank_blend(i))
  // ranks from 1; the blend's term is 0 for an item beyond its first
  // fusion_depth. w = 1 ranks as the sequence model, w = 0 as the blend.
  std::vector<double> fusion_weights = {0.5};
  double fusion_rank_offset = 10;
  int fusion_depth = 100;

  // kBlend: when > 0 and engine.session.ranker_weights is empty, fits the
  // session ranker's weights on the training part first, as `aisle train`
  // fits them on its events (FitSessionRankerOnEvents, core/training.h,
  // this many steps), and stores them with the model version the engine
  // serves, as `aisle train` does. 0: the hand blend. Default: as
  // `aisle train`.
  int ranker_fit_steps = kDefaultSessionRankerFitSteps;
  SessionRankerFitOptions ranker_fit;
};

// One evaluated point of a sequence variant.
struct NextItemPoint {
  int epochs = 0;
  double fusion_weight = 1;  // 1 for kSequence
  double hit_rate = 0;
  double ndcg = 0;
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
  // kSequence, kBlendSequence: one per (epochs, fusion weight), in order;
  // hit_rate and ndcg above are the last point's.
  std::vector<NextItemPoint> points;
  double sequence_train_seconds = 0;  // every Train call
  double score_ms = 0;  // mean SequenceModel::Score call (one user, all items)
  // ranker_fit_steps > 0: the fitted weights and the fit's figures.
  std::vector<double> ranker_weights;
  int ranker_queries = 0;    // fit queries with the label among candidates
  int ranker_fit_users = 0;  // fit queries in all
  double ranker_loss = 0;
  double ranker_fit_seconds = 0;
};

// Runs the protocol on `ratings`. Errors: InvalidArgument for k <= 0, no
// user with 3 ratings (4 with `validation`), a sequence variant without a
// model, sequence_epochs not increasing from >= 0, a fusion weight outside
// [0, 1], fusion_depth < 1 or fusion_rank_offset < 0; training and scoring
// errors (InstallAls, SequenceModel::Train and Score).
absl::StatusOr<NextItemReport> EvaluateNextItem(std::span<const Rating> ratings,
                                                const NextItemOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_EVAL_NEXT_ITEM_H_
