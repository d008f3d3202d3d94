#include "cli/eval_next_item.h"

#include <iostream>
#include <vector>

#include "absl/status/status.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/eval.h"
#include "core/eval_next_item.h"

namespace aisle::cli {

void RegisterSessionFlags(FlagParser& parser, core::SessionOptions* session) {
  parser.Double("session-blend", &session->blend_weight,
                "weight of the session signal against the factor model for "
                "a fresh session (0..1)");
  parser.Int("session-items", &session->max_items,
             "distinct recent items in a session");
  parser.Double("session-window", &session->window_seconds,
                "seconds before the latest event a session reaches back");
  parser.Double("session-decay", &session->position_decay,
                "weight of each older session item relative to the next");
  parser.Double("session-fresh-half-life", &session->fresh_half_life_seconds,
                "seconds after which a session weighs half; 0 = never stale");
  parser.Double("session-transition-weight", &session->transition_weight,
                "weight of 'what followed' in the session score");
  parser.Double("session-cooccurrence-weight", &session->co_occurrence_weight,
                "weight of co-occurrence in the session score");
  parser.Double("session-vector-weight", &session->vector_weight,
                "weight of the factor model's item similarity in the "
                "session score");
  parser.Int("session-candidates", &session->candidates,
             "session candidates scored per request");
  parser.Int("transition-span", &session->transition_span,
             "an event follows this many previous distinct items");
  parser.Double("transition-gap-half-life",
                &session->transition_gap_half_life_seconds,
                "seconds of pause that halve a transition; 0 = none");
}

int RunNextItemEval(const FlagParser& parser, const std::string& ratings_path,
                    const std::string& models, int k,
                    const core::AlsOptions& als,
                    const core::SessionOptions& session, bool rating_as_weight,
                    bool validation) {
  if (absl::Status s = core::ValidateSessionOptions(session); !s.ok()) {
    return UsageError(parser, s.message());
  }
  std::vector<core::NextItemVariant> variants;
  for (const std::string& name : SplitList(models)) {
    if (name == "all") {
      variants = {
          core::NextItemVariant::kPopular, core::NextItemVariant::kMarkov,
          core::NextItemVariant::kCoOccurrence,
          core::NextItemVariant::kFactorModel, core::NextItemVariant::kBlend};
      continue;
    }
    bool known = false;
    for (auto v :
         {core::NextItemVariant::kPopular, core::NextItemVariant::kMarkov,
          core::NextItemVariant::kCoOccurrence,
          core::NextItemVariant::kFactorModel, core::NextItemVariant::kBlend}) {
      if (name == core::NextItemVariantName(v)) {
        variants.push_back(v);
        known = true;
      }
    }
    if (!known) {
      return UsageError(
          parser, Cat("--model: unknown model '", name,
                      "' (popular, markov, cooccurrence, als, blend, all)"));
    }
  }
  if (variants.empty()) return UsageError(parser, "--model: empty");
  absl::StatusOr<std::vector<core::Rating>> ratings =
      core::LoadRatings(ratings_path);
  if (!ratings.ok()) {
    PrintError(ratings.status().message(), absl::IsNotFound(ratings.status())
                                               ? "check the --ratings path"
                                               : "");
    return kExitFailure;
  }
  const std::string kk = Cat("@", k);
  Table table({"model", Cat("HR", kk), Cat("NDCG", kk), "users", "train_s",
               "recommend_s"});
  for (core::NextItemVariant variant : variants) {
    core::NextItemOptions options;
    options.variant = variant;
    options.k = k;
    options.als = als;
    options.engine.session = session;
    options.rating_as_weight = rating_as_weight;
    options.validation = validation;
    std::cerr << "evaluating " << core::NextItemVariantName(variant)
              << " (next item)...\n";
    absl::StatusOr<core::NextItemReport> report =
        core::EvaluateNextItem(*ratings, options);
    if (!report.ok()) {
      PrintError(report.status().message(), "");
      return kExitFailure;
    }
    table.AddRow({report->variant, FormatFixed(report->hit_rate, 4),
                  FormatFixed(report->ndcg, 4), Cat(report->users_evaluated),
                  FormatFixed(report->train_seconds, 2),
                  FormatFixed(report->recommend_seconds, 2)});
  }
  std::cout << table.Render();
  return kExitOk;
}

}  // namespace aisle::cli
