#include "cli/eval_next_item.h"

#include <iostream>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/eval.h"
#include "core/eval_next_item.h"
#include "core/session_ranker.h"
#if AISLE_WITH_TORCH
#include "seqmodel/sasrec.h"
#endif

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

void RegisterNextItemFlags(FlagParser& parser, NextItemFlags* flags) {
  RegisterSessionFlags(parser, &flags->session);
  parser.Int("session-ranker-fit-steps", &flags->ranker_fit_steps,
             "next-item blend, split als: fit the learned re-scoring of a "
             "fresh session's candidates on this many next-item steps of "
             "the training part, as `aisle train` does, and store it with "
             "the model version; 0 = the hand blend");
  parser.String("session-ranker-weights", &flags->ranker_weights,
                "fixed weights of the learned re-scoring, one per feature, "
                "comma-separated (as --session-ranker-fit-steps prints "
                "them); they override the fitted ones; empty = the fitted "
                "ones (or the hand blend with --session-ranker-fit-steps 0)");
  parser.Double("session-ranker-l2", &flags->ranker_l2,
                "L2 penalty of the learned re-scoring's fit");
  parser.String("session-ranker-features", &flags->ranker_features,
                "features of the learned re-scoring, comma-separated "
                "(core/session_ranker.h: blend, model, in_model_top, "
                "trans_last, trans_older, co_last, co_older, seeds, "
                "log_trans, log_co, log_users, log_popularity, log_trending, "
                "log_trans_last, log_co_last, log_model, user_mainstream, "
                "trans_gap) or all");
#if AISLE_WITH_TORCH
  parser.String("sasrec-epochs", &flags->sasrec_epochs,
                "sasrec: training epochs; a comma-separated increasing list "
                "evaluates after each (one training run)");
  parser.Int("sasrec-max-length", &flags->sasrec_max_length,
             "sasrec: most recent items per user the model reads");
  parser.Int("sasrec-hidden", &flags->sasrec_hidden,
             "sasrec: embedding and hidden size");
  parser.Int("sasrec-blocks", &flags->sasrec_blocks,
             "sasrec: self-attention blocks");
  parser.Double("sasrec-dropout", &flags->sasrec_dropout,
                "sasrec: dropout rate, 0..1");
  parser.Double("sasrec-learning-rate", &flags->sasrec_learning_rate,
                "sasrec: Adam learning rate");
  parser.Int("sasrec-batch", &flags->sasrec_batch, "sasrec: users per batch");
  parser.Int("sasrec-threads", &flags->sasrec_threads,
             "sasrec: libtorch threads (0 = every core)");
  parser.Int("sasrec-seed", &flags->sasrec_seed,
             "sasrec: initialisation and batch-order seed");
  parser.String("fusion-weights", &flags->fusion_weights,
                "blend+sasrec: weight of sasrec in the rank fusion, 0..1; "
                "a comma-separated list evaluates each (1 = sasrec alone, "
                "0 = blend alone); choose it with --validation");
  parser.Double("fusion-rank-offset", &flags->fusion_rank_offset,
                "blend+sasrec: c in w / (c + rank)");
  parser.Int("fusion-depth", &flags->fusion_depth,
             "blend+sasrec: blend candidates fused per user");
#endif
}

namespace {

constexpr core::NextItemVariant kAllVariants[] = {
    core::NextItemVariant::kPopular,       core::NextItemVariant::kMarkov,
    core::NextItemVariant::kCoOccurrence,  core::NextItemVariant::kFactorModel,
    core::NextItemVariant::kBlend,         core::NextItemVariant::kSequence,
    core::NextItemVariant::kBlendSequence,
};

bool IsSequenceVariant(core::NextItemVariant v) {
  return v == core::NextItemVariant::kSequence ||
         v == core::NextItemVariant::kBlendSequence;
}

// --sasrec-epochs and --fusion-weights into `options`; a usage error
// message, or empty.
std::string ParseSequenceFlags(const NextItemFlags& flags,
                               core::NextItemOptions& options) {
  options.sequence_epochs.clear();
  for (const std::string& text : SplitList(flags.sasrec_epochs)) {
    absl::StatusOr<double> e = ParseDoubleText(text);
    if (!e.ok() || *e < 0 || *e != static_cast<int>(*e)) {
      return Cat("--sasrec-epochs: not a whole number >= 0: '", text, "'");
    }
    options.sequence_epochs.push_back(static_cast<int>(*e));
  }
  options.fusion_weights.clear();
  for (const std::string& text : SplitList(flags.fusion_weights)) {
    absl::StatusOr<double> w = ParseDoubleText(text);
    if (!w.ok()) return Cat("--fusion-weights: not a number: '", text, "'");
    options.fusion_weights.push_back(*w);
  }
  options.fusion_rank_offset = flags.fusion_rank_offset;
  options.fusion_depth = flags.fusion_depth;
  return "";
}

#if AISLE_WITH_TORCH
absl::StatusOr<std::unique_ptr<core::SequenceModel>> NewSequenceModel(
    const NextItemFlags& flags) {
  seqmodel::SasRecOptions o;
  o.max_length = flags.sasrec_max_length;
  o.hidden = flags.sasrec_hidden;
  o.blocks = flags.sasrec_blocks;
  o.dropout = flags.sasrec_dropout;
  o.learning_rate = flags.sasrec_learning_rate;
  o.batch_size = flags.sasrec_batch;
  o.threads = flags.sasrec_threads;
  o.seed = static_cast<uint64_t>(flags.sasrec_seed);
  o.on_epoch = [](int epoch, double loss) {
    std::cerr << "  sasrec epoch " << epoch << ": loss " << loss << "\n";
  };
  return seqmodel::NewSasRec(o);
}
#else
absl::StatusOr<std::unique_ptr<core::SequenceModel>> NewSequenceModel(
    const NextItemFlags&) {
  return absl::FailedPreconditionError(
      "this aisle was built without libtorch: apt-get install libtorch-dev, "
      "then configure with -DAISLE_WITH_TORCH=ON");
}
#endif

}  // namespace

std::string ParseRankerWeights(const std::string& text,
                               std::vector<double>* weights) {
  weights->clear();
  if (text.empty()) return "";
  for (const std::string& item : SplitList(text)) {
    absl::StatusOr<double> w = ParseDoubleText(item);
    if (!w.ok())
      return Cat("--session-ranker-weights: not a number: '", item, "'");
    weights->push_back(*w);
  }
  core::SessionOptions check;
  check.ranker_weights = *weights;
  if (absl::Status s = core::ValidateSessionOptions(check); !s.ok()) {
    return Cat("--session-ranker-weights: ", s.message());
  }
  return "";
}

int RunNextItemEval(const FlagParser& parser, const std::string& ratings_path,
                    const std::string& models, int k,
                    const core::AlsOptions& als, const NextItemFlags& flags,
                    bool rating_as_weight, bool validation) {
  if (absl::Status s = core::ValidateSessionOptions(flags.session); !s.ok()) {
    return UsageError(parser, s.message());
  }
  std::vector<core::NextItemVariant> variants;
  for (const std::string& name : SplitList(models)) {
    if (name == "all") {
      for (auto v : kAllVariants) {
        if (!IsSequenceVariant(v)) variants.push_back(v);
      }
      continue;
    }
    bool known = false;
    for (auto v : kAllVariants) {
      if (name == core::NextItemVariantName(v)) {
        variants.push_back(v);
        known = true;
      }
    }
    if (!known) {
      return UsageError(parser,
                        Cat("--model: unknown model '", name,
                            "' (popular, markov, cooccurrence, als, blend, "
                            "sasrec, blend+sasrec, all)"));
    }
  }
  if (variants.empty()) return UsageError(parser, "--model: empty");
  core::NextItemOptions base;
  base.k = k;
  base.als = als;
  base.engine.session = flags.session;
  base.rating_as_weight = rating_as_weight;
  base.validation = validation;
  if (std::string error = ParseSequenceFlags(flags, base); !error.empty()) {
    return UsageError(parser, error);
  }
  if (std::string error = ParseRankerWeights(
          flags.ranker_weights, &base.engine.session.ranker_weights);
      !error.empty()) {
    return UsageError(parser, error);
  }
  base.ranker_fit_steps = flags.ranker_fit_steps;
  base.ranker_fit.l2 = flags.ranker_l2;
  if (flags.ranker_fit_steps < 0 || flags.ranker_fit_steps > 20) {
    return UsageError(parser, "--session-ranker-fit-steps: must be 0..20");
  }
  if (!(flags.ranker_l2 >= 0)) {
    return UsageError(parser, "--session-ranker-l2: must be >= 0");
  }
  if (flags.ranker_features != "all") {
    base.ranker_fit.feature_mask = 0;
    for (const std::string& name : SplitList(flags.ranker_features)) {
      int found = -1;
      for (int f = 0; f < core::kSessionRankerFeatures; ++f) {
        if (name == core::SessionRankerFeatureName(f)) found = f;
      }
      if (found < 0) {
        return UsageError(parser, Cat("--session-ranker-features: unknown "
                                      "feature '",
                                      name, "'"));
      }
      base.ranker_fit.feature_mask |= 1u << found;
    }
  }
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
               "recommend_s", "score_ms"});
  for (core::NextItemVariant variant : variants) {
    core::NextItemOptions options = base;
    options.variant = variant;
    std::unique_ptr<core::SequenceModel> model;
    if (IsSequenceVariant(variant)) {
      absl::StatusOr<std::unique_ptr<core::SequenceModel>> made =
          NewSequenceModel(flags);
      if (!made.ok()) return UsageError(parser, made.status().message());
      model = *std::move(made);
      options.sequence_model = model.get();
    }
    std::cerr << "evaluating " << core::NextItemVariantName(variant)
              << " (next item)...\n";
    absl::StatusOr<core::NextItemReport> report =
        core::EvaluateNextItem(*ratings, options);
    if (!report.ok()) {
      PrintError(report.status().message(), "");
      return kExitFailure;
    }
    if (!report->ranker_weights.empty()) {
      std::cerr << "  session ranker: " << report->ranker_queries << " of "
                << report->ranker_fit_users
                << " fit queries with the label among the candidates, loss "
                << FormatFixed(report->ranker_loss, 4) << ", "
                << FormatFixed(report->ranker_fit_seconds, 1) << " s;";
      for (int f = 0; f < core::kSessionRankerFeatures; ++f) {
        std::cerr << " " << core::SessionRankerFeatureName(f) << "="
                  << absl::StrFormat("%.9g", report->ranker_weights[f]);
      }
      std::cerr << "\n  --session-ranker-weights ";
      for (int f = 0; f < core::kSessionRankerFeatures; ++f) {
        std::cerr << (f > 0 ? "," : "")
                  << absl::StrFormat("%.9g", report->ranker_weights[f]);
      }
      std::cerr << "\n";
    }
    const std::string users = Cat(report->users_evaluated);
    if (report->points.empty()) {
      table.AddRow({report->variant, FormatFixed(report->hit_rate, 4),
                    FormatFixed(report->ndcg, 4), users,
                    FormatFixed(report->train_seconds, 2),
                    FormatFixed(report->recommend_seconds, 2), ""});
      continue;
    }
    // One row per checkpoint (and fusion weight); the training time is
    // the sequence model's, up to the last checkpoint.
    for (const core::NextItemPoint& p : report->points) {
      std::string name = Cat(report->variant, " e", p.epochs);
      if (variant == core::NextItemVariant::kBlendSequence) {
        name += Cat(" w", FormatFixed(p.fusion_weight, 2));
      }
      table.AddRow(
          {name, FormatFixed(p.hit_rate, 4), FormatFixed(p.ndcg, 4), users,
           FormatFixed(report->train_seconds + report->sequence_train_seconds,
                       2),
           FormatFixed(report->recommend_seconds, 2),
           FormatFixed(report->score_ms, 3)});
    }
  }
  std::cout << table.Render();
  return kExitOk;
}

}  // namespace aisle::cli
