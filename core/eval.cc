#include "core/eval.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/clock.h"
#include "core/model.h"
#include "core/string_view.h"
#include "core/training.h"

namespace aisle::core {
namespace {

bool ParseRatingLine(absl::string_view line, Rating* out) {
  std::vector<absl::string_view> f =
      absl::StrSplit(line, absl::ByAnyChar("\t, "), absl::SkipEmpty());
  if (f.size() != 4) return false;
  double rating = 0;
  int64_t ts = 0;
  if (!absl::SimpleAtod(f[2], &rating) || !absl::SimpleAtoi(f[3], &ts)) {
    return false;
  }
  out->user_id = std::string(f[0]);
  out->item_id = std::string(f[1]);
  out->rating = rating;
  out->timestamp_ms = ts * 1000;
  return true;
}

}  // namespace

absl::Status ForEachDataLine(
    const std::string& path, std::string_view expected,
    const std::function<bool(const std::string& line, int64_t number)>& parse) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<std::string> bad;
  int64_t bad_count = 0;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (!parse(line, number) && ++bad_count <= 5) {
      bad.push_back(absl::StrCat(number));
    }
  }
  if (bad_count > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", bad_count, " malformed line(s), e.g. line ",
        absl::StrJoin(bad, ", "), " (expected: ", ToAbsl(expected), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Rating>> LoadRatings(const std::string& path) {
  std::vector<Rating> ratings;
  absl::Status status =
      ForEachDataLine(path, "user item rating unix_seconds",
                      [&](const std::string& line, int64_t number) {
                        Rating r;
                        if (!ParseRatingLine(line, &r))
                          return number == 1;  // a header
                        ratings.push_back(std::move(r));
                        return true;
                      });
  if (!status.ok()) return status;
  return ratings;
}

std::string_view EvalVariantName(EvalVariant variant) {
  switch (variant) {
    case EvalVariant::kPopular:
      return "popular";
    case EvalVariant::kCoOccurrence:
      return "cooccurrence";
    case EvalVariant::kAls:
      return "als";
    case EvalVariant::kPeopleLikeYou:
      return "people_like_you";
  }
  return "unknown";
}

RankingScores ScoreRanking(std::span<const std::string> recommended,
                           const absl::flat_hash_set<std::string>& relevant,
                           int k) {
  RankingScores s;
  if (relevant.empty() || k <= 0) return s;
  const size_t n = std::min(recommended.size(), static_cast<size_t>(k));
  double dcg = 0, ap = 0;
  int hits = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!relevant.contains(recommended[i])) continue;
    ++hits;
    dcg += 1.0 / std::log2(static_cast<double>(i) + 2.0);
    ap += static_cast<double>(hits) / static_cast<double>(i + 1);
  }
  double ideal = 0;
  const size_t ideal_n = std::min(relevant.size(), static_cast<size_t>(k));
  for (size_t i = 0; i < ideal_n; ++i) {
    ideal += 1.0 / std::log2(static_cast<double>(i) + 2.0);
  }
  s.precision = static_cast<double>(hits) / k;
  s.recall = static_cast<double>(hits) / static_cast<double>(relevant.size());
  s.ndcg = dcg / ideal;
  s.average_precision = ap / static_cast<double>(relevant.size());
  if (s.precision + s.recall > 0) {
    s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall);
  }
  return s;
}

std::vector<Item> RatingItems(std::span<const Rating> ratings) {
  std::vector<Item> items;
  absl::flat_hash_set<std::string> item_set;
  for (const Rating& r : ratings) {
    if (item_set.insert(r.item_id).second) {
      Item item;
      item.item_id = r.item_id;
      items.push_back(std::move(item));
    }
  }
  return items;
}

std::vector<Event> RatingEvents(std::span<const Rating> ratings, bool binary) {
  std::vector<Event> events;
  events.reserve(ratings.size());
  for (size_t i = 0; i < ratings.size(); ++i) {
    events.push_back(
        RatingEvent(ratings[i], binary, absl::StrCat("train-", i)));
  }
  return events;
}

absl::flat_hash_set<std::string> ReplayRatings(std::span<const Rating> ratings,
                                               bool binary, Engine& engine) {
  // Items exist only as ids, created in order of first appearance (which
  // is also the popularity tie-break order).
  const std::vector<Item> items = RatingItems(ratings);
  absl::flat_hash_set<std::string> item_set;
  for (const Item& item : items) item_set.insert(item.item_id);
  engine.UpsertItems(items);
  std::vector<Event> events = RatingEvents(ratings, binary);
  // History order is arrival order: replay chronologically.
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) {
                     return a.timestamp_ms < b.timestamp_ms;
                   });
  engine.ReplayEvents(events);
  return item_set;
}

Event RatingEvent(const Rating& r, bool binary, std::string event_id) {
  Event e;
  e.event_id = std::move(event_id);
  e.user_id = r.user_id;
  e.item_id = r.item_id;
  e.type = EventType::kRating;
  e.value = binary ? 1.0 : r.rating;
  e.timestamp_ms = r.timestamp_ms;
  return e;
}

absl::Status InstallAls(const AlsOptions& als,
                        const ModelOptions& model_options, Engine& engine,
                        const std::map<std::string, std::string>& parameters) {
  Engine::TrainingData data = engine.ExportTrainingData();
  auto factors = TrainAls(data.user_items, als);
  if (!factors.ok()) return factors.status();
  ModelMetadata meta;
  meta.version = "eval";
  meta.factors = als.factors;
  meta.interactions = data.user_items.nnz();
  meta.parameters["alpha"] = absl::StrCat(als.alpha);
  meta.parameters["regularization"] = absl::StrCat(als.regularization);
  for (const auto& [key, value] : parameters) meta.parameters[key] = value;
  ModelOptions mo = model_options;
  mo.als = als;
  auto model = FactorModel::Create(
      std::move(meta), std::move(data.item_ids), std::move(factors->items),
      std::move(data.user_ids), std::move(factors->users), mo);
  if (!model.ok()) return model.status();
  engine.SwapModel(*std::move(model));
  return absl::OkStatus();
}

BeyondAccuracy::BeyondAccuracy(std::span<const Rating> train) {
  absl::flat_hash_map<std::string, int32_t> user_index;
  for (const Rating& r : train) {
    const auto u = user_index.try_emplace(r.user_id, user_index.size());
    item_users_[r.item_id].push_back(u.first->second);
  }
  for (auto& [item, users] : item_users_) {
    std::sort(users.begin(), users.end());
    users.erase(std::unique(users.begin(), users.end()), users.end());
  }
  users_ = std::max<double>(1, static_cast<double>(user_index.size()));
}

void BeyondAccuracy::Add(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    const double share = static_cast<double>(Users(id).size()) / users_;
    popularity_ += share;
    novelty_ += -std::log2(std::max(share, 1 / users_));
    ++items_;
  }
  if (ids.size() < 2) return;
  double distance = 0;
  int pairs = 0;
  for (size_t a = 0; a < ids.size(); ++a) {
    for (size_t b = a + 1; b < ids.size(); ++b, ++pairs) {
      distance += 1 - Cosine(Users(ids[a]), Users(ids[b]));
    }
  }
  diversity_ += distance / pairs;
  ++lists_;
}

const std::vector<int32_t>& BeyondAccuracy::Users(const std::string& id) const {
  static const std::vector<int32_t> kNone;
  auto it = item_users_.find(id);
  return it == item_users_.end() ? kNone : it->second;
}

double BeyondAccuracy::Cosine(const std::vector<int32_t>& a,
                              const std::vector<int32_t>& b) {
  if (a.empty() || b.empty()) return 0;
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++common, ++i, ++j;
    }
  }
  return static_cast<double>(common) /
         std::sqrt(static_cast<double>(a.size()) * b.size());
}

absl::StatusOr<EvalReport> Evaluate(const EvalOptions& options) {
  if (options.k <= 0) return absl::InvalidArgumentError("k must be positive");
  auto train = LoadRatings(options.train_path);
  if (!train.ok()) return train.status();
  auto test = LoadRatings(options.test_path);
  if (!test.ok()) return test.status();

  EngineOptions eo = options.engine;
  bool binary = !options.rating_as_weight;
  switch (options.variant) {
    case EvalVariant::kPopular:
      eo.for_you = {false, false, false, false, false};
      eo.popularity_half_life_days = 0;
      binary = true;
      break;
    case EvalVariant::kCoOccurrence:
      eo.for_you = {false, true, false, false, false};
      // Count every pair of a user's items, as batch item-item CF does.
      eo.co_occurrence_window = std::max(eo.co_occurrence_window, 100000);
      eo.co_occurrence_max_neighbors =
          std::max(eo.co_occurrence_max_neighbors, 100000);
      eo.max_history_per_user = std::max(eo.max_history_per_user, 100000);
      break;
    case EvalVariant::kAls:
      break;
    case EvalVariant::kPeopleLikeYou:
      eo.for_you = {false, false, false, false, true};
      break;
  }
  Engine engine(eo);
  const absl::flat_hash_set<std::string> item_set =
      ReplayRatings(*train, binary, engine);

  EvalReport report;
  report.variant = std::string(EvalVariantName(options.variant));
  report.k = options.k;
  report.train_ratings = static_cast<int64_t>(train->size());
  report.test_ratings = static_cast<int64_t>(test->size());

  if (options.variant == EvalVariant::kAls ||
      options.variant == EvalVariant::kPeopleLikeYou) {
    std::map<std::string, std::string> parameters;
    if (options.variant == EvalVariant::kAls &&
        options.session_ranker.steps > 0 && eo.session.ranker_weights.empty()) {
      absl::StatusOr<SessionRankerTraining> ranker = FitSessionRankerOnEvents(
          RatingItems(*train), RatingEvents(*train, binary), eo, options.als,
          options.session_ranker);
      // FailedPrecondition: nothing to fit on (as `aisle train`, the hand
      // blend then).
      if (!ranker.ok() && !absl::IsFailedPrecondition(ranker.status())) {
        return ranker.status();
      }
      if (ranker.ok()) {
        report.ranker_weights = ranker->fit.weights;
        report.ranker_fit_seconds = ranker->seconds;
        parameters[std::string(kSessionRankerWeightsParameter)] =
            FormatSessionRankerWeights(ranker->fit.weights);
      }
    }
    const auto start = SteadyClock::now();
    if (absl::Status s = InstallAls(options.als, eo.model, engine, parameters);
        !s.ok()) {
      return s;
    }
    report.train_seconds = SecondsSince(start);
  } else {
    engine.RefreshUserVectors();
  }

  // Test users in order of first appearance.
  std::vector<std::string> users;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> relevant;
  for (const Rating& r : *test) {
    auto [it, inserted] = relevant.try_emplace(r.user_id);
    if (inserted) users.push_back(r.user_id);
    it->second.insert(r.item_id);
  }
  absl::flat_hash_set<std::string> recommended_items;
  BeyondAccuracy beyond(*train);
  RankingScores sum;
  const auto start = SteadyClock::now();
  for (const std::string& user : users) {
    RecommendRequest req;
    req.user_id = user;
    req.scenario = Scenario::kForYou;
    req.count = options.k;
    req.include_seen = false;
    req.exploration = options.exploration;
    auto rec = engine.Recommend(req);
    std::vector<std::string> ids;
    if (rec.ok()) {
      for (const ScoredItem& s : rec->items) ids.push_back(s.item_id);
    }
    for (const std::string& id : ids) recommended_items.insert(id);
    beyond.Add(ids);
    const RankingScores s = ScoreRanking(ids, relevant[user], options.k);
    sum.f1 += s.f1;
    sum.precision += s.precision;
    sum.recall += s.recall;
    sum.ndcg += s.ndcg;
    sum.average_precision += s.average_precision;
  }
  report.recommend_seconds = SecondsSince(start);
  const double n = users.empty() ? 1.0 : static_cast<double>(users.size());
  report.users_evaluated = static_cast<int64_t>(users.size());
  report.precision = sum.precision / n;
  report.recall = sum.recall / n;
  report.ndcg = sum.ndcg / n;
  report.map = sum.average_precision / n;
  report.f1 = sum.f1 / n;
  report.novelty = beyond.novelty();
  report.popularity = beyond.popularity();
  report.intra_list_diversity = beyond.intra_list_diversity();
  report.coverage = item_set.empty()
                        ? 0
                        : static_cast<double>(recommended_items.size()) /
                              static_cast<double>(item_set.size());
  return report;
}

}  // namespace aisle::core
