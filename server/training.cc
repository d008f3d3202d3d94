#include "server/training.h"

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/cli_data.h"

namespace aisle::server {

absl::StatusOr<TrainedModel> TrainModelVersion(
    core::Engine::TrainingData data, const TrainingOptions& options,
    const core::ModelOptions& model_options, const TrainingProgress& progress) {
  if (data.user_items.nnz() == 0) {
    return absl::InvalidArgumentError(
        "no positive interactions to train on; import events first: aisle "
        "import --data-dir DIR --events FILE");
  }
  auto reporter = [&progress](std::string_view phase) {
    return [&progress, phase](const core::AlsProgress& p) {
      if (progress) progress(phase, p);
    };
  };

  TrainedModel out;
  std::map<std::string, double> metrics;
  if (options.validate_fraction > 0) {
    cli::HoldoutSplit split = cli::SplitHoldout(
        data.user_items, options.validate_fraction, options.als.seed);
    absl::StatusOr<core::AlsFactors> factors = core::TrainAls(
        split.train, options.als, reporter("validation"), options.compute_loss);
    if (!factors.ok()) return factors.status();
    const core::RankingScores s =
        cli::HoldoutScores(split, *factors, 10, options.validate_users,
                           options.als.seed, &out.holdout_users);
    metrics["holdout_precision@10"] = s.precision;
    metrics["holdout_recall@10"] = s.recall;
    metrics["holdout_ndcg@10"] = s.ndcg;
    metrics["holdout_map@10"] = s.average_precision;
  }

  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<core::AlsFactors> factors = core::TrainAls(
      data.user_items, options.als, reporter("train"), options.compute_loss);
  if (!factors.ok()) return factors.status();
  out.train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  const absl::Time now = absl::Now();
  const core::AlsOptions& als = options.als;
  core::ModelMetadata metadata;
  metadata.version = options.version.empty() ? cli::ModelVersion(now, als.seed)
                                             : options.version;
  metadata.trained_at_ms = absl::ToUnixMillis(now);
  metadata.factors = als.factors;
  metadata.users = static_cast<int64_t>(data.user_ids.size());
  metadata.items = static_cast<int64_t>(data.item_ids.size());
  metadata.interactions = data.user_items.nnz();
  metadata.metrics = std::move(metrics);
  metadata.parameters = {
      {"factors", absl::StrCat(als.factors)},
      {"alpha", absl::StrCat(als.alpha)},
      {"regularization", absl::StrCat(als.regularization)},
      {"iterations", absl::StrCat(als.iterations)},
      {"seed", absl::StrCat(als.seed)},
      {"solver", als.solver == core::AlsSolver::kCholesky ? "cholesky" : "cg"},
      {"cg_steps", absl::StrCat(als.cg_steps)},
      {"train_seconds", absl::StrFormat("%.2f", out.train_seconds)},
  };
  if (options.validate_fraction > 0) {
    metadata.parameters["validate_fraction"] =
        absl::StrCat(options.validate_fraction);
  }
  for (const auto& [key, value] : options.extra_parameters) {
    metadata.parameters[key] = value;
  }
  absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
      core::FactorModel::Create(std::move(metadata), std::move(data.item_ids),
                                std::move(factors->items),
                                std::move(data.user_ids),
                                std::move(factors->users), model_options);
  if (!model.ok()) return model.status();
  out.model = *std::move(model);
  return out;
}

}  // namespace aisle::server
