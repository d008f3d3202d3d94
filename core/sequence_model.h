// SequenceModel: a next-item model that learns from each user's item
// sequence and scores every item as the next one, implemented outside core
// (seqmodel/SasRec, on libtorch, built only with -DAISLE_WITH_TORCH=ON) so
// that the engine stays free of a tensor library. core uses it through this
// interface only: the next-item evaluation (core/eval_next_item.h) today,
// a per-request scorer beside the session signal if it ever earns that.
//
// Items are dense indices in [0, num_items): the caller owns the mapping
// from item ids (an index is an item's position in the caller's
// vocabulary).
//
// Thread safety: Train must not run concurrently with anything else;
// Score is const and may be called concurrently once Train returned.
#ifndef AISLE_CORE_SEQUENCE_MODEL_H_
#define AISLE_CORE_SEQUENCE_MODEL_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aisle::core {

class SequenceModel {
 public:
  virtual ~SequenceModel() = default;

  // Short name for reports ("sasrec").
  virtual std::string_view name() const = 0;

  // Trains for `epochs` more passes over `sequences` (each user's items,
  // oldest first; sequences shorter than 2 teach nothing and are skipped).
  // The first call sizes the model for `num_items`; later calls continue
  // training the same parameters (so a caller can evaluate after 10, 20,
  // 40 epochs from one run) and must pass the same num_items.
  // Errors: InvalidArgument for num_items < 1, epochs < 0, an index out of
  // range or a num_items different from the first call's; Internal for a
  // failure inside the tensor library (its message kept).
  virtual absl::Status Train(std::span<const std::vector<int32_t>> sequences,
                             int32_t num_items, int epochs) = 0;

  // Scores of every item (size num_items; higher = more likely) as the
  // next after `sequence` (oldest first; only the last max length used).
  // Items already in `sequence` are scored too: excluding them is the
  // caller's rule. Errors: FailedPrecondition before Train;
  // InvalidArgument for an empty sequence or an index out of range.
  virtual absl::StatusOr<std::vector<float>> Score(
      std::span<const int32_t> sequence) const = 0;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_SEQUENCE_MODEL_H_
