// FactorModel: one immutable, trained model version (item and user vectors,
// the item-vector ANN index and the Gramian used by fold-in).
//
// A model is created once (Create or Deserialize), then only read. It is
// shared as std::shared_ptr<const FactorModel>; the engine swaps the pointer
// to serve a new version, and a request in flight keeps the version it
// started with alive until it finishes.
//
// Thread safety: all const methods are safe to call concurrently.
#ifndef AISLE_CORE_MODEL_H_
#define AISLE_CORE_MODEL_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/als.h"
#include "core/segments.h"
#include "core/types.h"
#include "core/vector_index.h"

namespace aisle::core {

struct ModelOptions {
  // Build an ANN index when the model has at least this many items; below
  // it every query is exact (exact is faster there anyway).
  int32_t ann_min_items = 20000;
  AnnOptions ann;
  // Create/Deserialize skip the ANN index; an Engine that gets such a
  // model builds it in the background after the swap and searches exactly
  // until then (a server's start-up does not wait minutes for a 1M-item
  // graph). Default: false.
  bool defer_ann = false;
  // Where deferred indexes are kept, one file per model version
  // (`<dir>/<version>.hnsw` and its `.sum`): the engine loads the index
  // from there (before the swap) instead of building it when the file is
  // present and is an index of this model's vectors (AnnIndex::Load), and
  // saves it there after building it, so a restart or a swap back to a
  // version does not search exactly while the graph is rebuilt. The
  // directory must exist.
  // Empty: no cache, always build. Default: empty.
  std::string ann_cache_dir;
  // Fold-in options: alpha and regularization must match training; they are
  // taken from the model's stored parameters when present.
  AlsOptions als;
};

// The file ModelOptions::ann_cache_dir keeps `version`'s ANN index in
// ("<dir>/<version>.hnsw", with AnnIndex::Save's checksum beside it in
// "<dir>/<version>.hnsw.sum"); "" when there is no cache directory.
std::string AnnCachePath(const ModelOptions& options, std::string_view version);

class FactorModel {
 public:
  // Takes ownership of the vectors; builds the Gramian and (if large
  // enough) the ANN index. InvalidArgument if shapes disagree with the id
  // lists or with metadata.factors, or ids repeat, or `segments` has
  // centroids of another width or a count that disagrees with its info.
  static absl::StatusOr<std::shared_ptr<const FactorModel>> Create(
      ModelMetadata metadata, std::vector<std::string> item_ids,
      RowMatrix item_factors, std::vector<std::string> user_ids,
      RowMatrix user_factors, const ModelOptions& options,
      Segments segments = {});

  // Versioned binary format with a magic header and a CRC32C of the body.
  // Writes format 2 (with the segments); Deserialize also reads format 1
  // (versions stored before segments existed: they have none).
  std::string Serialize() const;
  // The same model with no user ids and vectors. Stored versions hold
  // none (docs/security.md, "Erasure"): serving re-solves every user's
  // vector from their events (fold-in), so a stored user vector would only
  // be personal data that DeleteUser cannot reach.
  std::string SerializeWithoutUsers() const;
  // How many user vectors a blob holds, without reading the vectors.
  // DataLoss for a bad header or truncated ids.
  static absl::StatusOr<int64_t> PeekUserVectors(std::string_view blob);
  // DataLoss("model blob ...: checksum mismatch/truncated") for damaged
  // input; never crashes on arbitrary bytes.
  static absl::StatusOr<std::shared_ptr<const FactorModel>> Deserialize(
      std::string_view blob, const ModelOptions& options);
  // Reads only the metadata from a blob (cheap; for listings). Checks the
  // header and bounds but not the checksum: DataLoss for a bad header or
  // truncated metadata.
  static absl::StatusOr<ModelMetadata> PeekMetadata(std::string_view blob);

  const ModelMetadata& metadata() const { return metadata_; }
  const std::string& version() const { return metadata_.version; }
  int factors() const { return static_cast<int>(item_factors_.cols()); }
  int32_t num_items() const { return static_cast<int32_t>(item_ids_.size()); }
  int32_t num_users() const { return static_cast<int32_t>(user_ids_.size()); }

  std::optional<int32_t> ItemIndex(std::string_view item_id) const;
  const std::string& ItemId(int32_t index) const { return item_ids_[index]; }
  std::optional<int32_t> UserIndex(std::string_view user_id) const;

  const RowMatrix& item_factors() const { return item_factors_; }
  const RowMatrix& user_factors() const { return user_factors_; }
  const Eigen::MatrixXf& gramian() const { return gramian_; }
  const AlsOptions& als_options() const { return als_; }
  // The user segments learned with this version; empty() when it was
  // trained without (--segments 0, or before segments existed).
  const Segments& segments() const { return segments_; }
  // Null when the catalog is below ModelOptions::ann_min_items, or the
  // index was deferred (ModelOptions::defer_ann).
  const AnnIndex* ann() const { return ann_.get(); }

  // Fold-in of (item id, weight) pairs; unknown item ids are ignored.
  Eigen::VectorXf FoldIn(
      std::span<const std::pair<std::string, float>> interactions) const;
  // Fold-in of (item index, weight) pairs (core::FoldIn's contract).
  Eigen::VectorXf FoldIn(std::span<const int32_t> items,
                         std::span<const float> weights) const;

  // Bytes held by vectors, index and maps (approximate).
  size_t MemoryBytes() const;

 private:
  FactorModel() = default;
  std::string SerializeImpl(bool with_users) const;
  ModelMetadata metadata_;
  std::vector<std::string> item_ids_;
  std::vector<std::string> user_ids_;
  absl::flat_hash_map<std::string, int32_t> item_index_;
  absl::flat_hash_map<std::string, int32_t> user_index_;
  RowMatrix item_factors_;
  RowMatrix user_factors_;
  Eigen::MatrixXf gramian_;
  // Y^T Y + reg I and its inverse, built with the version (see FoldIn).
  std::optional<FoldInSystem> fold_in_;
  AlsOptions als_;
  Segments segments_;
  std::unique_ptr<AnnIndex> ann_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_MODEL_H_
