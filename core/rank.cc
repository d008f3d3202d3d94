// Engine::Rank: re-ranking the caller's items (a search result or category
// page) for one user. Reuses the Runner's user lookup, vector solving and
// explanations; the candidates are the caller's, not the sources'. The
// order follows FOR_YOU's cascade: the factor model's scores; for a user
// FOR_YOU serves from their attributes (Runner::FromAttributes), the
// attribute-conditional popularity of the items users like them engage
// with; then popularity for the rest.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "absl/container/flat_hash_map.h"
#include "core/recommend_runner.h"

namespace aisle::core {

RankResult Engine::Rank(const RankRequest& request) const {
  const std::shared_ptr<const State::Binding> b = state_->CurrentBinding();
  RecommendRequest as_recommend;
  as_recommend.user_id = request.user_id;
  as_recommend.include_seen = true;
  as_recommend.explain = request.explain;
  as_recommend.count = 0;
  State::Runner runner(*state_, b.get(), as_recommend, nullptr);
  absl::ReaderMutexLock lock(&runner.mu());
  return runner.Rank(request.item_ids);
}

RankResult Engine::State::Runner::Rank(
    const std::vector<std::string>& item_ids) {
  Prepare();
  RankResult result;
  if (b_ != nullptr) result.model_version = b_->model->version();
  const float* vec = UserVector();
  // Without a vector, the attribute candidates FOR_YOU would show, each
  // with its score; the limit takes every candidate the counts offer.
  absl::flat_hash_map<int32_t, Candidate> by_attributes;
  if (vec == nullptr && FromAttributes()) {
    for (const Candidate& c : AttributeCandidates(s_.items.size())) {
      by_attributes.emplace(c.item, c);
    }
  }
  std::vector<Candidate> modelled, by_popularity;
  for (const std::string& id : item_ids) {
    const int32_t i = s_.FindItem(id);
    if (i < 0 || !s_.items[i].in_catalog) {
      result.unknown_item_ids.push_back(id);
      continue;
    }
    const int32_t row = vec != nullptr ? b_->Row(i) : -1;
    if (auto it = by_attributes.find(i); it != by_attributes.end()) {
      modelled.push_back(it->second);
    } else if (row >= 0) {
      const FactorModel& m = *b_->model;
      const double score = m.item_factors().row(row).dot(
          Eigen::Map<const Eigen::RowVectorXf>(vec, m.factors()));
      modelled.push_back({i, score, Source::kFactorModel,
                          ReasonCode::kMatchesYourTaste, -1, 0});
    } else {
      by_popularity.push_back({i, s_.popularity.ScoreAt(i, s_.now_ms),
                               Source::kPopularity, ReasonCode::kPopular, -1,
                               0});
    }
  }
  // Popularity alone is the fallback, as in FOR_YOU: a user ranked by
  // their attributes is not falling back.
  if (vec == nullptr && modelled.empty()) {
    result.fallback = true;
    result.fallback_reason = user_ == nullptr ? "unknown user"
                             : b_ == nullptr  ? "no model"
                                              : "no history";
  }
  const auto best_first = [](const Candidate& a, const Candidate& b) {
    return a.score > b.score;
  };
  std::stable_sort(modelled.begin(), modelled.end(), best_first);
  std::stable_sort(by_popularity.begin(), by_popularity.end(), best_first);
  modelled.insert(modelled.end(), by_popularity.begin(), by_popularity.end());
  for (const Candidate& c : modelled) {
    ScoredItem item;
    item.item_id = s_.item_ids[c.item];
    item.score = c.score;
    item.source = c.source;
    if (req_.explain) item.reasons.push_back(Explain(c));
    result.items.push_back(std::move(item));
  }
  for (const std::string& id : result.unknown_item_ids) {
    ScoredItem item;
    item.item_id = id;
    result.items.push_back(std::move(item));
  }
  return result;
}

}  // namespace aisle::core
