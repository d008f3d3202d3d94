// `aisle eval --protocol cold-user` (core/eval_cold_user.h): new users
// recommended to from their attributes alone, against plain popularity.
#ifndef AISLE_CLI_EVAL_COLD_USER_H_
#define AISLE_CLI_EVAL_COLD_USER_H_

#include "cli/commands.h"

namespace aisle::cli {

// Whether `args` ask for this protocol ("--protocol cold-user" or
// "--protocol=cold-user"): RunEval hands them to RunColdUserEval.
bool IsColdUserProtocol(const Args& args);

// Parses its own flags (--ratings, --users, --k, --holdout, --seeds,
// --smoothing, --candidates, --rating-weights), runs the protocol and
// prints one row per variant with the standard errors. Returns the exit
// code.
int RunColdUserEval(const Args& args);

}  // namespace aisle::cli

#endif  // AISLE_CLI_EVAL_COLD_USER_H_
