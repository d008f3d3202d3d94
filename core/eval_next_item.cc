#include "core/eval_next_item.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"

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
      break;
  }
  return eo;
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
  }
  return "unknown";
}

absl::StatusOr<NextItemReport> EvaluateNextItem(
    std::span<const Rating> ratings, const NextItemOptions& options) {
  if (options.k <= 0) return absl::InvalidArgumentError("k must be positive");
  const bool binary =
      !options.rating_as_weight || options.variant == NextItemVariant::kPopular;
  // Each user's ratings in time order (ties in file order).
  std::vector<std::string> users;
  absl::flat_hash_map<std::string, std::vector<size_t>> by_user;
  for (size_t i = 0; i < ratings.size(); ++i) {
    auto [it, inserted] = by_user.try_emplace(ratings[i].user_id);
    if (inserted) users.push_back(ratings[i].user_id);
    it->second.push_back(i);
  }
  std::vector<Rating> train;
  // Per evaluated user: the live rating and the held-out one.
  std::vector<std::pair<size_t, size_t>> held_out;
  for (const std::string& user : users) {
    std::vector<size_t>& rows = by_user[user];
    std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) {
      return ratings[a].timestamp_ms < ratings[b].timestamp_ms;
    });
    if (options.validation && !rows.empty()) rows.pop_back();
    const size_t keep = rows.size() >= 3 ? rows.size() - 2 : rows.size();
    for (size_t j = 0; j < keep; ++j) train.push_back(ratings[rows[j]]);
    if (rows.size() >= 3) held_out.emplace_back(rows[keep], rows[keep + 1]);
  }
  if (held_out.empty()) {
    return absl::InvalidArgumentError("no user has 3 ratings to evaluate");
  }

  const EngineOptions eo = VariantOptions(options);
  Engine engine(eo);
  ReplayRatings(train, binary, engine);
  NextItemReport report;
  report.variant = std::string(NextItemVariantName(options.variant));
  report.k = options.k;
  report.train_ratings = static_cast<int64_t>(train.size());
  const bool uses_model = options.variant == NextItemVariant::kFactorModel ||
                          options.variant == NextItemVariant::kBlend;
  if (uses_model) {
    const auto start = SteadyClock::now();
    if (absl::Status s = InstallAls(options.als, eo.model, engine); !s.ok()) {
      return s;
    }
    report.train_seconds = SecondsSince(start);
  } else {
    engine.RefreshUserVectors();
  }

  const auto start = SteadyClock::now();
  double hits = 0, ndcg = 0;
  for (size_t u = 0; u < held_out.size(); ++u) {
    const Rating& live = ratings[held_out[u].first];
    const Rating& next = ratings[held_out[u].second];
    const Event event = RatingEvent(live, binary, absl::StrCat("live-", u));
    engine.ApplyEvents({&event, 1});
    RecommendRequest req;
    req.user_id = live.user_id;
    req.scenario = Scenario::kForYou;
    req.count = options.k;
    req.now_ms = live.timestamp_ms;
    auto rec = engine.Recommend(req);
    if (!rec.ok()) continue;  // scores zero, as in Evaluate
    for (size_t r = 0; r < rec->items.size(); ++r) {
      if (rec->items[r].item_id != next.item_id) continue;
      hits += 1;
      ndcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
      break;
    }
  }
  report.recommend_seconds = SecondsSince(start);
  report.users_evaluated = static_cast<int64_t>(held_out.size());
  const auto n = static_cast<double>(held_out.size());
  report.hit_rate = hits / n;
  report.ndcg = ndcg / n;
  return report;
}

}  // namespace aisle::core
