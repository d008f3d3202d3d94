// `aisle`: the server and its command-line tools in one binary. This file
// holds the top-level usage text and the table from command name to its
// Run* function (cli/commands.h); `serve` goes to the server.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/output.h"
#include "server/server.h"

namespace {

constexpr std::string_view kUsage = R"(Usage: aisle COMMAND [flags]

Aisle: a self-hosted real-time recommendation service.

Server:
  serve            run the gRPC server (aisle serve --help for options)
  version          print the version and build information

Client (talk to a running server; --target host:port, default localhost:50051):
  recommend        get recommendations for a user or an item page
  rank             re-rank given items (a search or category page) for a user
  experiments report
                   A/B experiments: CTR and conversion per arm, significance
  segments [export ID]
                   learned user segments, or one segment's user ids
  feedback         send one event (view, click, purchase, ...)
  user get|delete  show a user's profile, or erase the user
  item get|upsert|delete
                   read or change the catalog
  model info       the model the server is serving
  loadgen          generate load and report latency percentiles

Data (work on a data directory, or stream into a server):
  import           load events and items from TSV/CSV files
  generate         write a synthetic store of any size (demo, load tests)
  train            train a factor model from the stored events
  eval             offline evaluation on a train/test split
  models list|activate|rollback|import
                   list and switch stored model versions
  backup           consistent copy of a data directory
  restore          restore a backup into an empty data directory

Run 'aisle COMMAND --help' for the flags of a command.
Exit status: 0 success, 1 failure, 2 usage error.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return aisle::cli::kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "serve") return aisle::server::ServeMain(argc - 1, argv + 1);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return aisle::cli::kExitOk;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  using Runner = int (*)(const aisle::cli::Args&);
  struct Entry {
    std::string_view name;
    Runner run;
  };
  static constexpr Entry kCommands[] = {
      {"version", aisle::cli::RunVersion},
      {"--version", aisle::cli::RunVersion},
      {"recommend", aisle::cli::RunRecommend},
      {"rank", aisle::cli::RunRank},
      {"experiments", aisle::cli::RunExperiments},
      {"segments", aisle::cli::RunSegments},
      {"feedback", aisle::cli::RunFeedback},
      {"user", aisle::cli::RunUser},
      {"item", aisle::cli::RunItem},
      {"model", aisle::cli::RunModel},
      {"loadgen", aisle::cli::RunLoadgen},
      {"import", aisle::cli::RunImport},
      {"generate", aisle::cli::RunGenerate},
      {"train", aisle::cli::RunTrain},
      {"eval", aisle::cli::RunEval},
      {"models", aisle::cli::RunModels},
      {"backup", aisle::cli::RunBackup},
      {"restore", aisle::cli::RunRestore},
  };
  for (const Entry& entry : kCommands) {
    if (entry.name == command) return entry.run(args);
  }
  aisle::cli::PrintError("unknown command '" + command + "'",
                         "run 'aisle --help' for the list of commands");
  return aisle::cli::kExitUsage;
}
