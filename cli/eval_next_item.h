// `aisle eval --protocol next-item` (core/eval_next_item.h) and the
// session flags it shares with nothing else in the CLI (the server has its
// own, server/config.cc, with the same names).
#ifndef AISLE_CLI_EVAL_NEXT_ITEM_H_
#define AISLE_CLI_EVAL_NEXT_ITEM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cli/flags.h"
#include "core/als.h"
#include "core/engine.h"
#include "core/session_ranker.h"

namespace aisle::cli {

// --session-* and --transition-* flags into `session` (defaults: its
// current values).
void RegisterSessionFlags(FlagParser& parser, core::SessionOptions* session);

// The next-item protocol's flags beyond the shared ones: the session
// options and, in a build with libtorch (-DAISLE_WITH_TORCH=ON), the
// sequence model's (--sasrec-*, --fusion-*). Values are kept as text or
// numbers here so that the default build needs nothing from seqmodel/.
struct NextItemFlags {
  core::SessionOptions session;
  std::string sasrec_epochs = "20";  // comma-separated, increasing
  int sasrec_max_length = 200;
  int sasrec_hidden = 64;
  int sasrec_blocks = 2;
  double sasrec_dropout = 0.2;
  double sasrec_learning_rate = 1e-3;
  int sasrec_batch = 128;
  int sasrec_threads = 2;
  int64_t sasrec_seed = 42;
  std::string fusion_weights = "0.5";  // comma-separated
  double fusion_rank_offset = 10;
  int fusion_depth = 100;
  // next-item blend and split als: fit the session ranker's weights on
  // the training part as `aisle train` does and store them with the model
  // (core::NextItemOptions::ranker_fit_steps); 0 = the hand blend.
  int ranker_fit_steps = core::kDefaultSessionRankerFitSteps;
  double ranker_l2 = 1e-3;
  std::string ranker_features = "all";  // comma-separated feature names
  // Fixed SessionOptions::ranker_weights, comma-separated (as the fit
  // prints them); empty = none. Also read by the split protocol.
  std::string ranker_weights;
};

// --session-ranker-weights into `weights` (empty text: none); a usage
// error message, or empty.
std::string ParseRankerWeights(const std::string& text,
                               std::vector<double>* weights);
void RegisterNextItemFlags(FlagParser& parser, NextItemFlags* flags);

// Runs the protocol for each model of `models` ("popular, markov,
// cooccurrence, als, blend" or "all", comma-separated; with libtorch also
// "sasrec, blend+sasrec", not in "all": minutes of training) and prints
// HR@k and NDCG@k per model (per epoch checkpoint and fusion weight for
// the sequence models); `validation` scores each user's second-to-last
// item instead (core::NextItemOptions::validation). Returns the exit code
// (usage errors through `parser`).
int RunNextItemEval(const FlagParser& parser, const std::string& ratings_path,
                    const std::string& models, int k,
                    const core::AlsOptions& als, const NextItemFlags& flags,
                    bool rating_as_weight, bool validation);

}  // namespace aisle::cli

#endif  // AISLE_CLI_EVAL_NEXT_ITEM_H_
