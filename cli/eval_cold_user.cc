#include "cli/eval_cold_user.h"

#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/eval.h"
#include "core/eval_cold_user.h"

namespace aisle::cli {

bool IsColdUserProtocol(const Args& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--protocol=cold-user") return true;
    if (args[i] == "--protocol" && i + 1 < args.size() &&
        args[i + 1] == "cold-user") {
      return true;
    }
  }
  return false;
}

namespace {

// A p-value readable at any size: 0.0123, or 3e-08 below 0.0001.
std::string FormatP(double p) {
  if (p >= 1e-4) return FormatFixed(p, 4);
  std::ostringstream out;
  out << std::setprecision(1) << std::scientific << p;
  return out.str();
}

std::string Signed(double x) {
  return Cat(x >= 0 ? "+" : "", FormatFixed(x, 4));
}

// attributes - popular per user: one row per seed, then all pooled.
void PrintPaired(const core::ColdUserReport& report) {
  const std::string kk = Cat("@", report.k);
  Table table({"hold-out", "smoothing", "users", Cat("popular nDCG", kk),
               Cat("attributes nDCG", kk), "diff +-se", "t", "p (t)",
               "better/worse/tied", "p (sign)", Cat("diff P", kk),
               Cat("diff R", kk)});
  const auto row = [&](const std::string& name, const core::ColdUserPaired& p) {
    const core::PairedComparison& n = p.ndcg;
    table.AddRow({name, p.seed == 0 ? "" : FormatFixed(p.smoothing, 1),
                  Cat(n.users), FormatFixed(n.mean_a, 4),
                  FormatFixed(n.mean_b, 4),
                  Cat(Signed(n.mean_difference), " +-",
                      FormatFixed(n.standard_error, 4)),
                  FormatFixed(n.t, 2), FormatP(n.t_p_value),
                  Cat(n.better, "/", n.worse, "/", n.tied),
                  FormatP(n.sign_p_value), Signed(p.precision.mean_difference),
                  Signed(p.recall.mean_difference)});
  };
  for (const core::ColdUserPaired& p : report.per_seed) {
    row(Cat("seed ", p.seed), p);
  }
  if (report.per_seed.size() > 1) row("all", report.pooled);
  const core::PairedComparison& n = report.pooled.ndcg;
  std::cout << "\npaired, attributes - popular, per held-out user:\n"
            << table.Render() << "attributes raised nDCG" << kk << " on "
            << report.seeds_better << " of " << report.per_seed.size()
            << " hold-outs (lowered on " << report.seeds_worse
            << "; sign test p=" << FormatP(report.seeds_sign_p_value)
            << "); per user " << Signed(n.mean_difference) << " +-"
            << FormatFixed(n.standard_error, 4) << " ("
            << FormatFixed(
                   n.mean_a > 0 ? 100 * n.mean_difference / n.mean_a : 0, 1)
            << "% of popular), t=" << FormatFixed(n.t, 2) << "\n";
}

}  // namespace

int RunColdUserEval(const Args& args) {
  std::string protocol;
  std::string ratings_path;
  std::string users_path;
  core::ColdUserOptions options;
  int seeds = 10;
  bool rating_weights = false;
  std::string tune_text;
  FlagParser parser(
      "aisle eval --protocol cold-user --ratings FILE --users FILE [flags]",
      "Cold start from user attributes: hold out a share of the users with "
      "all their ratings, give every user their attributes, and recommend "
      "to each held-out user FOR_YOU from attributes alone (the engine's "
      "attribute source), against plain popularity. Every item the "
      "held-out user rated is relevant. Figures are means over the seeds "
      "(1..--seeds), +- their standard error; then the two are compared "
      "paired on the same users (per-user difference, standard error, "
      "paired t, sign test), per seed and over all.");
  parser.String("protocol", &protocol, "cold-user");
  parser.String("ratings", &ratings_path,
                "ratings 'user item rating unix_seconds' (required)");
  parser.String("users", &users_path,
                "users: MovieLens u.user, or a header user_id,KEY,... and "
                "one user per line (required)");
  parser.Int("k", &options.k, "list length");
  parser.Double("holdout", &options.holdout, "share of users held out");
  parser.Int("seeds", &seeds, "hold-out draws (seeds 1..N)");
  parser.Double("smoothing", &options.engine.attributes.smoothing,
                "prior weight m of the attribute counts, in users' worth");
  parser.String("tune-smoothing", &tune_text,
                "comma list of smoothing values: per hold-out, pick the "
                "best on a validation draw of the TRAINING users (overrides "
                "--smoothing)");
  parser.Int("candidates", &options.engine.attributes.candidates_per_value,
             "top items per attribute value scored per request");
  parser.Bool("rating-weights", &rating_weights,
              "weigh each rating by its value instead of 1");
  parser.AddNotes(
      "Example (MovieLens-100K in ../shared/data):\n"
      "  aisle eval --protocol cold-user --ratings ml-100k/u.data \\\n"
      "             --users ml-100k/u.user --tune-smoothing "
      "12.5,25,50,100,200");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (ratings_path.empty() || users_path.empty()) {
    return UsageError(parser, "--ratings and --users are required");
  }
  if (options.k < 1) return UsageError(parser, "--k: must be >= 1");
  if (seeds < 1) return UsageError(parser, "--seeds: must be >= 1");
  options.rating_as_weight = rating_weights;
  for (const std::string& m : SplitList(tune_text)) {
    absl::StatusOr<double> value = ParseDoubleText(m);
    if (!value.ok() || !(*value >= 0 && *value < 1e9)) {
      return UsageError(
          parser, Cat("--tune-smoothing: '", m,
                      "' is not a number >= 0 (e.g. 12.5,25,50,100,200)"));
    }
    options.smoothing_grid.push_back(*value);
  }
  options.seeds.clear();
  for (int s = 1; s <= seeds; ++s) options.seeds.push_back(s);

  absl::StatusOr<std::vector<core::Rating>> ratings =
      core::LoadRatings(ratings_path);
  if (!ratings.ok()) {
    PrintError(ratings.status().message(), "check --ratings");
    return kExitFailure;
  }
  absl::StatusOr<core::AttributeTable> users =
      core::LoadUserAttributes(users_path);
  if (!users.ok()) {
    PrintError(users.status().message(), "check --users");
    return kExitFailure;
  }
  std::cerr << "evaluating " << seeds << " hold-out draw(s) of "
            << FormatFixed(options.holdout * 100, 0) << "% of the users...\n";
  absl::StatusOr<core::ColdUserReport> report =
      core::EvaluateColdUser(*ratings, *users, options);
  if (!report.ok()) {
    PrintError(report.status().message());
    return kExitFailure;
  }
  const std::string kk = Cat("@", options.k);
  const auto pm = [](double mean, double se) {
    return Cat(FormatFixed(mean, 4), " +-", FormatFixed(se, 4));
  };
  Table table({"model", Cat("P", kk), Cat("R", kk), Cat("nDCG", kk),
               Cat("F1", kk), "MAP", "coverage", "novelty", "ILD", "popularity",
               "users"});
  for (const core::ColdUserVariant& v : report->variants) {
    const core::EvalReport& m = v.mean;
    const core::EvalReport& se = v.standard_error;
    table.AddRow({v.variant, pm(m.precision, se.precision),
                  pm(m.recall, se.recall), pm(m.ndcg, se.ndcg), pm(m.f1, se.f1),
                  pm(m.map, se.map), FormatFixed(m.coverage, 4),
                  FormatFixed(m.novelty, 2),
                  FormatFixed(m.intra_list_diversity, 4),
                  FormatFixed(m.popularity, 4), Cat(m.users_evaluated)});
  }
  std::cout << table.Render();
  PrintPaired(*report);
  return kExitOk;
}

}  // namespace aisle::cli
