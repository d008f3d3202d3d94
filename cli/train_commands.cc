// `aisle train` (a factor model from a data directory's events, stored
// directly or handed to a running server through its model inbox) and
// `aisle eval` (offline metrics on a train/test split).

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "cli/cluster_training.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/eval_cold_item.h"
#include "cli/eval_cold_user.h"
#include "cli/eval_next_item.h"
#include "cli/flags.h"
#include "cli/model_delivery.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/als.h"
#include "core/clock.h"
#include "core/engine.h"
#include "core/eval.h"
#include "core/model.h"
#include "core/training.h"
#include "core/weights_config.h"
#include "server/model_manager.h"
#include "storage/store.h"

namespace aisle::cli {

// --- Train -------------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

// `kept_items` and `kept_events`, when not null, get a copy of what was
// read (for fitting the session ranker).
absl::Status LoadEngine(const storage::Store& store, core::Engine* engine,
                        int64_t* items, int64_t* events,
                        std::vector<core::Item>* kept_items = nullptr,
                        std::vector<core::Event>* kept_events = nullptr) {
  absl::Status s = store.ScanItems([&](std::span<const core::Item> batch) {
    engine->UpsertItems(batch);
    if (kept_items != nullptr) {
      kept_items->insert(kept_items->end(), batch.begin(), batch.end());
    }
    *items += static_cast<int64_t>(batch.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  ProgressLine progress("loading", 0);
  s = store.ScanEvents([&](std::span<const core::Event> batch) {
    engine->ReplayEvents(batch);
    if (kept_events != nullptr) {
      kept_events->insert(kept_events->end(), batch.begin(), batch.end());
    }
    *events += static_cast<int64_t>(batch.size());
    progress.Update(0, *events);
    return absl::OkStatus();
  });
  progress.Finish();
  return s;
}

absl::StatusOr<std::string> ParseSolver(std::string_view name,
                                        core::AlsSolver* solver) {
  if (name == "cg") {
    *solver = core::AlsSolver::kConjugateGradient;
  } else if (name == "cholesky") {
    *solver = core::AlsSolver::kCholesky;
  } else {
    return absl::InvalidArgumentError(
        Cat("--solver: '", name, "' is not cg or cholesky"));
  }
  return std::string(name);
}

struct TrainFlags {
  core::AlsOptions als;
  std::string solver = "cg";
  double alpha = 1.0;
  double reg = 40.0;
};

void RegisterAlsFlags(FlagParser& parser, TrainFlags* f) {
  parser.Int("factors", &f->als.factors, "latent dimension");
  parser.Double("alpha", &f->alpha, "confidence scale c = 1 + alpha * r");
  parser.Double("reg", &f->reg, "L2 regularization");
  parser.Int("iterations", &f->als.iterations, "ALS iterations");
  parser.String("solver", &f->solver, "cg or cholesky");
  parser.Int("cg-steps", &f->als.cg_steps, "CG steps per solve (solver cg)");
  parser.Int("threads", &f->als.threads, "training threads; 0 = all cores");
}

// Completes `f->als` from the flag values; usage error text on failure.
absl::Status FinishAlsFlags(TrainFlags* f, int64_t seed) {
  f->als.alpha = static_cast<float>(f->alpha);
  f->als.regularization = static_cast<float>(f->reg);
  f->als.seed = static_cast<uint64_t>(seed);
  if (absl::StatusOr<std::string> s = ParseSolver(f->solver, &f->als.solver);
      !s.ok()) {
    return s.status();
  }
  if (f->als.factors < 1 || f->als.factors > 1024) {
    return absl::InvalidArgumentError("--factors: must be 1..1024");
  }
  if (f->als.iterations < 1) {
    return absl::InvalidArgumentError("--iterations: must be >= 1");
  }
  if (f->alpha <= 0) return absl::InvalidArgumentError("--alpha: must be > 0");
  if (f->reg < 0) return absl::InvalidArgumentError("--reg: must be >= 0");
  if (f->als.cg_steps < 1) {
    return absl::InvalidArgumentError("--cg-steps: must be >= 1");
  }
  if (f->als.threads < 0) {
    return absl::InvalidArgumentError("--threads: must be >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

int RunTrain(const Args& args) {
  std::string data_dir;
  TrainFlags train;
  int64_t seed = 42;
  bool activate = true;
  bool loss = false;
  double validate_fraction = 0.1;
  int validate_users = 2000;
  std::string version;
  int segments = core::kDefaultSegments;
  int ranker_fit_steps = core::kDefaultSessionRankerFitSteps;
  FlagParser parser(
      "aisle train --data-dir DIR [flags]",
      "Trains an implicit-ALS factor model from the events stored in DIR and "
      "stores it as a new model version.\n"
      "If no server is running on DIR the model is stored and (with "
      "--activate) made active directly; the next `aisle serve` loads it.\n"
      "If a server is running on DIR, the store is read read-only and the "
      "model is written to DIR/model-inbox/<version>.model, which the server "
      "validates, stores and activates at its next model poll "
      "(--model-poll-interval).\n"
      "With --cluster the events come from the cluster's log instead: DIR "
      "is this command's own cache of it (kept between runs, only the "
      "log's tail is applied), and the model is published to the "
      "cluster's model bucket and activated through the log, so every node "
      "switches at the same position (docs/cluster.md).");
  parser.String("data-dir", &data_dir, "data directory (required)");
  ClusterFlags cluster;
  cluster.Register(parser);
  RegisterAlsFlags(parser, &train);
  parser.Int("seed", &seed, "random seed (initial factors, holdout split)");
  parser.Bool("activate", &activate,
              "make the new version active (--no-activate stores only)");
  parser.Bool("loss", &loss, "compute the training loss each iteration");
  parser.Double("validate-fraction", &validate_fraction,
                "hold out this fraction of each user's interactions, report "
                "holdout P/R/nDCG@10 and store them in the model metadata "
                "(trains twice); 0 = off");
  parser.Int("validate-users", &validate_users,
             "users scored for the holdout metrics (a random sample)");
  parser.String("version", &version,
                "version string (default: <UTC time>-<4 hex>)");
  parser.Int("segments", &segments,
             Cat("user segments to learn (k-means on the user vectors, "
                 "stored with the version; `aisle segments` lists them); "
                 "0 = none (default ",
                 core::kDefaultSegments, ")"));
  parser.Int("session-ranker-fit-steps", &ranker_fit_steps,
             Cat("fit the learned re-scoring of a fresh session's FOR_YOU "
                 "candidates on this many next-item steps of the events "
                 "(one engine replay and ALS training each) and store its "
                 "weights with the version, which the server then uses "
                 "unless --session-ranker-weights is given; 0 = none (the "
                 "hand blend); not with --cluster (default ",
                 core::kDefaultSessionRankerFitSteps, ")"));
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (data_dir.empty()) return UsageError(parser, "--data-dir is required");
  if (ranker_fit_steps < 0 || ranker_fit_steps > 20) {
    return UsageError(parser, "--session-ranker-fit-steps: must be 0..20");
  }
  if (absl::Status s = FinishAlsFlags(&train, seed); !s.ok()) {
    return UsageError(parser, s.message());
  }
  if (validate_fraction < 0 || validate_fraction >= 1) {
    return UsageError(parser, "--validate-fraction: must be in [0, 1)");
  }
  if (validate_users < 1) {
    return UsageError(parser, "--validate-users: must be >= 1");
  }
  if (segments < 0 || segments > core::kMaxSegments) {
    return UsageError(parser,
                      Cat("--segments: must be 0..", core::kMaxSegments));
  }
  const auto start = core::SteadyClock::now();
  bool server_running = false;
  StoreOrError store = absl::FailedPreconditionError("no store");
  std::unique_ptr<ClusterFollower> follower;
  int64_t items = 0;
  int64_t events = 0;
  core::Engine::TrainingData data;
  std::vector<core::Item> ranker_items;
  std::vector<core::Event> ranker_events;
  if (cluster.enabled()) {
    // The training data is the cluster's log, applied by a follower.
    follower = StartFollowerOrReport(cluster, data_dir);
    if (follower == nullptr) return kExitFailure;
    const core::EngineStats stats = follower->engine().Stats();
    items = stats.items;
    events = stats.events;
    std::cerr << absl::StrFormat(
        "applied the cluster's log up to position %d in %.1fs (cache %s)\n",
        follower->position(), follower->catch_up_seconds(), data_dir);
    data = follower->engine().ExportTrainingData();
  } else {
    if (!fs::is_directory(data_dir)) {
      PrintError(Cat("no data dir ", data_dir),
                 "import events first: aisle import --data-dir DIR --events "
                 "FILE");
      return kExitFailure;
    }

    store = OpenBesideServer(
        [&](bool read_only) {
          storage::StoreOptions store_options;
          store_options.data_dir = data_dir;
          store_options.read_only = read_only;
          return storage::Store::Open(store_options);
        },
        &server_running);
    if (!store.ok()) {
      PrintError(store.status().message());
      return kExitFailure;
    }
    if (server_running) {
      std::cerr << "a server holds " << data_dir
                << ": reading it read-only; the model will go to its "
                   "model-inbox\n";
    }
    core::Engine engine{core::EngineOptions{}};
    const bool keep = ranker_fit_steps > 0;
    if (absl::Status s = LoadEngine(**store, &engine, &items, &events,
                                    keep ? &ranker_items : nullptr,
                                    keep ? &ranker_events : nullptr);
        !s.ok()) {
      PrintError(Cat("reading ", data_dir, ": ", s.message()));
      return kExitFailure;
    }
    data = engine.ExportTrainingData();
  }
  std::cerr << absl::StrFormat(
      "loaded %s items, %s events: %s users x %s items, %s interactions "
      "(%.1fs)\n",
      FormatCount(items), FormatCount(events),
      FormatCount(static_cast<int64_t>(data.user_ids.size())),
      FormatCount(static_cast<int64_t>(data.item_ids.size())),
      FormatCount(data.user_items.nnz()), core::SecondsSince(start));
  if (data.user_items.nnz() == 0) {
    PrintError(Cat("no positive interactions in ", data_dir, " to train on"),
               "import events first: aisle import --data-dir DIR --events "
               "FILE");
    return kExitFailure;
  }

  core::TrainingOptions options;
  options.als = train.als;
  options.validate_fraction = validate_fraction;
  options.validate_users = validate_users;
  options.compute_loss = loss;
  options.version = version;
  options.segments.k = segments;
  if (!ranker_events.empty()) {
    // The session ranker's weights, stored with the version
    // (core::kSessionRankerWeightsParameter): the engine's FOR_YOU uses
    // them for a fresh session. With too few sequences to fit, none.
    core::SessionRankerTrainingOptions ranker;
    ranker.steps = ranker_fit_steps;
    absl::StatusOr<core::SessionRankerTraining> fit =
        core::FitSessionRankerOnEvents(ranker_items, ranker_events,
                                       core::EngineOptions{}, train.als,
                                       ranker);
    if (fit.ok()) {
      options
          .extra_parameters[std::string(core::kSessionRankerWeightsParameter)] =
          core::FormatSessionRankerWeights(fit->fit.weights);
      std::cerr << absl::StrFormat(
          "session ranker: %d steps, %d of %d requests with the next item "
          "among the candidates, loss %.4f (%.1fs)\n",
          ranker.steps, fit->fit.queries, fit->requests, fit->fit.loss,
          fit->seconds);
    } else if (absl::IsFailedPrecondition(fit.status())) {
      std::cerr << "session ranker not fitted (" << fit.status().message()
                << "): the version keeps the hand blend\n";
    } else {
      PrintError(Cat("fitting the session ranker: ", fit.status().message()),
                 "--session-ranker-fit-steps 0 trains without it");
      return kExitFailure;
    }
    ranker_events.clear();
    ranker_events.shrink_to_fit();
    ranker_items.clear();
    ranker_items.shrink_to_fit();
  }
  // The ANN index is not stored with the model: the server builds it.
  core::ModelOptions model_options;
  model_options.defer_ann = true;
  absl::StatusOr<core::TrainedModel> trained = core::TrainModelVersion(
      std::move(data), options, model_options,
      [](std::string_view phase, const core::AlsProgress& p) {
        std::cerr << absl::StrFormat("%s iteration %d/%d  %.2fs", phase,
                                     p.iteration, p.iterations, p.seconds);
        if (p.loss >= 0) std::cerr << absl::StrFormat("  loss %.6g", p.loss);
        std::cerr << "\n";
      });
  if (!trained.ok()) {
    PrintError(Cat("training: ", trained.status().message()));
    return kExitFailure;
  }
  const core::FactorModel& model = *trained->model;
  const core::ModelMetadata& metadata = model.metadata();
  const double train_seconds = trained->train_seconds;
  const std::string blob = model.Serialize();

  absl::StatusOr<std::string> where =
      follower != nullptr ? follower->Deliver(metadata, blob, activate)
                          : DeliverModel(data_dir, server_running, **store,
                                         metadata, blob, activate);
  if (!where.ok()) {
    PrintError(where.status().message());
    return kExitFailure;
  }
  std::cout << "model " << metadata.version << ": "
            << FormatCount(metadata.users) << " users x "
            << FormatCount(metadata.items) << " items, "
            << FormatCount(metadata.interactions) << " interactions, "
            << metadata.factors << " factors\n";
  if (trained->holdout_users > 0) {
    std::cout << absl::StrFormat(
        "  holdout (%.0f%% of each user's items, %d users):",
        validate_fraction * 100, trained->holdout_users);
    for (const auto& [name, value] : metadata.metrics) {
      if (!name.starts_with("holdout_")) continue;
      std::cout << " " << name.substr(name.find('_') + 1) << " "
                << FormatFixed(value, 4);
    }
    std::cout << "\n";
  }
  if (!model.segments().empty()) {
    std::cout << absl::StrFormat(
        "  %d segments: silhouette %.4f, within-cluster sum of squares "
        "%.1f (list them: aisle segments)\n",
        model.segments().info.size(),
        metadata.metrics.at("segments_silhouette"),
        metadata.metrics.at("segments_inertia"));
  }
  std::cout << absl::StrFormat("  training %.2fs, total %.2fs, %s bytes\n",
                               train_seconds, core::SecondsSince(start),
                               FormatCount(static_cast<int64_t>(blob.size())));
  std::cout << *where << "\n";
  return kExitOk;
}

// --- Eval --------------------------------------------------------------------

int RunEval(const Args& args) {
  if (IsColdUserProtocol(args)) return RunColdUserEval(args);
  std::string train_path;
  std::string test_path;
  int k = 10;
  std::string models = "all";
  TrainFlags train;
  int64_t seed = 42;
  bool binary = false;
  std::string protocol = "split";
  std::string ratings_path;
  std::string items_path;   // cold-item: MovieLens u.item
  NextItemFlags next_item;  // session and sequence-model flags
  bool validation = false;
  FlagParser parser(
      "aisle eval --train FILE --test FILE [flags]\n"
      "       aisle eval --protocol next-item --ratings FILE [flags]",
      "Offline evaluation on a train/test split of ratings (rows 'user item "
      "rating unix_seconds', tab/comma/space separated) through the same "
      "Recommend code path the server uses: for every test user the top k "
      "items, the user's train items excluded; an item is relevant if it is "
      "in the user's test rows.");
  parser.String("train", &train_path, "train ratings file (required)");
  parser.String("test", &test_path, "test ratings file (required)");
  parser.Int("k", &k, "list length");
  parser.String("model", &models,
                "popular, cooccurrence, als, people_like_you, or all "
                "(comma-separated); "
                "next-item also markov, blend");
  parser.String("protocol", &protocol,
                "split (--train/--test), next-item (--ratings: each "
                "user's last item held out, the one before posted live) or "
                "cold-item (--ratings, --items: 10% of items held out, ranked "
                "by content alone) or cold-user (--ratings, --users: 10% of "
                "users held out, served from their attributes alone)");
  parser.String("ratings", &ratings_path,
                "ratings file with timestamps (next-item, cold-item)");
  parser.String("items", &items_path,
                "cold-item: MovieLens u.item (genres, title, year)");
  RegisterNextItemFlags(parser, &next_item);
  parser.Bool("validation", &validation,
              "next-item: drop each user's last rating first and score the "
              "one before (a validation split, for tuning)");
  RegisterAlsFlags(parser, &train);
  parser.Int("seed", &seed, "ALS seed");
  parser.Bool("binary", &binary,
              "weigh every rating 1 instead of by its value");
  std::string event_weights, blend_weights;
  parser.String("event-weights", &event_weights,
                "split: event weights as aisle serve takes them "
                "(core/weights_config.h), e.g. rating=0.5");
  parser.String("blend-weights", &blend_weights,
                "split: FOR_YOU blend weights as aisle serve takes them");
  std::string explorations = "0";
  parser.String("exploration", &explorations,
                "exploration of every request, 0..1; a comma-separated "
                "list evaluates each (e.g. 0,0.25,0.5,0.75,1)");
  parser.AddNotes(
      "Example (MovieLens-100K split of ../shared/data):\n"
      "  aisle eval --train ml-100k-split-by-user/train.tsv \\\n"
      "             --test ml-100k-split-by-user/test.tsv");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (protocol == "cold-item") {
    return RunColdItemEval(parser, ratings_path, items_path, k, seed);
  }
  if (protocol == "next-item") {
    if (ratings_path.empty()) {
      return UsageError(parser, "--ratings is required with next-item");
    }
    if (k < 1) return UsageError(parser, "--k: must be >= 1");
    if (absl::Status s = FinishAlsFlags(&train, seed); !s.ok()) {
      return UsageError(parser, s.message());
    }
    return RunNextItemEval(parser, ratings_path, models, k, train.als,
                           next_item, !binary, validation);
  }
  if (protocol != "split") {
    return UsageError(parser,
                      "--protocol: split, next-item, cold-user or cold-item");
  }
  if (train_path.empty() || test_path.empty()) {
    return UsageError(parser, "--train and --test are required");
  }
  if (k < 1) return UsageError(parser, "--k: must be >= 1");
  if (absl::Status s = FinishAlsFlags(&train, seed); !s.ok()) {
    return UsageError(parser, s.message());
  }
  std::vector<core::EvalVariant> variants;
  for (const std::string& name : SplitList(models)) {
    if (name == "all") {
      variants = {core::EvalVariant::kPopular, core::EvalVariant::kCoOccurrence,
                  core::EvalVariant::kAls};
    } else if (name == "popular") {
      variants.push_back(core::EvalVariant::kPopular);
    } else if (name == "cooccurrence" || name == "co_occurrence") {
      variants.push_back(core::EvalVariant::kCoOccurrence);
    } else if (name == "als") {
      variants.push_back(core::EvalVariant::kAls);
    } else if (name == "people_like_you") {
      variants.push_back(core::EvalVariant::kPeopleLikeYou);
    } else {
      return UsageError(
          parser, Cat("--model: unknown model '", name,
                      "' (popular, cooccurrence, als, people_like_you, all)"));
    }
  }
  if (variants.empty()) return UsageError(parser, "--model: empty");
  core::EngineOptions engine_options;
  if (absl::Status s =
          core::ParseEventWeights(event_weights, &engine_options.weights);
      !s.ok()) {
    return UsageError(parser, Cat("--event-weights: ", s.message()));
  }
  if (absl::Status s = core::ParseBlendWeights(blend_weights, &engine_options);
      !s.ok()) {
    return UsageError(parser, Cat("--blend-weights: ", s.message()));
  }
  // The learned session re-scoring, when given (it applies to a fresh
  // session only; the other session options keep their defaults here).
  if (std::string error = ParseRankerWeights(
          next_item.ranker_weights, &engine_options.session.ranker_weights);
      !error.empty()) {
    return UsageError(parser, error);
  }
  std::vector<double> exploration_levels;
  for (const std::string& text : SplitList(explorations)) {
    double e = 0;
    if (!absl::SimpleAtod(text, &e) || !(e >= 0 && e <= 1)) {
      return UsageError(parser,
                        Cat("--exploration: must be 0..1, got '", text, "'"));
    }
    exploration_levels.push_back(e);
  }
  if (exploration_levels.empty()) exploration_levels.push_back(0);

  const std::string kk = Cat("@", k);
  Table table({"model", "exploration", Cat("P", kk), Cat("R", kk),
               Cat("nDCG", kk), Cat("F1", kk), "MAP", "coverage", "novelty",
               "ILD", "popularity", "users", "train_s", "recommend_s"});
  for (core::EvalVariant variant : variants) {
    for (double exploration : exploration_levels) {
      core::EvalOptions options;
      options.engine = engine_options;
      options.exploration = exploration;
      options.train_path = train_path;
      options.test_path = test_path;
      options.variant = variant;
      options.k = k;
      options.als = train.als;
      options.rating_as_weight = !binary;
      options.session_ranker.steps = next_item.ranker_fit_steps;
      options.session_ranker.fit.l2 = next_item.ranker_l2;
      std::cerr << "evaluating " << core::EvalVariantName(variant)
                << " (exploration " << exploration << ")...\n";
      absl::StatusOr<core::EvalReport> report = core::Evaluate(options);
      if (!report.ok()) {
        PrintError(report.status().message(),
                   absl::IsNotFound(report.status())
                       ? "check the --train/--test paths"
                       : "");
        return kExitFailure;
      }
      if (!report->ranker_weights.empty()) {
        std::cerr << "  session ranker fitted in "
                  << FormatFixed(report->ranker_fit_seconds, 1)
                  << " s, stored with the model: --session-ranker-weights "
                  << core::FormatSessionRankerWeights(report->ranker_weights)
                  << "\n";
      }
      table.AddRow(
          {report->variant, FormatFixed(exploration, 2),
           FormatFixed(report->precision, 4), FormatFixed(report->recall, 4),
           FormatFixed(report->ndcg, 4), FormatFixed(report->f1, 4),
           FormatFixed(report->map, 4), FormatFixed(report->coverage, 4),
           FormatFixed(report->novelty, 2),
           FormatFixed(report->intra_list_diversity, 4),
           FormatFixed(report->popularity, 4), Cat(report->users_evaluated),
           FormatFixed(report->train_seconds, 2),
           FormatFixed(report->recommend_seconds, 2)});
    }
  }
  std::cout << table.Render();
  return kExitOk;
}

}  // namespace aisle::cli
