#include "server/model_manager.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path.string()));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::UnavailableError(
        absl::StrCat("error reading ", path.string()));
  }
  return std::move(contents).str();
}

// The inbox's complete drops, in name (= training time) order.
absl::StatusOr<std::vector<fs::path>> ListInbox(const fs::path& inbox) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(inbox, ec)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(inbox, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".model") {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listing ", inbox.string(), ": ", ec.message()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::string ModelInboxDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "model-inbox").string();
}

std::string AnnCacheDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "ann").string();
}

void PruneAnnCache(const storage::Store& store, const std::string& dir) {
  absl::StatusOr<std::vector<storage::StoredModel>> models = store.ListModels();
  if (!models.ok()) {
    spdlog::warn("not pruning the ANN cache: {}", models.status().ToString());
    return;
  }
  core::ModelOptions cache;
  cache.ann_cache_dir = dir;
  std::set<std::string> kept;
  for (const storage::StoredModel& m : *models) {
    const std::string name =
        fs::path(core::AnnCachePath(cache, m.metadata.version))
            .filename()
            .string();
    kept.insert(name);
    kept.insert(name + ".sum");
    kept.insert(name + ".cosine");
  }
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (kept.count(name) > 0) continue;
    fs::remove(entry.path(), ec);
    if (ec)
      spdlog::warn("cannot remove {}: {}", entry.path().string(), ec.message());
  }
}

ModelManager::ModelManager(core::Engine* engine, storage::Store* store,
                           Metrics* metrics, core::ModelOptions options,
                           std::string inbox_dir)
    : engine_(engine),
      store_(store),
      metrics_(metrics),
      options_(std::move(options)),
      inbox_dir_(std::move(inbox_dir)) {}

void ModelManager::ServeLocked(std::shared_ptr<const core::FactorModel> model,
                               IndexBuild index) {
  std::string version = model != nullptr ? model->version() : "";
  int64_t trained_at = model != nullptr ? model->metadata().trained_at_ms : 0;
  engine_->SwapModel(std::move(model),
                     index == IndexBuild::kInBackground
                         ? core::Engine::StoredIndex::kLoadAfterSwap
                         : core::Engine::StoredIndex::kLoadBeforeSwap);
  metrics_->SetModel(version, trained_at);
}

void ModelManager::Serve(std::shared_ptr<const core::FactorModel> model) {
  absl::MutexLock lock(&mu_);
  ServeLocked(std::move(model));
}

core::ModelOptions ModelManager::DeferredIndexOptions() const {
  core::ModelOptions options = options_;
  options.defer_ann = true;
  return options;
}

absl::StatusOr<core::ModelMetadata> ModelManager::Activate(
    const std::string& requested, bool rollback, IndexBuild index) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> resolved = ResolveVersion(requested, rollback);
  if (!resolved.ok()) return resolved.status();
  const std::string& version = *resolved;
  absl::StatusOr<std::string> blob = store_->GetModelBlob(version);
  if (absl::IsNotFound(blob.status())) {
    return absl::NotFoundError(
        absl::StrCat("model version \"", version, "\" is not stored"));
  }
  if (!blob.ok()) return blob.status();
  // A version whose index the ANN cache keeps (it served before: a
  // rollback) is loaded without one, and the engine reads the index from
  // the cache before the swap: seconds instead of minutes at 1M items.
  const std::string cache_path = core::AnnCachePath(options_, version);
  std::error_code ec;
  const bool defer = index == IndexBuild::kInBackground ||
                     (!cache_path.empty() && fs::exists(cache_path, ec));
  absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
      core::FactorModel::Deserialize(*blob,
                                     defer ? DeferredIndexOptions() : options_);
  if (!model.ok()) {
    spdlog::error("model {} cannot be loaded, keeping the current one: {}",
                  version, model.status().ToString());
    return absl::FailedPreconditionError(
        absl::StrCat("model version \"", version,
                     "\" cannot be loaded (the current version keeps "
                     "serving): ",
                     model.status().message()));
  }
  if (absl::Status s = store_->SetActiveModel(version); !s.ok()) return s;
  core::ModelMetadata metadata = (*model)->metadata();
  // An index built here is kept, so that the next start (or a swap back)
  // loads it instead of searching exactly while it is built again.
  if (const core::AnnIndex* built = (*model)->ann();
      built != nullptr && !cache_path.empty()) {
    if (absl::Status saved = built->Save(cache_path); !saved.ok()) {
      spdlog::warn(
          "the ANN index of model {} is not kept for the next start: {}",
          version, saved.ToString());
    }
  }
  ServeLocked(*std::move(model), index);
  spdlog::info("model {} activated{}", version, rollback ? " (rollback)" : "");
  return metadata;
}

absl::StatusOr<std::string> ModelManager::ResolveVersion(
    const std::string& version, bool rollback) const {
  if (!version.empty() || !rollback) return version;
  absl::StatusOr<std::string> previous = store_->GetPreviousActiveModel();
  if (!previous.ok()) return previous.status();
  if (previous->empty()) {
    return absl::FailedPreconditionError(
        "rollback: there is no previous model version");
  }
  return *std::move(previous);
}

absl::StatusOr<core::ModelMetadata> ModelManager::StoreLocked(
    std::string_view blob, const core::ModelOptions& options,
    std::shared_ptr<const core::FactorModel>* out) {
  absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
      core::FactorModel::Deserialize(blob, options);
  if (!model.ok()) return model.status();
  core::ModelMetadata metadata = (*model)->metadata();
  // A model trained by an older build holds user vectors; none are stored.
  std::string without_users;
  if ((*model)->num_users() > 0) {
    without_users = (*model)->SerializeWithoutUsers();
    blob = without_users;
  }
  if (absl::Status s = store_->PutModel(metadata, blob); !s.ok()) return s;
  *out = *std::move(model);
  return metadata;
}

absl::StatusOr<core::ModelMetadata> ModelManager::Install(
    std::string_view blob) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<const core::FactorModel> model;
  absl::StatusOr<core::ModelMetadata> metadata =
      StoreLocked(blob, options_, &model);
  if (!metadata.ok()) return metadata.status();
  if (absl::Status s = store_->SetActiveModel(metadata->version); !s.ok()) {
    return s;
  }
  ServeLocked(std::move(model));
  spdlog::info("model {} installed from the inbox and activated",
               metadata->version);
  return metadata;
}

absl::StatusOr<core::ModelMetadata> ModelManager::Store(std::string_view blob) {
  absl::MutexLock lock(&mu_);
  // Loaded only to be checked: building its index would be wasted (and
  // would hold the log applier that fetched it).
  std::shared_ptr<const core::FactorModel> model;
  return StoreLocked(blob, DeferredIndexOptions(), &model);
}

void ModelManager::SetInboxActivation(
    std::function<absl::Status(const std::string& version)> activate) {
  inbox_activation_ = std::move(activate);
}

absl::StatusOr<int> ModelManager::StripStoredUserVectors() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<storage::StoredModel>> stored =
      store_->ListModels();
  if (!stored.ok()) return stored.status();
  const core::ModelOptions options = DeferredIndexOptions();
  int rewritten = 0;
  for (const storage::StoredModel& m : *stored) {
    absl::StatusOr<std::string> blob = store_->GetModelBlob(m.metadata.version);
    if (!blob.ok()) continue;
    absl::StatusOr<int64_t> users = core::FactorModel::PeekUserVectors(*blob);
    if (!users.ok() || *users == 0) continue;
    absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
        core::FactorModel::Deserialize(*blob, options);
    if (!model.ok()) continue;
    absl::Status put = store_->PutModel((*model)->metadata(),
                                        (*model)->SerializeWithoutUsers());
    if (!put.ok()) return put;
    ++rewritten;
  }
  if (rewritten > 0) {
    if (absl::Status purged = store_->PurgeDeleted(); !purged.ok()) {
      return purged;
    }
    spdlog::info("rewrote {} stored model versions without user vectors",
                 rewritten);
  }
  return rewritten;
}

absl::Status ModelManager::LoadAtStartup() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> active = store_->GetActiveModel();
  if (!active.ok()) return active.status();
  absl::StatusOr<std::string> previous = store_->GetPreviousActiveModel();
  if (!previous.ok()) return previous.status();
  // Serving starts without waiting for an ANN index to be built: the
  // engine loads a cached one before the swap (ModelOptions::
  // ann_cache_dir) or builds it in the background, searching exactly
  // until then.
  const core::ModelOptions options = DeferredIndexOptions();
  for (const std::string& version : {*active, *previous}) {
    if (version.empty()) continue;
    const auto load_start = core::SteadyClock::now();
    absl::StatusOr<std::string> blob = store_->GetModelBlob(version);
    if (!blob.ok() && !absl::IsNotFound(blob.status())) return blob.status();
    absl::StatusOr<std::shared_ptr<const core::FactorModel>> model =
        blob.ok() ? core::FactorModel::Deserialize(*blob, options)
                  : absl::StatusOr<std::shared_ptr<const core::FactorModel>>(
                        blob.status());
    if (!model.ok()) {
      spdlog::error(
          "model {} cannot be loaded ({}); falling back to the previous "
          "active version, if any",
          version, model.status().ToString());
      continue;
    }
    spdlog::info("model {} loaded in {:.2f} s: {} items, {} users, {} MB",
                 version, core::SecondsSince(load_start), (*model)->num_items(),
                 (*model)->num_users(), (*model)->MemoryBytes() >> 20);
    ServeLocked(*std::move(model));
    if (version != *active) {
      spdlog::warn("serving the previous model {} instead of {}", version,
                   *active);
    }
    return absl::OkStatus();
  }
  if (!active->empty()) {
    spdlog::error(
        "no stored model could be loaded; serving without a factor "
        "model (popularity and co-occurrence only)");
  }
  ServeLocked(nullptr);
  return absl::OkStatus();
}

absl::Status ModelManager::PollInboxOnce() {
  absl::StatusOr<std::vector<fs::path>> files = ListInbox(inbox_dir_);
  if (!files.ok()) return files.status();
  for (const fs::path& file : *files) {
    absl::StatusOr<std::string> blob = ReadFile(file);
    if (!blob.ok()) return blob.status();
    absl::StatusOr<core::ModelMetadata> installed =
        inbox_activation_ ? Store(*blob) : Install(*blob);
    std::error_code ec;
    if (absl::IsDataLoss(installed.status()) ||
        absl::IsInvalidArgument(installed.status())) {
      fs::path rejected = file;
      rejected += ".rejected";
      fs::rename(file, rejected, ec);
      spdlog::error("model inbox: {} rejected ({}); moved to {}", file.string(),
                    installed.status().ToString(), rejected.string());
      continue;
    }
    if (!installed.ok()) {
      return absl::Status(installed.status().code(),
                          absl::StrCat("installing ", file.string(), ": ",
                                       installed.status().message()));
    }
    if (inbox_activation_) {
      // Cluster mode: activated through the log, on every node alike.
      if (absl::Status s = inbox_activation_(installed->version); !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("activating ", installed->version,
                                   " from the inbox through the cluster (the "
                                   "file stays, retried next poll): ",
                                   s.message()));
      }
      spdlog::info(
          "model {} from the inbox stored; its activation is logged for "
          "every node",
          installed->version);
    }
    fs::remove(file, ec);
    if (ec) {
      spdlog::warn("model inbox: could not delete {}: {}", file.string(),
                   ec.message());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelManager::Listing> ModelManager::List() const {
  absl::StatusOr<std::vector<storage::StoredModel>> models =
      store_->ListModels();
  if (!models.ok()) return models.status();
  absl::StatusOr<std::string> active = store_->GetActiveModel();
  if (!active.ok()) return active.status();
  return Listing{*std::move(models), *std::move(active)};
}

}  // namespace aisle::server
