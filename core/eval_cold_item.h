// Offline cold-item evaluation (`aisle eval --protocol cold-item`): can
// content alone place a new item in front of the users who will want it?
//
// Protocol: a seeded shuffle holds out `holdout` of the items (of the
// ratings file) with all their ratings. Every item of the catalog file is
// upserted with its content; the other ratings are replayed (rating value
// as the weight, as `aisle eval`). For each user who rated a held-out item
// (and has a training rating, so a profile), every held-out item is ranked
// by Engine::ContentScores (the user's content profile against the item's
// content vector; ties keep the shuffled order) and scored against the
// held-out items the user rated: nDCG@k, Recall@k (RankingScores,
// core/eval.h) and AUC (the share of (rated, not rated) pairs ordered
// right, ties half). The baseline ranks the same items at random: the
// mean over `shuffles` seeded shuffles (its AUC is 0.5 in expectation).
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_EVAL_COLD_ITEM_H_
#define AISLE_CORE_EVAL_COLD_ITEM_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/engine.h"
#include "core/eval.h"
#include "core/types.h"

namespace aisle::core {

struct ColdItemOptions {
  int k = 10;
  double holdout = 0.1;  // share of the rated items held out, (0, 1)
  uint64_t seed = 42;    // the held-out items and the random baseline
  int shuffles = 20;     // random rankings averaged for the baseline
  EngineOptions engine;  // content options, event weights
};

struct ColdItemScores {
  double ndcg = 0;
  double recall = 0;
  double auc = 0;
};

struct ColdItemReport {
  int k = 10;
  ColdItemScores content;  // ranked by content alone
  ColdItemScores random;   // the random baseline
  int64_t held_out_items = 0;
  int64_t users_evaluated = 0;
  int64_t train_ratings = 0;
};

// Reads a MovieLens u.item file ("id|title (year)|date|video date|url|19
// genre flags"): categories = the genres (lower case, the names of
// MovieLens' u.genre), title without the year, attributes year=YYYY and
// decade=YYY0s. NotFound if the file cannot be opened; InvalidArgument
// naming the first malformed line.
absl::StatusOr<std::vector<Item>> LoadMovieLensItems(const std::string& path);

// Runs the protocol. Errors: InvalidArgument for k < 1, holdout outside
// (0, 1), shuffles < 1, or no user to evaluate.
absl::StatusOr<ColdItemReport> EvaluateColdItem(std::span<const Rating> ratings,
                                                std::span<const Item> items,
                                                const ColdItemOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_EVAL_COLD_ITEM_H_
