// Offline evaluation of the engine on a ratings train/test split, through
// Engine::Recommend: the same code path the server uses.
//
// Protocol (../shared/data/README.md): every train rating is an implicit
// positive; for every test user the engine recommends the top k items with
// the user's train items removed (FOR_YOU, include_seen = false); an item is
// relevant if it is in the user's test rows. Metrics are averaged over all
// test users; a user with no recommendations scores zero.
//
// Thread safety: all functions are reentrant.
#ifndef AISLE_CORE_EVAL_H_
#define AISLE_CORE_EVAL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/als.h"
#include "core/engine.h"
#include "core/session_ranker.h"

namespace aisle::core {

struct Rating {
  std::string user_id;
  std::string item_id;
  double rating = 0;
  int64_t timestamp_ms = 0;
};

// Reads "user item rating unix_seconds" lines separated by tabs, commas or
// spaces; a first line that does not parse is taken as a header. Returns
// NotFound if the file cannot be opened, InvalidArgument naming the line
// numbers (first few) of malformed lines.
absl::StatusOr<std::vector<Rating>> LoadRatings(const std::string& path);

// The line loop of the data-file readers (LoadRatings, LoadUserAttributes):
// calls parse(line, number) for every non-empty line of `path` (a trailing
// '\r' removed; numbers count from 1), which returns false for a malformed
// line. NotFound if the file cannot be opened; InvalidArgument "<path>: N
// malformed line(s), e.g. line a, b (expected: <expected>)" naming the first
// five.
absl::Status ForEachDataLine(
    const std::string& path, std::string_view expected,
    const std::function<bool(const std::string& line, int64_t number)>& parse);

enum class EvalVariant {
  kPopular,       // most popular, plain counts, no time decay
  kCoOccurrence,  // FOR_YOU from item co-occurrence only
  kAls,           // implicit ALS trained on the engine's export
  // FOR_YOU from "people like you" alone (nearest users by ALS vector)
  kPeopleLikeYou,
};
std::string_view EvalVariantName(EvalVariant variant);

struct EvalOptions {
  std::string train_path;
  std::string test_path;
  EvalVariant variant = EvalVariant::kAls;
  int k = 10;
  // kAls: training options (threads = 0 uses every core).
  AlsOptions als;
  // Engine options; the variant overrides what it must (sources, decay).
  EngineOptions engine;
  // true: every rating weighs engine.weights.rating_scale * rating; false:
  // every rating weighs 1 (binary). kPopular always counts (binary).
  // Default: true. On ml-100k-split-by-user with default AlsOptions:
  // rating value nDCG@10 0.4916, binary 0.4219 (binary needs alpha 1.5 and
  // regularization 25 to reach 0.4877); rating_scale 0.2 (weights 0.2..1)
  // gives 0.4167 unless alpha is raised to 5 (then equal to scale 1).
  bool rating_as_weight = true;
  // RecommendRequest::exploration of every request. Default 0.
  double exploration = 0;
  // kAls: the session ranker's weights are fitted on the
  // training ratings as `aisle train` fits them (FitSessionRankerOnEvents)
  // and stored with the model, unless engine.session.ranker_weights is
  // set; steps 0: none (the hand blend).
  SessionRankerTrainingOptions session_ranker;
};

struct EvalReport {
  std::string variant;
  int k = 10;
  double precision = 0;  // P@k
  double recall = 0;     // R@k
  double ndcg = 0;       // nDCG@k
  double map = 0;        // MAP (Microsoft Recommenders definition)
  double coverage = 0;   // distinct recommended items / distinct train items
  double f1 = 0;         // mean over users of 2 P R / (P + R) at k
  // Mean self-information of recommended items, -log2(share of train
  // users who interacted with the item): higher = less obvious items.
  double novelty = 0;
  // Mean over users of the mean pairwise distance of their list, 1 -
  // cosine of the items' train user sets (no categories in the data).
  double intra_list_diversity = 0;
  // Mean share of train users who interacted with a recommended item.
  double popularity = 0;
  int64_t users_evaluated = 0;
  int64_t train_ratings = 0;
  int64_t test_ratings = 0;
  double train_seconds = 0;      // model training (kAls), else 0
  double recommend_seconds = 0;  // all Recommend calls
  // The session ranker's fitted weights (empty: not fitted).
  std::vector<double> ranker_weights;
  double ranker_fit_seconds = 0;
};

// Runs the protocol. Errors: those of LoadRatings, InvalidArgument for
// k <= 0, and training errors of TrainAls/FactorModel::Create.
absl::StatusOr<EvalReport> Evaluate(const EvalOptions& options);

// Per-user ranking metrics (pure). `recommended` is best first; only its
// first k entries count. With no relevant items every metric is 0.
struct RankingScores {
  double precision = 0;  // hits in top k / k
  double recall = 0;     // hits in top k / |relevant|
  double ndcg = 0;       // binary gains, log2(rank + 1) discount, ideal DCG
                         // over min(k, |relevant|) items
  double average_precision = 0;  // sum over hits of hits-so-far / rank,
                                 // divided by |relevant|
  double f1 = 0;                 // 2 precision recall / (precision + recall)
};
RankingScores ScoreRanking(std::span<const std::string> recommended,
                           const absl::flat_hash_set<std::string>& relevant,
                           int k);

// Shared by the evaluation protocols (eval.cc, eval_next_item.cc).
// The event of a rating: kRating, value = the rating (1 when binary).
Event RatingEvent(const Rating& r, bool binary, std::string event_id);
// The rated items (ids only) in order of first appearance.
std::vector<Item> RatingItems(std::span<const Rating> ratings);
// RatingEvent of each rating, in input order, ids "train-<index>".
std::vector<Event> RatingEvents(std::span<const Rating> ratings, bool binary);
// Upserts the rated items (ids only, in order of first appearance) and
// replays the ratings in time order (ties in file order) through
// Engine::ReplayEvents. Returns the item ids.
absl::flat_hash_set<std::string> ReplayRatings(std::span<const Rating> ratings,
                                               bool binary, Engine& engine);
// Trains implicit ALS on the engine's export and swaps the model in;
// `parameters` go into its metadata (e.g. the session ranker's weights,
// kSessionRankerWeightsParameter). Errors: those of TrainAls and
// FactorModel::Create.
absl::Status InstallAls(
    const AlsOptions& als, const ModelOptions& model_options, Engine& engine,
    const std::map<std::string, std::string>& parameters = {});

// Novelty, popularity and intra-list diversity of recommended lists, from
// the train users of each item (EvalReport's definitions). Not
// thread-safe.
class BeyondAccuracy {
 public:
  explicit BeyondAccuracy(std::span<const Rating> train);
  // One user's list, best first.
  void Add(const std::vector<std::string>& ids);
  double novelty() const { return items_ > 0 ? novelty_ / items_ : 0; }
  double popularity() const { return items_ > 0 ? popularity_ / items_ : 0; }
  double intra_list_diversity() const {
    return lists_ > 0 ? diversity_ / lists_ : 0;
  }

 private:
  const std::vector<int32_t>& Users(const std::string& id) const;
  static double Cosine(const std::vector<int32_t>& a,
                       const std::vector<int32_t>& b);

  absl::flat_hash_map<std::string, std::vector<int32_t>> item_users_;
  double users_ = 1;
  double novelty_ = 0, popularity_ = 0, diversity_ = 0;
  int64_t items_ = 0, lists_ = 0;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_EVAL_H_
