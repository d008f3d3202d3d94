// Admin commands: stored model versions (models list|activate|rollback, on
// a data dir or through a server), backup, restore, version.
#include <google/protobuf/stubs/common.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/rpc.h"
#include "cli/text.h"
#include "core/model.h"
#include "grpcpp/grpcpp.h"
#include "spdlog/version.h"
#include "storage/store.h"

namespace aisle::cli {
namespace {

namespace fs = std::filesystem;

// One row of `models list`, from either source.
struct ModelRow {
  std::string version;
  int64_t trained_at_ms = 0;
  int factors = 0;
  int64_t users = 0;
  int64_t items = 0;
  int64_t interactions = 0;
  std::map<std::string, double> metrics;
  std::string size;
};

std::string NdcgText(const std::map<std::string, double>& metrics) {
  for (const char* key : {"ndcg@10", "holdout_ndcg@10"}) {
    if (auto it = metrics.find(key); it != metrics.end()) {
      return FormatFixed(it->second, 4);
    }
  }
  return "";
}

void PrintModelTable(const std::vector<ModelRow>& rows,
                     const std::string& active, const std::string& previous) {
  if (rows.empty()) {
    std::cout << "no stored models (train one with `aisle train --data-dir "
                 "DIR`)\n";
    return;
  }
  Table table({"", "version", "trained", "factors", "users", "items",
               "interactions", "ndcg@10", "bytes"});
  for (const ModelRow& row : rows) {
    std::string mark = row.version == active     ? "*"
                       : row.version == previous ? "prev"
                                                 : "";
    table.AddRow({mark, row.version, FormatTimeMs(row.trained_at_ms),
                  Cat(row.factors), FormatCount(row.users),
                  FormatCount(row.items), FormatCount(row.interactions),
                  NdcgText(row.metrics), row.size});
  }
  std::cout << table.Render();
  std::cout << "active: " << (active.empty() ? "(none)" : active) << "\n";
}

int ModelsList(const std::string& data_dir, const ClientFlags& client) {
  if (!client.target.empty()) {
    RecommenderClient rpc(client);
    v1::ListModelsResponse response;
    if (auto exit = rpc.CallOrExit(&RecommenderClient::Stub::ListModels,
                                   v1::ListModelsRequest(), &response)) {
      return *exit;
    }
    std::vector<ModelRow> rows;
    for (const v1::ModelInfo& m : response.models()) {
      ModelRow row;
      row.version = m.version();
      row.trained_at_ms = m.trained_at_ms();
      row.factors = m.factors();
      row.users = m.users();
      row.items = m.items();
      row.interactions = m.interactions();
      row.metrics = {m.metrics().begin(), m.metrics().end()};
      rows.push_back(std::move(row));
    }
    PrintModelTable(rows, response.active_version(), "");
    return kExitOk;
  }
  // Read-only works next to a running server.
  StoreOrError store = OpenExisting(data_dir, /*read_only=*/true);
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitFailure;
  }
  absl::StatusOr<std::vector<storage::StoredModel>> models =
      (*store)->ListModels();
  absl::StatusOr<std::string> active = (*store)->GetActiveModel();
  absl::StatusOr<std::string> previous = (*store)->GetPreviousActiveModel();
  for (const absl::Status& s :
       {models.status(), active.status(), previous.status()}) {
    if (!s.ok()) {
      PrintError(s.message());
      return kExitFailure;
    }
  }
  std::vector<ModelRow> rows;
  for (const storage::StoredModel& m : *models) {
    ModelRow row;
    row.version = m.metadata.version;
    row.trained_at_ms = m.metadata.trained_at_ms;
    row.factors = m.metadata.factors;
    row.users = m.metadata.users;
    row.items = m.metadata.items;
    row.interactions = m.metadata.interactions;
    row.metrics = m.metadata.metrics;
    row.size = FormatCount(m.blob_bytes);
    rows.push_back(std::move(row));
  }
  PrintModelTable(rows, *active, *previous);
  return kExitOk;
}

int ModelsActivate(const std::string& data_dir, const ClientFlags& client,
                   const std::string& version, bool rollback) {
  if (!client.target.empty()) {
    v1::ActivateModelRequest request;
    request.set_version(version);
    request.set_rollback(rollback);
    v1::ModelInfo info;
    if (auto exit = RecommenderClient(client).CallOrExit(
            &RecommenderClient::Stub::ActivateModel, request, &info)) {
      return *exit;
    }
    std::cout << "active model: " << info.version() << " (served by "
              << client.target << ")\n";
    return kExitOk;
  }
  StoreOrError store = OpenExisting(data_dir, /*read_only=*/false);
  if (!store.ok()) {
    PrintOpenError(store.status(),
                   "a server is running on this data dir: use --target "
                   "host:port so the server switches models itself");
    return kExitFailure;
  }
  std::string target_version = version;
  if (rollback) {
    absl::StatusOr<std::string> previous = (*store)->GetPreviousActiveModel();
    if (!previous.ok()) {
      PrintError(previous.status().message());
      return kExitFailure;
    }
    if (previous->empty()) {
      PrintError("no previous active model to roll back to",
                 "list versions with `aisle models list` and use `aisle "
                 "models activate VERSION`");
      return kExitFailure;
    }
    target_version = *previous;
  }
  // A model that does not load must never become active.
  absl::StatusOr<std::string> blob = (*store)->GetModelBlob(target_version);
  if (!blob.ok()) {
    PrintError(blob.status().message(),
               absl::IsNotFound(blob.status())
                   ? "list versions with `aisle models list`"
                   : "");
    return kExitFailure;
  }
  if (auto model = core::FactorModel::Deserialize(*blob, core::ModelOptions{});
      !model.ok()) {
    PrintError(Cat("model ", target_version,
                   " does not load: ", model.status().message()),
               "activate another version, or train a new one");
    return kExitFailure;
  }
  if (absl::Status s = (*store)->SetActiveModel(target_version); !s.ok()) {
    PrintError(s.message());
    return kExitFailure;
  }
  std::cout << "active model: " << target_version
            << " (takes effect when `aisle serve` starts on " << data_dir
            << ")\n";
  return kExitOk;
}

}  // namespace

int RunModels(const Args& args) {
  if (!args.empty() && args[0] == "import") {
    return RunModelsImport(Args(args.begin() + 1, args.end()));
  }
  std::string data_dir;
  ClientFlags client;
  client.target = "";
  FlagParser parser(
      "aisle models list | activate VERSION | rollback  (--data-dir DIR | "
      "--target HOST:PORT)\n       aisle models import --data-dir DIR "
      "--item-factors PATH (see aisle models import --help)",
      "list: stored model versions, newest first (* = active). With "
      "--data-dir it reads the store read-only, so it also works next to a "
      "running server.\n"
      "activate / rollback: make VERSION (or the previously active version) "
      "the active one. With --target the server loads it in the background "
      "and swaps it in; with --data-dir (server stopped) the store is "
      "changed and the next `aisle serve` uses it.");
  parser.String("data-dir", &data_dir, "data directory");
  client.Register(parser);
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (data_dir.empty() == client.target.empty()) {
    return UsageError(parser, "give exactly one of --data-dir and --target");
  }
  if (positional.empty()) {
    return UsageError(parser, "expected list, activate VERSION or rollback");
  }
  const std::string& verb = positional[0];
  if (verb == "list" && positional.size() == 1) {
    return ModelsList(data_dir, client);
  }
  if (verb == "activate" && positional.size() == 2) {
    return ModelsActivate(data_dir, client, positional[1], false);
  }
  if (verb == "rollback" && positional.size() == 1) {
    return ModelsActivate(data_dir, client, "", true);
  }
  return UsageError(parser, "expected list, activate VERSION or rollback");
}

int RunBackup(const Args& args) {
  std::string data_dir;
  std::string to;
  FlagParser parser(
      "aisle backup --data-dir DIR --to BACKUP_DIR",
      "Writes a consistent point-in-time copy of a data directory into "
      "BACKUP_DIR (which must not exist). Works whether or not a server is "
      "running on DIR; files are hard-linked when on the same file system. "
      "Restore it with `aisle restore`.");
  parser.String("data-dir", &data_dir, "data directory (required)");
  parser.String("to", &to, "backup directory to create (required)");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (data_dir.empty() || to.empty()) {
    return UsageError(parser, "--data-dir and --to are required");
  }
  if (fs::exists(to)) {
    PrintError(Cat(to, " already exists"), "choose a new backup path");
    return kExitFailure;
  }
  bool server_running = false;
  StoreOrError store = OpenBesideServer(
      [&](bool read_only) { return OpenExisting(data_dir, read_only); },
      &server_running);
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitFailure;
  }
  if (absl::Status s = (*store)->Checkpoint(to); !s.ok()) {
    PrintError(Cat("backup failed: ", s.message()),
               server_running ? "a server is running on the data dir; retry "
                                "(its compactions can race the copy)"
                              : "");
    return kExitFailure;
  }
  std::cout << "backup of " << data_dir << " written to " << to
            << (server_running ? " (taken next to the running server)" : "")
            << "\nrestore with: aisle restore --from " << to
            << " --data-dir NEW_DIR\n";
  return kExitOk;
}

int RunRestore(const Args& args) {
  std::string from;
  std::string data_dir;
  FlagParser parser(
      "aisle restore --from BACKUP_DIR --data-dir DIR",
      "Restores a backup made by `aisle backup` into DIR, which must be "
      "empty or absent (a non-empty data dir is never overwritten). The "
      "backup is left unchanged. Start the server on DIR afterwards.");
  parser.String("from", &from, "backup directory (required)");
  parser.String("data-dir", &data_dir, "data directory to create (required)");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (from.empty() || data_dir.empty()) {
    return UsageError(parser, "--from and --data-dir are required");
  }
  if (absl::Status s = storage::RestoreCheckpoint(from, data_dir); !s.ok()) {
    PrintError(Cat("restore failed: ", s.message()));
    return kExitFailure;
  }
  std::cout << "restored " << from << " into " << data_dir
            << "\nstart the server with: aisle serve --data-dir " << data_dir
            << "\n";
  return kExitOk;
}

int RunVersion(const Args& args) {
  FlagParser parser("aisle version",
                    "Prints the version and build information.");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
#ifdef NDEBUG
  constexpr const char* kBuildType = "release";
#else
  constexpr const char* kBuildType = "debug";
#endif
#ifdef __AVX2__
  constexpr const char* kSimd = "avx2";
#else
  constexpr const char* kSimd = "baseline x86-64";
#endif
  std::cout << "aisle " << AISLE_VERSION << "\n"
            << "build:    " << kBuildType << ", C++" << __cplusplus / 100 % 100
            << ", " << __VERSION__ << ", " << kSimd << "\n"
            << "gRPC:     " << grpc::Version() << "\n"
            << "protobuf: "
            << google::protobuf::internal::VersionString(
                   GOOGLE_PROTOBUF_VERSION)
            << "\n"
            << "abseil:   " << ABSL_LTS_RELEASE_VERSION << "\n"
            << "Eigen:    " << EIGEN_WORLD_VERSION << "." << EIGEN_MAJOR_VERSION
            << "." << EIGEN_MINOR_VERSION << "\n"
            << "spdlog:   " << SPDLOG_VER_MAJOR << "." << SPDLOG_VER_MINOR
            << "." << SPDLOG_VER_PATCH << "\n";
  return kExitOk;
}

}  // namespace aisle::cli
