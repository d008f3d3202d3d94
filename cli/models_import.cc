// `aisle models import`: a factor model trained elsewhere (Spark MLlib ALS,
// implicit, or any matrix factorisation with item vectors) stored as an
// Aisle model version. Only item vectors are kept: Aisle re-solves each
// user's vector from their events (fold-in) with the given alpha and
// regularization, and never stores user vectors (docs/security.md,
// "Erasure"), so user vectors, when given, are only checked against the
// item vectors' shape.
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/cluster_training.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/factor_files.h"
#include "cli/flags.h"
#include "cli/model_delivery.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/model.h"
#include "core/training.h"
#include "server/validation.h"

namespace aisle::cli {
namespace {

// Catalog items with and without a vector, and vectors for no catalog item.
struct Coverage {
  int64_t catalog = 0;
  int64_t catalog_with_vector = 0;
  int64_t vectors_without_item = 0;
};

absl::StatusOr<Coverage> CatalogCoverage(const storage::Store& store,
                                         const std::vector<std::string>& ids) {
  const absl::flat_hash_set<std::string> vectors(ids.begin(), ids.end());
  absl::flat_hash_set<std::string> catalog;
  absl::Status s = store.ScanItems([&](std::span<const core::Item> batch) {
    for (const core::Item& item : batch) catalog.insert(item.item_id);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Coverage c;
  c.catalog = static_cast<int64_t>(catalog.size());
  for (const std::string& id : catalog)
    c.catalog_with_vector += vectors.count(id);
  for (const std::string& id : ids)
    c.vectors_without_item += !catalog.count(id);
  return c;
}

}  // namespace

int RunModelsImport(const Args& args) {
  std::string data_dir;
  std::string item_factors;
  std::string user_factors;
  std::string version;
  double alpha = core::AlsOptions().alpha;
  double regularization = core::AlsOptions().regularization;
  bool activate = true;
  FlagParser parser(
      "aisle models import --data-dir DIR --item-factors PATH [flags]",
      "Stores item factor vectors trained elsewhere (e.g. Spark MLlib ALS) "
      "as a new model version of DIR; activates it unless --no-activate. "
      "PATH is a file or a directory of files (Spark's "
      "`model.itemFactors.write.json(PATH)` output is read as is): lines "
      "ID<TAB>v1 v2 ... vk, or JSON lines {\"id\": ..., \"features\": "
      "[...]}. Users get their vectors from their events (fold-in, with "
      "--alpha and --regularization, which should match training). As with "
      "`aisle train`, a running server on DIR gets the model through its "
      "model inbox; with --cluster the catalog is the cluster's log and "
      "the model is published to every node as `aisle train --cluster` "
      "does (docs/cluster.md). Format and Spark recipe: docs/models.md.");
  parser.String("data-dir", &data_dir, "data directory (required)");
  ClusterFlags cluster;
  cluster.Register(parser);
  parser.String("item-factors", &item_factors,
                "item vectors: file or directory (required)");
  parser.String("user-factors", &user_factors,
                "user vectors, checked only (Aisle stores none)");
  parser.Double("alpha", &alpha,
                "implicit confidence c = 1 + alpha * r used by training");
  parser.Double("regularization", &regularization,
                "L2 weight used by training (per user, not scaled by the "
                "user's count)");
  parser.String("version", &version,
                "version string (default: <UTC time>-<4 hex>)");
  parser.Bool("activate", &activate,
              "make the new version active (--no-activate stores only)");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (data_dir.empty()) return UsageError(parser, "--data-dir is required");
  if (item_factors.empty()) {
    return UsageError(parser, "--item-factors is required");
  }
  if (!(alpha > 0)) return UsageError(parser, "--alpha: must be > 0");
  if (!(regularization > 0)) {
    return UsageError(parser, "--regularization: must be > 0");
  }
  if (!version.empty()) {
    if (absl::Status s = server::ValidateId(version, "--version"); !s.ok()) {
      return UsageError(parser, s.message());
    }
  }

  absl::StatusOr<FactorFile> items =
      ReadFactorFile(item_factors, "--item-factors");
  if (!items.ok()) {
    PrintError(items.status().message(),
               "fix the file, or see docs/models.md for the format");
    return kExitFailure;
  }
  std::cerr << absl::StrFormat(
      "read %s item vectors of %d factors from %d "
      "file(s)\n",
      FormatCount(static_cast<int64_t>(items->ids.size())), items->factors,
      items->files);
  int64_t users_checked = 0;
  if (!user_factors.empty()) {
    absl::StatusOr<FactorFile> users =
        ReadFactorFile(user_factors, "--user-factors");
    if (!users.ok()) {
      PrintError(users.status().message(),
                 "fix the file, or see docs/models.md for the format");
      return kExitFailure;
    }
    if (users->factors != items->factors) {
      PrintError(absl::StrFormat("--user-factors: vectors of %d factors, the "
                                 "item vectors have %d",
                                 users->factors, items->factors),
                 "give the user and item factors of the same model");
      return kExitFailure;
    }
    users_checked = static_cast<int64_t>(users->ids.size());
  }

  bool server_running = false;
  std::unique_ptr<ClusterFollower> follower;
  StoreOrError store = absl::FailedPreconditionError("no store");
  if (cluster.enabled()) {
    // The catalog is the cluster's log; the model goes to every node.
    follower = StartFollowerOrReport(cluster, data_dir);
    if (follower == nullptr) return kExitFailure;
  } else {
    store = OpenBesideServer(
        [&](bool read_only) { return OpenExisting(data_dir, read_only); },
        &server_running);
  }
  if (follower == nullptr && !store.ok()) {
    PrintError(store.status().message(),
               "create the data dir first: aisle import --data-dir DIR "
               "--items FILE");
    return kExitFailure;
  }
  absl::StatusOr<Coverage> coverage = CatalogCoverage(
      follower != nullptr ? follower->store() : **store, items->ids);
  if (!coverage.ok()) {
    PrintError(Cat("reading the catalog of ", data_dir, ": ",
                   coverage.status().message()));
    return kExitFailure;
  }

  const absl::Time now = absl::Now();
  core::ModelMetadata meta;
  meta.version = version.empty()
                     ? core::ModelVersion(
                           now, static_cast<uint64_t>(absl::ToUnixNanos(now)))
                     : version;
  meta.trained_at_ms = absl::ToUnixMillis(now);
  meta.factors = items->factors;
  meta.items = static_cast<int64_t>(items->ids.size());
  meta.parameters = {
      {"factors", absl::StrCat(items->factors)},
      {"alpha", absl::StrCat(alpha)},
      {"regularization", absl::StrCat(regularization)},
      {"source", "import"},
      {"imported_from",
       std::filesystem::path(item_factors).filename().string()},
  };
  core::ModelOptions model_options;
  model_options.defer_ann = true;  // the server builds (and caches) it
  absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
      core::FactorModel::Create(
          meta, std::move(items->ids), std::move(items->vectors), {},
          core::RowMatrix(0, items->factors), model_options);
  if (!model.ok()) {
    PrintError(Cat("building the model: ", model.status().message()));
    return kExitFailure;
  }
  absl::StatusOr<std::string> where =
      follower != nullptr
          ? follower->Deliver(meta, (*model)->Serialize(), activate)
          : DeliverModel(data_dir, server_running, **store, meta,
                         (*model)->Serialize(), activate);
  if (!where.ok()) {
    PrintError(where.status().message());
    return kExitFailure;
  }
  std::cout << "model " << meta.version << ": " << FormatCount(meta.items)
            << " item vectors, " << meta.factors << " factors (imported)\n";
  std::cout << absl::StrFormat(
      "  catalog: %s of %s items have a vector; %s vectors are for items "
      "not in the catalog (kept: they serve once the items are upserted)\n",
      FormatCount(coverage->catalog_with_vector),
      FormatCount(coverage->catalog),
      FormatCount(coverage->vectors_without_item));
  if (users_checked > 0) {
    std::cout << "  " << FormatCount(users_checked)
              << " user vectors checked, not stored (users are re-solved "
                 "from their events)\n";
  }
  std::cout << *where << "\n";
  return kExitOk;
}

}  // namespace aisle::cli
