// Internals of the next-item evaluation (core/eval_next_item.h) shared by
// its engine part (eval_next_item.cc) and its sequence-model part
// (eval_next_item_sequence.cc). Not for use elsewhere.
//
// Thread safety: reentrant.
#ifndef AISLE_CORE_EVAL_NEXT_ITEM_SEQUENCE_H_
#define AISLE_CORE_EVAL_NEXT_ITEM_SEQUENCE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/eval.h"
#include "core/eval_next_item.h"

namespace aisle::core {

struct NextItemSplit {
  // Every user's training part, user after user (first appearance in the
  // file), each in time order (ties in file order).
  std::vector<Rating> train;
  // Per user, [begin, end) of their rows in `train`.
  std::vector<std::pair<size_t, size_t>> user_train;
  struct HeldOut {
    size_t live = 0;  // row of `ratings` posted live
    size_t next = 0;  // row of `ratings` to predict
    size_t user = 0;  // index into user_train
  };
  std::vector<HeldOut> held_out;  // users with enough ratings, in order
};

// The protocol's split of `ratings` (see NextItemOptions::validation).
NextItemSplit MakeNextItemSplit(std::span<const Rating> ratings,
                                bool validation);
// The same with each user's last `drop_last` ratings removed first
// (validation: 1).
NextItemSplit MakeNextItemSplit(std::span<const Rating> ratings, int drop_last);

// HR@k and NDCG@k accumulated over users.
class HitCounter {
 public:
  // `rank` is the held-out item's 0-based position in the user's ranking,
  // or -1 when it is not ranked at all.
  void AddRank(int64_t rank, int k);
  // The held-out item's position in `list` (ranked ids), if any.
  void Add(std::span<const std::string> list, const std::string& next, int k);
  double hit_rate() const { return users_ > 0 ? hits_ / users_ : 0; }
  double ndcg() const { return users_ > 0 ? ndcg_ / users_ : 0; }

 private:
  double hits_ = 0, ndcg_ = 0, users_ = 0;
};

// Errors of the sequence options (see EvaluateNextItem).
absl::Status ValidateSequenceOptions(const NextItemOptions& options);

// Trains options.sequence_model on `split` and fills report.points, the
// last point's hit_rate and ndcg, sequence_train_seconds and score_ms.
// blend_lists: kBlendSequence, the blend's ranked item ids per held-out
// user (at most fusion_depth each); ignored for kSequence. Errors: those
// of SequenceModel::Train and Score.
absl::Status EvaluateSequenceModel(
    std::span<const Rating> ratings, const NextItemSplit& split,
    std::span<const std::vector<std::string>> blend_lists,
    const NextItemOptions& options, NextItemReport& report);

}  // namespace aisle::core

#endif  // AISLE_CORE_EVAL_NEXT_ITEM_SEQUENCE_H_
