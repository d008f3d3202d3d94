// Model versions: PutModel (with pruning of old versions), GetModelBlob,
// ListModels, and the active / previous active version.
#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/string_view.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

// The store's guard on a version: "" means "no model" in the meta column
// family, and a "meta:" prefix would collide with the metadata keys.
absl::Status CheckModelVersionKey(std::string_view version) {
  if (version.empty()) {
    return absl::InvalidArgumentError("empty model version");
  }
  if (version.starts_with(kModelMetaPrefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model version '", core::ToAbsl(version),
                     "' must not start with \"meta:\""));
  }
  return absl::OkStatus();
}

absl::Status VersionNotFound(std::string_view version) {
  return absl::NotFoundError(
      absl::StrCat("model version '", core::ToAbsl(version), "' not found"));
}

}  // namespace

absl::StatusOr<std::vector<StoredModel>> Store::Impl::ListModels() const {
  std::vector<StoredModel> out;
  absl::Status s = ForEachInPrefix(
      models, kModelMetaPrefix, rocksdb::ReadOptions(), "listing models",
      [&](std::string_view key, std::string_view value) -> absl::Status {
        absl::StatusOr<StoredModel> m = DecodeStoredModel(value);
        if (!m.ok()) {
          return absl::DataLossError(
              absl::StrCat("model metadata ", core::ToAbsl(key), " in ",
                           options.data_dir, ": ", m.status().message(),
                           ": restore from a backup (aisle restore)"));
        }
        out.push_back(*std::move(m));
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  std::sort(out.begin(), out.end(),
            [](const StoredModel& a, const StoredModel& b) {
              if (a.metadata.trained_at_ms != b.metadata.trained_at_ms) {
                return a.metadata.trained_at_ms > b.metadata.trained_at_ms;
              }
              return a.metadata.version > b.metadata.version;
            });
  return out;
}

absl::Status Store::PutModel(const core::ModelMetadata& metadata,
                             std::string_view blob) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status s = CheckModelVersionKey(metadata.version); !s.ok()) {
    return s;
  }
  std::lock_guard<std::mutex> lock(impl.models_mu);
  {
    rocksdb::WriteBatch batch;
    batch.Put(impl.models, metadata.version, ToSlice(blob));
    batch.Put(impl.models, ModelMetaKey(metadata.version),
              EncodeStoredModel({metadata, static_cast<int64_t>(blob.size())}));
    if (absl::Status s = impl.Write(&batch, /*sync=*/true, "storing a model");
        !s.ok()) {
      return s;
    }
  }

  absl::StatusOr<std::vector<StoredModel>> models = impl.ListModels();
  if (!models.ok()) return models.status();
  absl::StatusOr<std::optional<std::string>> active =
      impl.GetMeta(kActiveModelKey);
  if (!active.ok()) return active.status();
  absl::StatusOr<std::optional<std::string>> previous =
      impl.GetMeta(kPreviousActiveModelKey);
  if (!previous.ok()) return previous.status();
  auto is_protected = [&](const std::string& v) {
    return v == metadata.version || (active->has_value() && **active == v) ||
           (previous->has_value() && **previous == v);
  };
  rocksdb::WriteBatch prune;
  int kept = 0;
  for (const StoredModel& m : *models) {
    const std::string& v = m.metadata.version;
    if (kept < impl.options.models_to_keep) {
      ++kept;
    } else if (!is_protected(v)) {
      prune.Delete(impl.models, v);
      prune.Delete(impl.models, ModelMetaKey(v));
    }
  }
  if (prune.Count() == 0) return absl::OkStatus();
  return impl.Write(&prune, /*sync=*/true, "pruning old models");
}

absl::StatusOr<std::string> Store::GetModelBlob(
    std::string_view version) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckModelVersionKey(version); !s.ok()) return s;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::string blob;
  rocksdb::Status s = impl.db->Get(ro, impl.models, ToSlice(version), &blob);
  if (s.IsNotFound()) return VersionNotFound(version);
  if (!s.ok()) return impl.Error(s, "reading a model");
  return blob;
}

absl::StatusOr<std::vector<StoredModel>> Store::ListModels() const {
  return impl_->ListModels();
}

absl::StatusOr<std::string> Store::GetActiveModel() const {
  absl::StatusOr<std::optional<std::string>> v =
      impl_->GetMeta(kActiveModelKey);
  if (!v.ok()) return v.status();
  return v->value_or("");
}

absl::StatusOr<std::string> Store::GetPreviousActiveModel() const {
  absl::StatusOr<std::optional<std::string>> v =
      impl_->GetMeta(kPreviousActiveModelKey);
  if (!v.ok()) return v.status();
  return v->value_or("");
}

absl::Status Store::SetActiveModel(std::string_view version) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status s = CheckModelVersionKey(version); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(impl.models_mu);
  std::string ignored;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.models,
                                   ModelMetaKey(version), &ignored);
  if (s.IsNotFound()) return VersionNotFound(version);
  if (!s.ok()) return impl.Error(s, "reading model metadata");
  absl::StatusOr<std::optional<std::string>> current =
      impl.GetMeta(kActiveModelKey);
  if (!current.ok()) return current.status();
  if (current->has_value() && **current == version) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  batch.Put(impl.meta, kActiveModelKey, ToSlice(version));
  if (current->has_value()) {
    batch.Put(impl.meta, kPreviousActiveModelKey, **current);
  }
  return impl.Write(&batch, /*sync=*/true, "setting the active model");
}

}  // namespace aisle::storage
