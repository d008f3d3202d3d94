// `aisle eval --protocol cold-item` (core/eval_cold_item.h): loads the
// ratings and the MovieLens item file, runs the protocol and prints the
// content ranking beside the random one.
#ifndef AISLE_CLI_EVAL_COLD_ITEM_H_
#define AISLE_CLI_EVAL_COLD_ITEM_H_

#include <cstdint>
#include <string>

#include "cli/flags.h"

namespace aisle::cli {

// Returns the exit code (usage errors through `parser`, naming the flag).
int RunColdItemEval(const FlagParser& parser, const std::string& ratings_path,
                    const std::string& items_path, int k, int64_t seed);

}  // namespace aisle::cli

#endif  // AISLE_CLI_EVAL_COLD_ITEM_H_
