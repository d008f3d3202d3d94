#include "server/cluster_models.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "spdlog/spdlog.h"

namespace aisle::server {

std::string ModelBucketName(const std::string& stream) {
  return stream + "_MODELS";
}

ClusterModels::ClusterModels(cluster::BlobStore* blobs, storage::Store* store,
                             ModelManager* models, Metrics* metrics,
                             ClusterModelsOptions options)
    : blobs_(blobs),
      store_(store),
      models_(models),
      metrics_(metrics),
      options_(options) {}

absl::StatusOr<bool> ClusterModels::StoredHere(
    const std::string& version) const {
  absl::StatusOr<std::vector<storage::StoredModel>> stored =
      store_->ListModels();
  if (!stored.ok()) return stored.status();
  for (const storage::StoredModel& m : *stored) {
    if (m.metadata.version == version) return true;
  }
  return false;
}

absl::Status ClusterModels::Publish(const std::string& version) {
  absl::StatusOr<std::optional<cluster::BlobInfo>> in_bucket =
      blobs_->Stat(version);
  if (in_bucket.ok() && in_bucket->has_value()) return absl::OkStatus();
  if (!in_bucket.ok() && !absl::IsDataLoss(in_bucket.status())) {
    return in_bucket.status();
  }
  absl::StatusOr<std::string> blob = store_->GetModelBlob(version);
  if (absl::IsNotFound(blob.status())) {
    return absl::NotFoundError(absl::StrCat(
        "model version \"", version,
        "\" is not stored on this node nor in the cluster's model bucket"));
  }
  if (!blob.ok()) return blob.status();
  const auto start = core::SteadyClock::now();
  absl::StatusOr<cluster::BlobInfo> put = blobs_->Put(version, *blob);
  if (!put.ok()) return put.status();
  spdlog::info(
      "cluster: model {} published to the model bucket ({} bytes, {} "
      "chunks) in {:.2f} s",
      version, put->size, put->chunks, core::SecondsSince(start));
  return absl::OkStatus();
}

absl::Status ClusterModels::EnsureStored(const std::string& version) {
  absl::StatusOr<bool> here = StoredHere(version);
  if (!here.ok()) return here.status();
  if (*here) return absl::OkStatus();
  const auto start = core::SteadyClock::now();
  absl::Duration wait = options_.retry_wait;
  absl::StatusOr<std::string> blob = absl::UnavailableError("not tried");
  for (int attempt = 1; attempt <= options_.fetch_attempts; ++attempt) {
    spdlog::info(
        "cluster: model {} is not stored on this node; fetching it from the "
        "model bucket (attempt {}/{})",
        version, attempt, options_.fetch_attempts);
    blob = blobs_->Get(version);
    if (!absl::IsUnavailable(blob.status())) break;
    spdlog::warn("cluster: fetching model {}: {}", version,
                 blob.status().ToString());
    if (attempt < options_.fetch_attempts) {
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(wait));
      wait *= 2;
    }
  }
  const double seconds = core::SecondsSince(start);
  if (absl::IsUnavailable(blob.status())) {
    metrics_->ModelFetched("unavailable", seconds);
    return absl::UnavailableError(absl::StrCat(
        "model ", version, " could not be fetched after ",
        options_.fetch_attempts, " attempts: ", blob.status().message()));
  }
  if (absl::IsNotFound(blob.status())) {
    metrics_->ModelFetched("not_found", seconds);
    spdlog::error("cluster: model {} cannot be activated here: {}", version,
                  blob.status().ToString());
    return blob.status();
  }
  if (!blob.ok()) {
    metrics_->ModelFetched("refused", seconds);
    spdlog::error(
        "cluster: model {} refused ({}); the current model keeps serving",
        version, blob.status().ToString());
    return absl::FailedPreconditionError(absl::StrCat(
        "model version \"", version, "\" refused: ", blob.status().message()));
  }
  absl::StatusOr<core::ModelMetadata> stored = models_->Store(*blob);
  if (absl::IsInvalidArgument(stored.status()) ||
      absl::IsDataLoss(stored.status())) {
    metrics_->ModelFetched("refused", seconds);
    return absl::FailedPreconditionError(absl::StrCat(
        "model version \"", version,
        "\" from the bucket does not load: ", stored.status().message()));
  }
  if (!stored.ok()) return stored.status();  // this node's store: retried
  if (stored->version != version) {
    metrics_->ModelFetched("refused", seconds);
    return absl::FailedPreconditionError(
        absl::StrCat("the bucket's blob \"", version, "\" holds version \"",
                     stored->version, "\""));
  }
  metrics_->ModelFetched("ok", seconds);
  spdlog::info("cluster: model {} fetched ({} bytes) and stored in {:.2f} s",
               version, blob->size(), core::SecondsSince(start));
  return absl::OkStatus();
}

}  // namespace aisle::server
