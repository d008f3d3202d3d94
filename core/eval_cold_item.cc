#include "core/eval_cold_item.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace aisle::core {
namespace {

// MovieLens' u.genre, in flag order.
constexpr const char* kGenres[] = {
    "unknown",   "action",   "adventure",   "animation", "children's",
    "comedy",    "crime",    "documentary", "drama",     "fantasy",
    "film-noir", "horror",   "musical",     "mystery",   "romance",
    "sci-fi",    "thriller", "war",         "western"};
constexpr size_t kNumGenres = sizeof(kGenres) / sizeof(kGenres[0]);

// Share of (relevant, other) pairs in the right order, ties counting half.
double Auc(const std::vector<double>& scores,
           const std::vector<bool>& relevant) {
  double right = 0, pairs = 0;
  for (size_t a = 0; a < scores.size(); ++a) {
    if (!relevant[a]) continue;
    for (size_t b = 0; b < scores.size(); ++b) {
      if (relevant[b]) continue;
      pairs += 1;
      right += scores[a] > scores[b] ? 1 : scores[a] == scores[b] ? 0.5 : 0;
    }
  }
  return pairs > 0 ? right / pairs : 0.5;
}

ColdItemScores Score(const std::vector<std::string>& held_out,
                     const std::vector<double>& scores,
                     const absl::flat_hash_set<std::string>& relevant, int k) {
  std::vector<size_t> order(held_out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<std::string> ranked;
  ranked.reserve(order.size());
  for (size_t i : order) ranked.push_back(held_out[i]);
  const RankingScores r = ScoreRanking(ranked, relevant, k);
  std::vector<bool> is_relevant(held_out.size());
  for (size_t i = 0; i < held_out.size(); ++i) {
    is_relevant[i] = relevant.contains(held_out[i]);
  }
  return {r.ndcg, r.recall, Auc(scores, is_relevant)};
}

}  // namespace

absl::StatusOr<std::vector<Item>> LoadMovieLensItems(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::vector<Item> items;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::vector<std::string> f = absl::StrSplit(line, '|');
    if (f.size() != 5 + kNumGenres || f[0].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_no, ": expected id|title|date|video date|url|",
          kNumGenres, " genre flags, got ", f.size(), " fields"));
    }
    Item item;
    item.item_id = f[0];
    std::string title = f[1];
    // "Toy Story (1995)": the year becomes an attribute.
    int year = 0;
    if (title.size() >= 7 && title.back() == ')' &&
        title[title.size() - 6] == '(' &&
        absl::SimpleAtoi(title.substr(title.size() - 5, 4), &year)) {
      title.resize(title.size() - 6);
      while (!title.empty() && title.back() == ' ') title.pop_back();
      item.attributes["year"] = absl::StrCat(year);
      item.attributes["decade"] = absl::StrCat(year / 10 * 10, "s");
    }
    item.title = title;
    for (size_t g = 0; g < kNumGenres; ++g) {
      if (f[5 + g] == "1") item.categories.emplace_back(kGenres[g]);
    }
    items.push_back(std::move(item));
  }
  return items;
}

absl::StatusOr<ColdItemReport> EvaluateColdItem(
    std::span<const Rating> ratings, std::span<const Item> items,
    const ColdItemOptions& options) {
  if (options.k < 1) return absl::InvalidArgumentError("k must be >= 1");
  if (!(options.holdout > 0 && options.holdout < 1)) {
    return absl::InvalidArgumentError("holdout must be in (0, 1)");
  }
  if (options.shuffles < 1) {
    return absl::InvalidArgumentError("shuffles must be >= 1");
  }
  // The rated items in order of first appearance, then a seeded shuffle.
  std::vector<std::string> rated;
  absl::flat_hash_set<std::string> seen;
  for (const Rating& r : ratings) {
    if (seen.insert(r.item_id).second) rated.push_back(r.item_id);
  }
  std::mt19937_64 rng(options.seed);
  std::shuffle(rated.begin(), rated.end(), rng);
  const auto n_held = static_cast<size_t>(
      std::max(1.0, std::round(options.holdout * rated.size())));
  const std::vector<std::string> held_out(rated.begin(),
                                          rated.begin() + n_held);
  const absl::flat_hash_set<std::string> held(held_out.begin(), held_out.end());

  Engine engine(options.engine);
  engine.UpsertItems(items);
  ColdItemReport report;
  report.k = options.k;
  report.held_out_items = static_cast<int64_t>(n_held);
  std::vector<Event> events;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> relevant;
  for (size_t i = 0; i < ratings.size(); ++i) {
    const Rating& r = ratings[i];
    if (held.contains(r.item_id)) {
      relevant[r.user_id].insert(r.item_id);
    } else {
      events.push_back(RatingEvent(r, /*binary=*/false, absl::StrCat("t", i)));
    }
  }
  report.train_ratings = static_cast<int64_t>(events.size());
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) {
                     return a.timestamp_ms < b.timestamp_ms;
                   });
  engine.ReplayEvents(events);

  // Users in a fixed order (first appearance), so the report is exact.
  std::vector<std::string> users;
  absl::flat_hash_set<std::string> user_seen;
  for (const Rating& r : ratings) {
    if (relevant.contains(r.user_id) && user_seen.insert(r.user_id).second) {
      users.push_back(r.user_id);
    }
  }
  ColdItemScores sum, random_sum;
  std::vector<double> random_scores(n_held);
  for (const std::string& user : users) {
    if (!engine.GetUser(user).has_value()) continue;  // no training rating
    const auto& rel = relevant[user];
    const ColdItemScores s =
        Score(held_out, engine.ContentScores(user, held_out), rel, options.k);
    sum.ndcg += s.ndcg;
    sum.recall += s.recall;
    sum.auc += s.auc;
    for (int t = 0; t < options.shuffles; ++t) {
      for (double& x : random_scores) {
        x = std::uniform_real_distribution<double>(0, 1)(rng);
      }
      const ColdItemScores r = Score(held_out, random_scores, rel, options.k);
      random_sum.ndcg += r.ndcg / options.shuffles;
      random_sum.recall += r.recall / options.shuffles;
      random_sum.auc += r.auc / options.shuffles;
    }
    ++report.users_evaluated;
  }
  if (report.users_evaluated == 0) {
    return absl::InvalidArgumentError(
        "no user rated a held-out item and a training item");
  }
  const auto n = static_cast<double>(report.users_evaluated);
  report.content = {sum.ndcg / n, sum.recall / n, sum.auc / n};
  report.random = {random_sum.ndcg / n, random_sum.recall / n,
                   random_sum.auc / n};
  return report;
}

}  // namespace aisle::core
