#include "core/eval_cold_user.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace aisle::core {
namespace {

// One u.user line: "user|age|gender|occupation|zip".
bool ParseMovieLensUser(absl::string_view line, AttributeTable* out) {
  std::vector<std::string> f = absl::StrSplit(line, '|');
  int age = 0;
  if (f.size() != 5 || f[0].empty() || !absl::SimpleAtoi(f[1], &age) ||
      age < 0) {
    return false;
  }
  auto& a = (*out)[f[0]];
  a["age_band"] = AgeBand(age);
  if (!f[2].empty()) a["gender"] = f[2];
  if (!f[3].empty()) a["occupation"] = f[3];
  return true;
}

// Users in order of first appearance (the shuffle's fixed input).
std::vector<std::string> UsersOf(std::span<const Rating> ratings) {
  std::vector<std::string> out;
  absl::flat_hash_set<std::string> seen;
  for (const Rating& r : ratings) {
    if (seen.insert(r.user_id).second) out.push_back(r.user_id);
  }
  return out;
}

// One hold-out draw: the held-out users that have attributes (the point
// of the protocol), every item each of them rated, and the other users'
// ratings.
struct Split {
  std::vector<std::string> held_out;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> truth;
  std::vector<Rating> train;
};

Split DrawSplit(std::span<const Rating> ratings, std::vector<std::string> order,
                uint64_t seed, double holdout, const AttributeTable& users) {
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t n_held = std::max<size_t>(
      1, static_cast<size_t>(
             std::llround(holdout * static_cast<double>(order.size()))));
  Split split;
  absl::flat_hash_set<std::string> held_set;
  for (size_t i = 0; i < n_held && i < order.size(); ++i) {
    if (users.contains(order[i])) {
      held_set.insert(order[i]);
      split.held_out.push_back(order[i]);
    }
  }
  for (const Rating& r : ratings) {
    if (held_set.contains(r.user_id)) {
      split.truth[r.user_id].insert(r.item_id);
    } else {
      split.train.push_back(r);
    }
  }
  return split;
}

// Per-user sums of the ranking metrics of one variant and seed.
struct Sums {
  std::vector<double> precision, recall, ndcg, map, f1;
  EvalReport report;
};

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

double StandardError(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = Mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1) /
                   static_cast<double>(v.size()));
}

// Recommends to each held-out user through `engine` and scores the lists.
Sums Score(const Engine& engine, const Split& split, size_t train_items,
           int k) {
  const std::vector<std::string>& held_out = split.held_out;
  Sums sums;
  BeyondAccuracy beyond(split.train);
  absl::flat_hash_set<std::string> recommended;
  for (const std::string& user : held_out) {
    RecommendRequest req;
    req.user_id = user;
    req.scenario = Scenario::kForYou;
    req.count = k;
    absl::StatusOr<Recommendation> rec = engine.Recommend(req);
    std::vector<std::string> ids;
    if (rec.ok()) {
      for (const ScoredItem& s : rec->items) ids.push_back(s.item_id);
    }
    recommended.insert(ids.begin(), ids.end());
    beyond.Add(ids);
    const RankingScores s = ScoreRanking(ids, split.truth.at(user), k);
    sums.precision.push_back(s.precision);
    sums.recall.push_back(s.recall);
    sums.ndcg.push_back(s.ndcg);
    sums.map.push_back(s.average_precision);
    sums.f1.push_back(s.f1);
  }
  EvalReport& r = sums.report;
  r.k = k;
  r.precision = Mean(sums.precision);
  r.recall = Mean(sums.recall);
  r.ndcg = Mean(sums.ndcg);
  r.map = Mean(sums.map);
  r.f1 = Mean(sums.f1);
  r.novelty = beyond.novelty();
  r.popularity = beyond.popularity();
  r.intra_list_diversity = beyond.intra_list_diversity();
  r.coverage = train_items == 0 ? 0
                                : static_cast<double>(recommended.size()) /
                                      static_cast<double>(train_items);
  r.users_evaluated = static_cast<int64_t>(held_out.size());
  return sums;
}

// The mean of each figure over seeds, and the standard errors.
ColdUserVariant Combine(std::string name, const std::vector<Sums>& runs) {
  ColdUserVariant v;
  v.variant = std::move(name);
  auto over_seeds = [&](double EvalReport::*field) {
    std::vector<double> xs;
    for (const Sums& s : runs) xs.push_back(s.report.*field);
    v.mean.*field = Mean(xs);
    v.standard_error.*field = StandardError(xs);
  };
  for (double EvalReport::*f :
       {&EvalReport::precision, &EvalReport::recall, &EvalReport::ndcg,
        &EvalReport::map, &EvalReport::f1, &EvalReport::coverage,
        &EvalReport::novelty, &EvalReport::popularity,
        &EvalReport::intra_list_diversity}) {
    over_seeds(f);
  }
  v.mean.k = runs.front().report.k;
  for (const Sums& s : runs) v.mean.users_evaluated += s.report.users_evaluated;
  if (runs.size() == 1) {  // one seed: the spread over users
    const Sums& s = runs.front();
    v.standard_error.precision = StandardError(s.precision);
    v.standard_error.recall = StandardError(s.recall);
    v.standard_error.ndcg = StandardError(s.ndcg);
    v.standard_error.map = StandardError(s.map);
    v.standard_error.f1 = StandardError(s.f1);
  }
  return v;
}

// The attribute variant on one split: an engine fed the split's training
// ratings and every user's attributes (held-out users included: they are
// the new users who just signed up).
Sums ScoreAttributes(const Split& split,
                     const std::vector<UserAttributes>& attributes,
                     const EngineOptions& engine_options,
                     const ColdUserOptions& options, size_t train_items) {
  Engine engine(engine_options);
  ReplayRatings(split.train, !options.rating_as_weight, engine);
  engine.UpsertUsers(attributes);
  return Score(engine, split, train_items, options.k);
}

// The smoothing of options.smoothing_grid with the best nDCG on a
// validation draw from the TRAINING users of an outer split (the outer
// held-out users are never looked at). Ties keep the earlier value.
double TuneSmoothing(std::span<const Rating> train, const AttributeTable& users,
                     const std::vector<UserAttributes>& attributes,
                     const ColdUserOptions& options, uint64_t seed) {
  // Another stream than the outer draw's, so the validation users are not
  // simply the next ones in the outer shuffle.
  const Split inner =
      DrawSplit(train, UsersOf(train), seed ^ 0x9e3779b97f4a7c15ULL,
                options.validation_holdout, users);
  double best = options.smoothing_grid.front();
  if (inner.held_out.empty()) return options.engine.attributes.smoothing;
  double best_ndcg = -1;
  for (double m : options.smoothing_grid) {
    EngineOptions engine_options = options.engine;
    engine_options.attributes.smoothing = m;
    const double ndcg = Mean(
        ScoreAttributes(inner, attributes, engine_options, options, 0).ndcg);
    if (ndcg > best_ndcg) {
      best = m;
      best_ndcg = ndcg;
    }
  }
  return best;
}

// Pairs the per-user figures of the two variants on one split.
ColdUserPaired ComparePair(uint64_t seed, const Sums& popular,
                           const Sums& attributes) {
  ColdUserPaired p;
  p.seed = seed;
  p.ndcg = ComparePaired(popular.ndcg, attributes.ndcg);
  p.precision = ComparePaired(popular.precision, attributes.precision);
  p.recall = ComparePaired(popular.recall, attributes.recall);
  return p;
}

// Every seed's users in one run, for the pooled comparison.
Sums Concatenate(const std::vector<Sums>& runs) {
  Sums all;
  for (const Sums& s : runs) {
    all.ndcg.insert(all.ndcg.end(), s.ndcg.begin(), s.ndcg.end());
    all.precision.insert(all.precision.end(), s.precision.begin(),
                         s.precision.end());
    all.recall.insert(all.recall.end(), s.recall.begin(), s.recall.end());
  }
  return all;
}

}  // namespace

std::string AgeBand(int age) {
  if (age < 18) return "under 18";
  if (age < 25) return "18-24";
  if (age < 35) return "25-34";
  if (age < 45) return "35-44";
  if (age < 50) return "45-49";
  if (age < 56) return "50-55";
  return "56+";
}

absl::StatusOr<AttributeTable> LoadUserAttributes(const std::string& path) {
  AttributeTable table;
  std::vector<std::string> header;
  absl::Status status = ForEachDataLine(
      path,
      "MovieLens user|age|gender|occupation|zip, or a header "
      "user_id,KEY,... and one user per line",
      [&](const std::string& line, int64_t number) {
        if (number == 1 && line.find('|') == std::string::npos) {
          header = absl::StrSplit(line, absl::ByAnyChar("\t,"));
          return header.size() >= 2;
        }
        if (header.empty()) return ParseMovieLensUser(line, &table);
        std::vector<std::string> f =
            absl::StrSplit(line, absl::ByAnyChar("\t,"));
        if (f.size() != header.size() || f[0].empty()) return false;
        auto& a = table[f[0]];
        for (size_t c = 1; c < f.size(); ++c) {
          if (!f[c].empty()) a[header[c]] = f[c];
        }
        return true;
      });
  if (!status.ok()) return status;
  return table;
}

absl::StatusOr<ColdUserReport> EvaluateColdUser(
    std::span<const Rating> ratings, const AttributeTable& users,
    const ColdUserOptions& options) {
  if (options.k <= 0) return absl::InvalidArgumentError("k must be positive");
  if (!(options.holdout > 0 && options.holdout < 1)) {
    return absl::InvalidArgumentError("holdout must be in (0, 1)");
  }
  if (options.seeds.empty()) {
    return absl::InvalidArgumentError("at least one seed is needed");
  }
  if (!options.smoothing_grid.empty() &&
      !(options.validation_holdout > 0 && options.validation_holdout < 1)) {
    return absl::InvalidArgumentError("validation_holdout must be in (0, 1)");
  }
  for (double m : options.smoothing_grid) {
    if (!(m >= 0 && std::isfinite(m))) {
      return absl::InvalidArgumentError(
          "smoothing_grid: values must be finite and >= 0");
    }
  }
  const std::vector<std::string> all_users = UsersOf(ratings);
  std::vector<UserAttributes> attributes;
  for (const std::string& u : all_users) {
    auto it = users.find(u);
    if (it != users.end() && !it->second.empty()) {
      attributes.push_back({u, it->second, 0});
    }
  }

  ColdUserReport report;
  report.k = options.k;
  report.seeds = static_cast<int64_t>(options.seeds.size());
  report.users_with_attributes = static_cast<int64_t>(attributes.size());
  std::vector<Sums> popular_runs, attribute_runs;
  for (uint64_t seed : options.seeds) {
    const Split split =
        DrawSplit(ratings, all_users, seed, options.holdout, users);
    if (split.held_out.empty()) {
      return absl::InvalidArgumentError(
          "no held-out user has attributes: do the users file's ids match "
          "the ratings'?");
    }
    report.users_evaluated += static_cast<int64_t>(split.held_out.size());

    EngineOptions popular_options = options.engine;
    popular_options.for_you = {false, false, false, false, false};
    popular_options.popularity_half_life_days = 0;
    Engine popular(popular_options);
    const size_t train_items = ReplayRatings(split.train, true, popular).size();
    popular_runs.push_back(Score(popular, split, train_items, options.k));

    EngineOptions engine_options = options.engine;
    if (!options.smoothing_grid.empty()) {
      engine_options.attributes.smoothing =
          TuneSmoothing(split.train, users, attributes, options, seed);
    }
    attribute_runs.push_back(ScoreAttributes(split, attributes, engine_options,
                                             options, train_items));
    report.per_seed.push_back(
        ComparePair(seed, popular_runs.back(), attribute_runs.back()));
    report.per_seed.back().smoothing = engine_options.attributes.smoothing;
    const double gain = report.per_seed.back().ndcg.mean_difference;
    report.seeds_better += gain > 0 ? 1 : 0;
    report.seeds_worse += gain < 0 ? 1 : 0;
  }
  report.pooled =
      ComparePair(0, Concatenate(popular_runs), Concatenate(attribute_runs));
  report.seeds_sign_p_value =
      SignTestPValue(report.seeds_better, report.seeds_worse);
  report.variants.push_back(Combine("popular", popular_runs));
  report.variants.push_back(Combine("attributes", attribute_runs));
  return report;
}

}  // namespace aisle::core
