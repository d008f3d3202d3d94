// `aisle eval --protocol next-item` (core/eval_next_item.h) and the
// session flags it shares with nothing else in the CLI (the server has its
// own, server/config.cc, with the same names).
#ifndef AISLE_CLI_EVAL_NEXT_ITEM_H_
#define AISLE_CLI_EVAL_NEXT_ITEM_H_

#include <string>

#include "cli/flags.h"
#include "core/als.h"
#include "core/engine.h"

namespace aisle::cli {

// --session-* and --transition-* flags into `session` (defaults: its
// current values).
void RegisterSessionFlags(FlagParser& parser, core::SessionOptions* session);

// Runs the protocol for each model of `models` ("popular, markov,
// cooccurrence, als, blend" or "all", comma-separated) and prints HR@k
// and NDCG@k per model; `validation` scores each user's second-to-last
// item instead (core::NextItemOptions::validation). Returns the exit code
// (usage errors through `parser`).
int RunNextItemEval(const FlagParser& parser, const std::string& ratings_path,
                    const std::string& models, int k,
                    const core::AlsOptions& als,
                    const core::SessionOptions& session, bool rating_as_weight,
                    bool validation);

}  // namespace aisle::cli

#endif  // AISLE_CLI_EVAL_NEXT_ITEM_H_
