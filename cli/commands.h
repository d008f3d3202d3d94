// The subcommands of the `aisle` binary (server/main.cc dispatches to them).
//
// Each Run* function takes the arguments after the subcommand name (for
// two-word commands such as "user get", after both words), prints results
// on stdout and errors on stderr, and returns the process exit code:
// cli::kExitOk (0), cli::kExitFailure (1) or cli::kExitUsage (2).
//
// Client commands talk to a running server over gRPC (--target, default
// localhost:50051) with a deadline on every call (--timeout). Data
// commands (import, train, models, backup, restore) work on a data
// directory directly, and say what to do when a server holds it.
#ifndef AISLE_CLI_COMMANDS_H_
#define AISLE_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace aisle::cli {

using Args = std::vector<std::string>;

// cli_client.cc
int RunRecommend(const Args& args);
int RunFeedback(const Args& args);
int RunUser(const Args& args);   // user get|delete
int RunItem(const Args& args);   // item get|upsert|delete
int RunModel(const Args& args);  // model info

// cli_data.cc
int RunImport(const Args& args);
int RunGenerate(const Args& args);
int RunTrain(const Args& args);
int RunEval(const Args& args);

// cli_admin.cc
int RunModels(const Args& args);  // models list|activate|rollback
int RunBackup(const Args& args);
int RunRestore(const Args& args);
int RunVersion(const Args& args);

// cli_loadgen.cc
int RunLoadgen(const Args& args);

}  // namespace aisle::cli

#endif  // AISLE_CLI_COMMANDS_H_
