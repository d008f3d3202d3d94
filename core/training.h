// Training one model version from an engine's interactions: what
// `aisle train` and `aisle serve --demo` share.
//
// TrainModelVersion takes the engine's training data, optionally trains
// once more on a per-user holdout split to measure the model (P/R/nDCG/MAP
// at 10 on the held-out items, stored in the metadata's metrics), trains on
// everything, and builds the FactorModel with its metadata (version, time,
// counts, parameters). It stores nothing: the caller stores or serves the
// result.
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_TRAINING_H_
#define AISLE_CORE_TRAINING_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/als.h"
#include "core/engine.h"
#include "core/eval.h"
#include "core/model.h"
#include "core/segments.h"
#include "core/session_ranker.h"

namespace aisle::core {

// Segments learned by default (`--segments`): the elbow of the
// within-cluster sum of squares on ML-100K (k = 2..16; docs/segments.md
// has the figures and the criterion).
inline constexpr int kDefaultSegments = 6;
// The most `--segments` accepts (a list a person reads).
inline constexpr int kMaxSegments = 256;

struct TrainingOptions {
  AlsOptions als;
  // Share of each user's interactions held out to measure the model; 0 =
  // no measurement (trains once). Default: 0.1.
  double validate_fraction = 0.1;
  // Users scored for the holdout figures (a random sample). Default: 2000.
  int validate_users = 2000;
  // Compute the training loss each iteration (costs a pass over the data).
  bool compute_loss = false;
  // Model version; empty = ModelVersion(now, als.seed).
  std::string version;
  // Added to the metadata's parameters (e.g. {"source", "demo"}).
  std::map<std::string, std::string> extra_parameters;
  // User segments learned from the final user vectors and stored with the
  // version (core/segments.h); segments.k = 0 learns none. The seed is
  // als.seed. Default k: kDefaultSegments. The figures (inertia,
  // silhouette) go into the metadata's metrics as "segments_inertia" and
  // "segments_silhouette".
  SegmentOptions segments = {.k = kDefaultSegments};
};

// A per-user random holdout of a user x item matrix.
struct HoldoutSplit {
  SparseRows train;  // same shape as the input, held-out entries gone
  std::vector<std::vector<int32_t>> held_out;  // per user: item columns
};

// Holds out floor(fraction * n) of each user's n entries (chosen with
// `seed`); users with a single entry keep it. Every input entry ends up in
// exactly one of train and held_out.
HoldoutSplit SplitHoldout(const SparseRows& rows, double fraction,
                          uint64_t seed);

// Mean ranking metrics at k over (at most max_users, sampled with `seed`)
// users that have held-out items: each user's items ranked by
// user . item score, the user's train items excluded. Sets
// *users_evaluated.
RankingScores HoldoutScores(const HoldoutSplit& split,
                            const AlsFactors& factors, int k, int max_users,
                            uint64_t seed, int64_t* users_evaluated);

// "20261125T101500Z-3f2a": the UTC time to the second and 4 hex digits
// mixed from the time, the seed and the process id, so two trainings in the
// same second get different versions.
std::string ModelVersion(absl::Time now, uint64_t seed);

// Progress of one training pass: `phase` is "validation" (the holdout
// training) or "train".
using TrainingProgress =
    std::function<void(std::string_view phase, const AlsProgress&)>;

struct TrainedModel {
  std::shared_ptr<const FactorModel> model;
  int64_t holdout_users = 0;  // users scored; 0 when not measured
  double train_seconds = 0;   // the final training pass
};

// `data` is Engine::ExportTrainingData(). InvalidArgument (with what to
// do) when it holds no interactions; otherwise the errors of
// TrainAls and FactorModel::Create.
absl::StatusOr<TrainedModel> TrainModelVersion(
    Engine::TrainingData data, const TrainingOptions& options,
    const ModelOptions& model_options,
    const TrainingProgress& progress = nullptr);

// The learned re-scoring of FOR_YOU's fresh-session candidates
// (SessionOptions::ranker_weights, core/session_ranker.h), fitted from
// the events `aisle train` reads and stored with the model version under
// kSessionRankerWeightsParameter; `aisle eval` fits it the same way on its
// training part (SessionRankerTrainingOptions: core/session_ranker.h).
struct SessionRankerTraining {
  SessionRankerFit fit;
  int requests = 0;  // requests made; fit.queries had the label
  double seconds = 0;
};

// `items` are upserted first; `events` need not be sorted. The engines
// use `engine_options` (its ranker_weights ignored) and the ALS of `als`.
// Errors: InvalidArgument for steps < 1 or max_requests < 1;
// FailedPrecondition when no request had the next item among two or more
// candidates (nothing to fit: callers keep the hand blend); those of
// TrainAls, FactorModel::Create and FitSessionRanker.
absl::StatusOr<SessionRankerTraining> FitSessionRankerOnEvents(
    std::span<const Item> items, std::span<const Event> events,
    const EngineOptions& engine_options, const AlsOptions& als,
    const SessionRankerTrainingOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_TRAINING_H_
