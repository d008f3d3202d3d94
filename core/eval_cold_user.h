// Offline cold-user evaluation (`aisle eval --protocol cold-user`): how
// well does FOR_YOU serve a user who gave attributes (age band, gender,
// occupation, ...) and has no events yet?
//
// Protocol, per seed: shuffle the users of the ratings file (std::mt19937_64
// seeded with the seed) and hold out `holdout` of them (10% by default)
// with all their ratings. Replay the other users' ratings into an engine
// (Engine::ReplayEvents, as a restart does) and give every user with
// attributes, held-out ones included, their attributes (UpsertUsers).
// Then, for every held-out user, Recommend FOR_YOU top k through the
// engine (no history, so the attribute source answers) and score it
// against all of the user's held-out items. Variants, on the same split:
//   popular     plain counts, no time decay, binary (as `--protocol
//               split`'s "popular"): what a new user got before
//   attributes  the engine's attribute source (core/attribute_popularity.h)
//               with EngineOptions::attributes
// Each figure is the mean over seeds; its standard error is the standard
// deviation over seeds / sqrt(seeds) (for one seed: over users).
// Since both variants serve the same held-out users, the report also
// compares them PAIRED (core/paired_comparison.h): per seed and over all
// (seed, user) pairs, the per-user difference attributes - popular of
// nDCG, precision and recall, its standard error, a paired t and a sign
// test; and how many seeds the attribute variant won. A user held out by
// two seeds counts twice in the pooled figures (with 10% hold-outs, a
// user is in about one seed in ten).
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_EVAL_COLD_USER_H_
#define AISLE_CORE_EVAL_COLD_USER_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/engine.h"
#include "core/eval.h"
#include "core/paired_comparison.h"

namespace aisle::core {

// Users' attributes by user id.
using AttributeTable =
    absl::flat_hash_map<std::string, std::map<std::string, std::string>>;

// The age band of an age in years, as MovieLens 1M bands them: "under
// 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+".
std::string AgeBand(int age);

// Reads a users file. Two layouts:
//   - MovieLens 100K u.user, "user|age|gender|occupation|zip" without a
//     header: attributes age_band (AgeBand), gender, occupation (zip is
//     left out: nearly one per user);
//   - a header line naming the columns, the first the user id, the rest
//     attribute keys, separated by tabs or commas (empty values are left
//     out): the layout of `aisle import --users`.
// Errors: NotFound if the file cannot be opened; InvalidArgument naming
// the first few malformed line numbers (wrong column count, bad age).
absl::StatusOr<AttributeTable> LoadUserAttributes(const std::string& path);

struct ColdUserOptions {
  int k = 10;
  double holdout = 0.1;  // share of users held out, (0, 1)
  std::vector<uint64_t> seeds = {1};
  EngineOptions engine;  // the attribute variant's (attributes, decay)
  // Smoothing values (AttributeOptions::smoothing) to choose from per
  // seed, on a validation draw of validation_holdout of the seed's
  // TRAINING users (same protocol, one level down); empty: no tuning,
  // engine.attributes.smoothing throughout. Default: empty.
  std::vector<double> smoothing_grid;
  double validation_holdout = 0.2;  // (0, 1)
  // false (default): every rating weighs 1, since every rated item is
  // relevant (binary weights measured better: nDCG@10 0.56 vs 0.51).
  bool rating_as_weight = false;
};

struct ColdUserVariant {
  std::string variant;  // "popular", "attributes"
  EvalReport mean;      // figures averaged over seeds
  // Standard errors of precision, recall, ndcg, map and f1 (see above).
  EvalReport standard_error;
};

// attributes (B) against popular (A) on the same users.
struct ColdUserPaired {
  uint64_t seed = 0;     // 0 in the pooled row
  double smoothing = 0;  // the attribute variant's, this seed (tuned or not)
  PairedComparison ndcg, precision, recall;
};

struct ColdUserReport {
  int k = 10;
  int64_t seeds = 0;
  int64_t users_evaluated = 0;  // held-out users per seed, summed
  int64_t users_with_attributes = 0;
  std::vector<ColdUserVariant> variants;  // popular, attributes
  std::vector<ColdUserPaired> per_seed;   // in the order of the seeds
  ColdUserPaired pooled;                  // over every (seed, user) pair
  // Seeds whose mean nDCG the attribute variant raised / lowered, and the
  // sign test over them.
  int64_t seeds_better = 0, seeds_worse = 0;
  double seeds_sign_p_value = 1;
};

// Runs the protocol. Errors: InvalidArgument for k <= 0, holdout outside
// (0, 1), no seeds, or no held-out user with attributes.
absl::StatusOr<ColdUserReport> EvaluateColdUser(std::span<const Rating> ratings,
                                                const AttributeTable& users,
                                                const ColdUserOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_EVAL_COLD_USER_H_
