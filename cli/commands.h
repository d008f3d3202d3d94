// The subcommands of the `aisle` binary (main.cc dispatches to them).
//
// Each Run* function takes the arguments after the subcommand name (for
// two-word commands such as "user get", after the first word), prints
// results on stdout and errors on stderr, and returns the process exit
// code: kExitOk (0), kExitFailure (1) or kExitUsage (2) (cli/output.h).
// "--help" prints the command's flags and returns 0.
//
// Client commands talk to a running server over gRPC (--target, default
// localhost:50051) with a deadline on every call (--timeout). Data
// commands (import, generate, train, models, backup, restore) work on a
// data directory directly, and say what to do when a server holds it.
#ifndef AISLE_CLI_COMMANDS_H_
#define AISLE_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace aisle::cli {

using Args = std::vector<std::string>;

// recommend_command.cc
// One Recommend call, printed as a ranked table (titles by GetItem).
int RunRecommend(const Args& args);
// The caller's items re-ranked for a user (the Rank RPC).
int RunRank(const Args& args);

// experiments_command.cc
// experiments report: the A/B experiments' arms with their statistics.
int RunExperiments(const Args& args);

// segments_command.cc
// segments: the learned user segments; segments export ID: their users.
int RunSegments(const Args& args);

// client_commands.cc
// One event through Feedback; "accepted" means it is durable.
int RunFeedback(const Args& args);
// user get USER_ID (profile) | user delete USER_ID (erase everything).
int RunUser(const Args& args);
// item get ITEM_ID | item upsert --id ID ... | item delete ITEM_ID...
int RunItem(const Args& args);
// model info: the model the server serves and its serving state.
int RunModel(const Args& args);

// import_command.cc
// Events and items files into a data dir or a server; 1 if any row was
// rejected (the valid rows are still imported).
int RunImport(const Args& args);
// generate_command.cc
// A synthetic store of any size into a data dir or a server.
int RunGenerate(const Args& args);

// train_commands.cc
// An ALS model from a data dir's events: stored (and activated), or put in
// a running server's model inbox.
int RunTrain(const Args& args);
// Offline metrics of popular/co-occurrence/ALS on a train/test split.
int RunEval(const Args& args);

// admin_commands.cc
// models list | activate VERSION | rollback, on a data dir or a server.
int RunModels(const Args& args);
// models_import.cc
// models import: item factors trained elsewhere as a new model version.
int RunModelsImport(const Args& args);
// A consistent copy of a data dir, also next to a running server.
int RunBackup(const Args& args);
// A backup into an empty or absent data dir.
int RunRestore(const Args& args);
// Version and build information.
int RunVersion(const Args& args);

// loadgen.cc
// Load against one server; throughput and latency percentiles.
int RunLoadgen(const Args& args);

}  // namespace aisle::cli

#endif  // AISLE_CLI_COMMANDS_H_
