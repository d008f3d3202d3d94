#include "core/eval_next_item.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/eval_next_item_sequence.h"
#include "core/training.h"

namespace aisle::core {
namespace {

// The engine options that define each variant.
EngineOptions VariantOptions(const NextItemOptions& options) {
  EngineOptions eo = options.engine;
  // Baselines: the session source alone, shaped as the baseline says.
  SessionOptions baseline;
  baseline.window_seconds = 1e12;  // the last items whatever their age
  baseline.fresh_half_life_seconds = 0;
  switch (options.variant) {
    case NextItemVariant::kPopular:
      eo.for_you = {false, false, false, false, false};
      eo.popularity_half_life_days = 0;
      break;
    case NextItemVariant::kMarkov:
      eo.for_you = {false, false, false, true, false};
      baseline.max_items = 1;
      baseline.transition_span = 1;
      baseline.transition_gap_half_life_seconds = 0;
      baseline.transition_weight = 1;
      baseline.co_occurrence_weight = 0;
      eo.session = baseline;
      break;
    case NextItemVariant::kCoOccurrence:
      eo.for_you = {false, false, false, true, false};
      baseline.max_items = 5;
      baseline.transition_weight = 0;
      baseline.co_occurrence_weight = 1;
      eo.session = baseline;
      break;
    case NextItemVariant::kFactorModel:
      eo.for_you = {true, false, false, false, false};
      break;
    case NextItemVariant::kBlend:
    case NextItemVariant::kBlendSequence:
    case NextItemVariant::kSequence:  // no engine
      break;
  }
  return eo;
}

// Fits the session ranker on the training part as `aisle train` fits it
// on its events (FitSessionRankerOnEvents): see NextItemOptions.
absl::Status FitRanker(std::span<const Rating> train, const EngineOptions& eo,
                       const NextItemOptions& options, bool binary,
                       NextItemReport& report) {
  SessionRankerTrainingOptions fit;
  fit.steps = options.ranker_fit_steps;
  fit.fit = options.ranker_fit;
  fit.count = options.k;
  absl::StatusOr<SessionRankerTraining> ranker = FitSessionRankerOnEvents(
      RatingItems(train), RatingEvents(train, binary), eo, options.als, fit);
  if (!ranker.ok()) return ranker.status();
  report.ranker_weights = ranker->fit.weights;
  report.ranker_queries = ranker->fit.queries;
  report.ranker_fit_users = ranker->requests;
  report.ranker_loss = ranker->fit.loss;
  report.ranker_fit_seconds = ranker->seconds;
  return absl::OkStatus();
}

}  // namespace

std::string_view NextItemVariantName(NextItemVariant variant) {
  switch (variant) {
    case NextItemVariant::kPopular:
      return "popular";
    case NextItemVariant::kMarkov:
      return "markov";
    case NextItemVariant::kCoOccurrence:
      return "cooccurrence";
    case NextItemVariant::kFactorModel:
      return "als";
    case NextItemVariant::kBlend:
      return "blend";
    case NextItemVariant::kSequence:
      return "sasrec";
    case NextItemVariant::kBlendSequence:
      return "blend+sasrec";
  }
  return "unknown";
}

NextItemSplit MakeNextItemSplit(std::span<const Rating> ratings,
                                bool validation) {
  return MakeNextItemSplit(ratings, validation ? 1 : 0);
}

NextItemSplit MakeNextItemSplit(std::span<const Rating> ratings,
                                int drop_last) {
  std::vector<std::string> users;
  absl::flat_hash_map<std::string, std::vector<size_t>> by_user;
  for (size_t i = 0; i < ratings.size(); ++i) {
    auto [it, inserted] = by_user.try_emplace(ratings[i].user_id);
    if (inserted) users.push_back(ratings[i].user_id);
    it->second.push_back(i);
  }
  NextItemSplit split;
  for (const std::string& user : users) {
    std::vector<size_t>& rows = by_user[user];
    std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) {
      return ratings[a].timestamp_ms < ratings[b].timestamp_ms;
    });
    for (int d = 0; d < drop_last && !rows.empty(); ++d) rows.pop_back();
    const size_t keep = rows.size() >= 3 ? rows.size() - 2 : rows.size();
    const size_t begin = split.train.size();
    for (size_t j = 0; j < keep; ++j) split.train.push_back(ratings[rows[j]]);
    split.user_train.emplace_back(begin, split.train.size());
    if (rows.size() >= 3) {
      split.held_out.push_back(
          {rows[keep], rows[keep + 1], split.user_train.size() - 1});
    }
  }
  return split;
}

void HitCounter::AddRank(int64_t rank, int k) {
  users_ += 1;
  if (rank < 0 || rank >= k) return;
  hits_ += 1;
  ndcg_ += 1.0 / std::log2(static_cast<double>(rank) + 2.0);
}

void HitCounter::Add(std::span<const std::string> list, const std::string& next,
                     int k) {
  const auto it = std::find(list.begin(), list.end(), next);
  AddRank(it == list.end() ? -1 : it - list.begin(), k);
}

absl::StatusOr<NextItemReport> EvaluateNextItem(
    std::span<const Rating> ratings, const NextItemOptions& options) {
  if (options.k <= 0) return absl::InvalidArgumentError("k must be positive");
  const bool sequence = options.variant == NextItemVariant::kSequence ||
                        options.variant == NextItemVariant::kBlendSequence;
  if (sequence) {
    if (absl::Status s = ValidateSequenceOptions(options); !s.ok()) return s;
  }
  const bool binary =
      !options.rating_as_weight || options.variant == NextItemVariant::kPopular;
  const NextItemSplit split = MakeNextItemSplit(ratings, options.validation);
  if (split.held_out.empty()) {
    return absl::InvalidArgumentError("no user has 3 ratings to evaluate");
  }
  NextItemReport report;
  report.variant = std::string(NextItemVariantName(options.variant));
  report.k = options.k;
  report.train_ratings = static_cast<int64_t>(split.train.size());
  report.users_evaluated = static_cast<int64_t>(split.held_out.size());
  if (options.variant == NextItemVariant::kSequence) {
    if (absl::Status s =
            EvaluateSequenceModel(ratings, split, {}, options, report);
        !s.ok()) {
      return s;
    }
    return report;
  }

  const EngineOptions eo = VariantOptions(options);
  // The model version's stored weights, as `aisle train` stores them.
  std::map<std::string, std::string> parameters;
  if (options.variant == NextItemVariant::kBlend &&
      options.ranker_fit_steps > 0 && eo.session.ranker_weights.empty()) {
    // FailedPrecondition: nothing to fit on (as `aisle train`, the hand blend
    // then).
    if (absl::Status s = FitRanker(split.train, eo, options, binary, report);
        !s.ok() && !absl::IsFailedPrecondition(s)) {
      return s;
    }
    if (!report.ranker_weights.empty()) {
      parameters[std::string(kSessionRankerWeightsParameter)] =
          FormatSessionRankerWeights(report.ranker_weights);
    }
  }
  Engine engine(eo);
  ReplayRatings(split.train, binary, engine);
  const bool uses_model = options.variant == NextItemVariant::kFactorModel ||
                          options.variant == NextItemVariant::kBlend ||
                          options.variant == NextItemVariant::kBlendSequence;
  if (uses_model) {
    const auto start = SteadyClock::now();
    if (absl::Status s = InstallAls(options.als, eo.model, engine, parameters);
        !s.ok()) {
      return s;
    }
    report.train_seconds = SecondsSince(start);
  } else {
    engine.RefreshUserVectors();
  }

  const auto start = SteadyClock::now();
  // kBlendSequence: each user's blend list, to fuse after training.
  std::vector<std::vector<std::string>> blend_lists;
  HitCounter counter;
  for (size_t u = 0; u < split.held_out.size(); ++u) {
    const Rating& live = ratings[split.held_out[u].live];
    const Rating& next = ratings[split.held_out[u].next];
    const Event event = RatingEvent(live, binary, absl::StrCat("live-", u));
    engine.ApplyEvents({&event, 1});
    RecommendRequest req;
    req.user_id = live.user_id;
    req.scenario = Scenario::kForYou;
    req.count = sequence ? options.fusion_depth : options.k;
    req.now_ms = live.timestamp_ms;
    auto rec = engine.Recommend(req);
    std::vector<std::string> list;
    if (rec.ok()) {  // else scores zero, as in Evaluate
      for (const ScoredItem& item : rec->items) list.push_back(item.item_id);
    }
    if (sequence) {
      blend_lists.push_back(std::move(list));
    } else {
      counter.Add(list, next.item_id, options.k);
    }
  }
  report.recommend_seconds = SecondsSince(start);
  if (sequence) {
    if (absl::Status s =
            EvaluateSequenceModel(ratings, split, blend_lists, options, report);
        !s.ok()) {
      return s;
    }
    return report;
  }
  report.hit_rate = counter.hit_rate();
  report.ndcg = counter.ndcg();
  return report;
}

}  // namespace aisle::core
