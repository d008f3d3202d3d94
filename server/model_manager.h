// ModelManager: the life cycle of model versions in a running server:
// load, activate, roll back, install from the model inbox, and the
// start-up load. A version goes live by a pointer swap (Engine::SwapModel):
// requests in flight keep the version they started with, and a serving
// model is never changed in place.
//
// Every change runs the same steps under one mutex: read and deserialize
// the blob (the expensive part; a blob that does not load leaves the
// serving version untouched), record it as active in the store, swap it
// into the engine, update the model metrics. So the store's active version
// and the served one agree after each change.
//
// The model inbox (ModelInboxDir) is where `aisle train` drops
// "<version>.model" files next to a live server (written to a temporary
// name and renamed, so a file with that extension is complete).
// PollInboxOnce installs them in name order (versions sort by training
// time, so the newest ends up active) and deletes them; a file that does
// not deserialize is renamed to "<name>.rejected" and logged. In cluster
// mode (SetInboxActivation) inbox models are stored here and activated
// through the log, on every node at once, instead.
//
// Example (start-up, then the RPC and the poller):
//   ModelManager models(&engine, &store, &metrics, options, inbox_dir);
//   RETURN_IF_ERROR(models.LoadAtStartup());
//   ASSIGN_OR_RETURN(core::ModelMetadata m, models.Activate("v2", false));
//   RETURN_IF_ERROR(models.PollInboxOnce());
//
// Thread safety: all methods may be called concurrently; changes are
// serialized. They block for as long as loading takes (seconds for large
// models): call them off the gRPC threads.
#ifndef AISLE_SERVER_MODEL_MANAGER_H_
#define AISLE_SERVER_MODEL_MANAGER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/engine.h"
#include "core/model.h"
#include "server/metrics.h"
#include "storage/store.h"

namespace aisle::server {

// "<data_dir>/model-inbox": the directory `aisle train` drops models into.
std::string ModelInboxDir(const std::string& data_dir);

// "<data_dir>/ann": the engine's cache of built ANN indexes, one file pair
// per model version (core::ModelOptions::ann_cache_dir).
std::string AnnCacheDir(const std::string& data_dir);

// Deletes the cached indexes of versions the store no longer holds (pruned
// by models_to_keep or erased). Best effort: errors are logged.
void PruneAnnCache(const storage::Store& store, const std::string& dir);

// When Activate builds the new version's ANN index.
enum class IndexBuild {
  // Before the swap: the call lasts as long as the build, and the version
  // answers with its index from its first request (single-node
  // ActivateModel). A version whose index the ANN cache keeps gets it
  // loaded from there instead (a rollback); an index built here is saved
  // there for the next start.
  kBeforeSwap,
  // After the swap, by the engine's background worker: the call returns
  // once the blob is loaded, and searches are exact until the index is in
  // place (ModelOptions::defer_ann), even when the index is only loaded
  // from the ANN cache. (Start-up loads a cached index before the swap and
  // builds a missing one after it.) Cluster mode's
  // log applier: an activation must not hold every node's applier (and
  // so every write) for the seconds a large index takes.
  kInBackground,
};

class ModelManager {
 public:
  // Borrowed pointers; all must outlive the manager. `options` are used to
  // deserialize every version (index parameters and the like).
  ModelManager(core::Engine* engine, storage::Store* store, Metrics* metrics,
               core::ModelOptions options, std::string inbox_dir);
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Activates a stored version. With an empty `version` and `rollback`,
  // the previous active version. Errors: NotFound for a version that is
  // not stored; FailedPrecondition when the blob does not load or there is
  // no previous version (the serving version is unchanged); storage
  // errors. `index` says when the ANN index is built.
  absl::StatusOr<core::ModelMetadata> Activate(
      const std::string& version, bool rollback,
      IndexBuild index = IndexBuild::kBeforeSwap);

  // The version Activate(version, rollback) would activate: `version`, or
  // with an empty one and rollback the previous active version
  // (FailedPrecondition when there is none). Storage errors.
  absl::StatusOr<std::string> ResolveVersion(const std::string& version,
                                             bool rollback) const;

  // Installs a serialized model that is not stored yet (the inbox):
  // deserialize (DataLoss or InvalidArgument for a blob that does not
  // load; nothing changes), store without user vectors, activate, swap.
  absl::StatusOr<core::ModelMetadata> Install(std::string_view blob);

  // Stores a serialized model without activating it (cluster mode: a
  // version fetched from the cluster, or an inbox drop whose activation is
  // then logged). Loads it to check it, without building its ANN index.
  // Errors as Install; the serving version is unchanged.
  absl::StatusOr<core::ModelMetadata> Store(std::string_view blob);

  // Cluster mode: the inbox poller stores each model (Store) and hands its
  // version to `activate`, which logs the activation so that every node
  // switches at the same log position, instead of activating it on this
  // node only. A file whose `activate` fails stays in the inbox and is
  // tried again at the next poll. Call before the poller starts.
  void SetInboxActivation(
      std::function<absl::Status(const std::string& version)> activate);

  // Start-up: serves the store's active version; when it does not load,
  // logs and falls back to the previous active version, else serves none
  // (popularity and co-occurrence only). A bad model never prevents
  // start-up: errors are storage failures only. The ANN index is built in
  // the background (the engine searches exactly until then).
  absl::Status LoadAtStartup();

  // Rewrites the stored versions that hold user vectors (written by builds
  // before they were dropped, core/model.h) without them, and purges the
  // old bytes from the store's files. Returns how many were rewritten; a
  // version that does not load is left for LoadAtStartup to report.
  absl::StatusOr<int> StripStoredUserVectors();

  // Serves `model` (null = none) that is already stored and recorded as
  // active (the demo model at start-up).
  void Serve(std::shared_ptr<const core::FactorModel> model);

  // One round of the inbox poller (see above). Returns the first error met
  // (a rejected file is not one: it is logged and set aside); OK when there
  // was nothing to do.
  absl::Status PollInboxOnce();

  struct Listing {
    std::vector<storage::StoredModel> models;
    std::string active_version;  // "" when none is active
  };
  absl::StatusOr<Listing> List() const;

 private:
  // Swaps `model` in and updates the model metrics. A deferred index kept
  // in the ANN cache is loaded before the swap unless `index` is
  // kInBackground (core::Engine::SwapModel).
  void ServeLocked(std::shared_ptr<const core::FactorModel> model,
                   IndexBuild index = IndexBuild::kBeforeSwap)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deserializes `blob` and stores it (without user vectors); `model` gets
  // the loaded model.
  absl::StatusOr<core::ModelMetadata> StoreLocked(
      std::string_view blob, const core::ModelOptions& options,
      std::shared_ptr<const core::FactorModel>* model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // options_ with the ANN index deferred to the engine.
  core::ModelOptions DeferredIndexOptions() const;

  core::Engine* const engine_;
  storage::Store* const store_;
  Metrics* const metrics_;
  const core::ModelOptions options_;
  const std::string inbox_dir_;
  // Set once before the poller starts (SetInboxActivation).
  std::function<absl::Status(const std::string&)> inbox_activation_;

  // Serializes model changes, so the store's active version and the served
  // one change together.
  absl::Mutex mu_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_MODEL_MANAGER_H_
