#include "core/eval_next_item_sequence.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"

namespace aisle::core {
namespace {

// Dense indices for the sequence model: training items, then live items
// (as the engine, which has seen both by the time it ranks).
struct Vocabulary {
  absl::flat_hash_map<std::string, int32_t> index;

  int32_t Add(const std::string& item_id) {
    return index.try_emplace(item_id, static_cast<int32_t>(index.size()))
        .first->second;
  }
  int32_t Find(const std::string& item_id) const {
    const auto it = index.find(item_id);
    return it == index.end() ? -1 : it->second;
  }
  int32_t size() const { return static_cast<int32_t>(index.size()); }
};

// One user's ranking by the sequence model over the items not in their
// sequence: order[r] is the item at 0-based rank r, rank_of[i] item i's
// rank (-1 for an excluded item).
struct SequenceRanking {
  std::vector<int32_t> order;
  std::vector<int64_t> rank_of;
};

SequenceRanking RankUnseen(const std::vector<float>& scores,
                           std::span<const int32_t> seen) {
  SequenceRanking r;
  r.rank_of.assign(scores.size(), 0);
  for (int32_t i : seen) r.rank_of[i] = -1;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (r.rank_of[i] == 0) r.order.push_back(static_cast<int32_t>(i));
  }
  // Ties by index: the order in which the evaluation first saw the items,
  // as the engine breaks its ties.
  std::stable_sort(r.order.begin(), r.order.end(),
                   [&](int32_t a, int32_t b) { return scores[a] > scores[b]; });
  for (size_t rank = 0; rank < r.order.size(); ++rank) {
    r.rank_of[r.order[rank]] = static_cast<int64_t>(rank);
  }
  return r;
}

// The held-out item's 0-based rank in the fusion of `ranking` (weight w)
// with `blend` (item indices, best first; weight 1 - w), or -1 beyond k.
int64_t FusedRank(const SequenceRanking& ranking,
                  std::span<const int32_t> blend, int32_t next, double w,
                  const NextItemOptions& options) {
  if (next < 0) return -1;
  const double offset = options.fusion_rank_offset;
  absl::flat_hash_map<int32_t, double> fused;
  // The sequence model's top depth + k: whatever is below them scores less
  // than each of them unless the blend lists it too.
  const size_t top =
      std::min(ranking.order.size(),
               static_cast<size_t>(options.fusion_depth + options.k));
  for (size_t r = 0; r < top; ++r) {
    fused[ranking.order[r]] += w / (offset + static_cast<double>(r) + 1);
  }
  for (size_t r = 0; r < blend.size(); ++r) {
    const int32_t item = blend[r];
    const int64_t seq_rank = ranking.rank_of[item];
    if (seq_rank < 0) continue;  // seen: the blend excluded it too
    double& score = fused[item];
    if (static_cast<size_t>(seq_rank) >= top) {
      score += w / (offset + static_cast<double>(seq_rank) + 1);
    }
    score += (1 - w) / (offset + static_cast<double>(r) + 1);
  }
  const auto it = fused.find(next);
  if (it == fused.end()) return -1;
  // Rank of `next` among the candidates (ties: the sequence model's order).
  int64_t rank = 0;
  for (const auto& [item, score] : fused) {
    if (score > it->second || (score == it->second &&
                               ranking.rank_of[item] < ranking.rank_of[next])) {
      ++rank;
    }
  }
  return rank;
}

}  // namespace

absl::Status ValidateSequenceOptions(const NextItemOptions& options) {
  if (options.sequence_model == nullptr) {
    return absl::InvalidArgumentError(
        "sequence_model: required by the sequence variants");
  }
  if (options.sequence_epochs.empty()) {
    return absl::InvalidArgumentError("sequence_epochs: empty");
  }
  int previous = -1;
  for (int e : options.sequence_epochs) {
    if (e <= previous) {
      return absl::InvalidArgumentError(
          "sequence_epochs: must increase from >= 0");
    }
    previous = e;
  }
  if (options.fusion_weights.empty()) {
    return absl::InvalidArgumentError("fusion_weights: empty");
  }
  for (double w : options.fusion_weights) {
    if (!(w >= 0 && w <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("fusion_weights: ", w, " outside [0, 1]"));
    }
  }
  if (options.fusion_depth < 1) {
    return absl::InvalidArgumentError("fusion_depth: must be >= 1");
  }
  if (!(options.fusion_rank_offset >= 0)) {
    return absl::InvalidArgumentError("fusion_rank_offset: must be >= 0");
  }
  return absl::OkStatus();
}

absl::Status EvaluateSequenceModel(
    std::span<const Rating> ratings, const NextItemSplit& split,
    std::span<const std::vector<std::string>> blend_lists,
    const NextItemOptions& options, NextItemReport& report) {
  const bool fuse = options.variant == NextItemVariant::kBlendSequence;
  Vocabulary vocabulary;
  std::vector<std::vector<int32_t>> sequences;
  for (const auto& [begin, end] : split.user_train) {
    std::vector<int32_t>& s = sequences.emplace_back();
    for (size_t i = begin; i < end; ++i) {
      s.push_back(vocabulary.Add(split.train[i].item_id));
    }
  }
  // Per held-out user: the model's input (training part + live item), the
  // item to predict (-1 if never seen anywhere: a miss for every model),
  // and the blend's list as indices.
  std::vector<std::vector<int32_t>> inputs;
  std::vector<int32_t> targets;
  std::vector<std::vector<int32_t>> blends;
  for (const NextItemSplit::HeldOut& h : split.held_out) {
    std::vector<int32_t>& input = inputs.emplace_back(sequences[h.user]);
    input.push_back(vocabulary.Add(ratings[h.live].item_id));
  }
  for (size_t u = 0; u < split.held_out.size(); ++u) {
    targets.push_back(vocabulary.Find(ratings[split.held_out[u].next].item_id));
    std::vector<int32_t>& blend = blends.emplace_back();
    if (!fuse) continue;
    for (const std::string& id : blend_lists[u]) {
      const int32_t i = vocabulary.Find(id);
      if (i >= 0) blend.push_back(i);
    }
  }

  SequenceModel& model = *options.sequence_model;
  int trained = 0;
  double score_seconds = 0;
  int64_t score_calls = 0;
  const std::vector<double> only_sequence = {1.0};
  const std::vector<double>& weights =
      fuse ? options.fusion_weights : only_sequence;
  for (int epochs : options.sequence_epochs) {
    const auto train_start = SteadyClock::now();
    if (absl::Status s =
            model.Train(sequences, vocabulary.size(), epochs - trained);
        !s.ok()) {
      return s;
    }
    report.sequence_train_seconds += SecondsSince(train_start);
    trained = epochs;
    std::vector<HitCounter> counters(weights.size());
    for (size_t u = 0; u < inputs.size(); ++u) {
      const auto score_start = SteadyClock::now();
      absl::StatusOr<std::vector<float>> scores = model.Score(inputs[u]);
      score_seconds += SecondsSince(score_start);
      ++score_calls;
      if (!scores.ok()) return scores.status();
      const SequenceRanking ranking = RankUnseen(*scores, inputs[u]);
      for (size_t w = 0; w < weights.size(); ++w) {
        if (!fuse) {
          counters[w].AddRank(targets[u] < 0 ? -1 : ranking.rank_of[targets[u]],
                              options.k);
          continue;
        }
        counters[w].AddRank(
            FusedRank(ranking, blends[u], targets[u], weights[w], options),
            options.k);
      }
    }
    for (size_t w = 0; w < weights.size(); ++w) {
      report.points.push_back(
          {epochs, weights[w], counters[w].hit_rate(), counters[w].ndcg()});
    }
  }
  report.hit_rate = report.points.back().hit_rate;
  report.ndcg = report.points.back().ndcg;
  report.score_ms =
      score_calls > 0 ? 1000 * score_seconds / static_cast<double>(score_calls)
                      : 0;
  return absl::OkStatus();
}

}  // namespace aisle::core
