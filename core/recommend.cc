// One Recommend call: Engine::Recommend and the Runner's main line
// (eligibility, the candidate sources of each scenario, fallback, the
// response).
//
// Candidate sources, in order, each topping up what the previous left:
//   FOR_YOU: factor model (see retrieval.cc for ANN vs exact), blended
//     with co-occurrence for items the model does not know and with the
//     session signal (session_source.cc; alone when there is no user
//     vector, e.g. an anonymous visitor's context items); then
//     co-occurrence of the user's recent items (or, for an unknown user,
//     of context_item_ids, then their vector similarity); then same
//     category (content); for a user with no history of their own but
//     attributes (Engine::UpsertUsers), what users with the same
//     attributes engage with; then popularity. "People like you"
//     (people_like_you.cc) is blended into the model's scores when its
//     weight is > 0, and is the first source when the factor model is off.
//     EngineOptions::for_you turns the sources off one by one (for the
//     offline evaluation).
//   SIMILAR_ITEMS: item-vector cosine merged with the content cosine of
//     new items (content_source.cc), co-occurrence (then, without a model,
//     the new items), same category (content), popularity.
//   FOR_YOU and SIMILAR_ITEMS then keep their last new-item slots for new
//   items whose content matches (ContentOptions), and FOR_YOU is steered
//   toward the user's latest query while it is fresh.
//   FREQUENTLY_BOUGHT_TOGETHER: cart/purchase co-occurrence, all
//     co-occurrence, item-vector cosine, content, popularity.
//   RECENTLY_VIEWED: the user's distinct history, most recent first (no
//     top-up; include_seen implied).
//   TRENDING: trending, then popularity order of the rest.
//   POPULAR (bestsellers): decayed purchase count (orders, half-life
//     popularity_half_life_days), then popularity order of the rest; per
//     category through filter.include_categories.
// The popularity and trending top-ups end with the rest of the catalog in
// id order, so the list is full whenever enough eligible items exist.
// fallback_reason names why the scenario's own sources produced nothing.
// diversity > 0 over-fetches (1 + 2 * diversity) * count candidates and
// re-ranks them (diversity.cc); exploration > 0 over-fetches 4 *
// exploration * count more and re-orders them first (exploration.cc).
// The request's stop condition is checked before the work, after the
// candidate sources (retrieval and ranking are one step per source) and
// after the re-rank, before the explanation: a caller that gave up costs at
// most one more stage.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/recommend_runner.h"
#include "core/small_int_set.h"
#include "core/string_view.h"

namespace aisle::core {

absl::StatusOr<Recommendation> Engine::Recommend(
    const RecommendRequest& request, RecommendTrace* trace) const {
  // The binding (and so the model) is held for the whole request even if a
  // swap happens meanwhile.
  const std::shared_ptr<const State::Binding> b = state_->CurrentBinding();
  State::Runner runner(*state_, b.get(), request, trace);
  absl::ReaderMutexLock lock(&runner.mu());
  return runner.Run();
}

absl::Status Engine::State::Runner::CheckStop() const {
  if (req_.cancelled && req_.cancelled()) {
    return absl::CancelledError("the caller cancelled the request");
  }
  if (req_.deadline != absl::InfiniteFuture() && absl::Now() >= req_.deadline) {
    return absl::DeadlineExceededError(
        "the request's deadline passed before it was answered");
  }
  return absl::OkStatus();
}

int Engine::State::Runner::AddAll(std::vector<Candidate> cands) {
  std::stable_sort(
      cands.begin(), cands.end(),
      [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  int added = 0;
  for (const Candidate& c : cands) {
    if (Full()) break;
    added += Add(c) ? 1 : 0;
  }
  return added;
}

void Engine::State::Runner::Prepare() {
  if (!req_.user_id.empty()) {
    if (auto it = s_.user_index.find(req_.user_id); it != s_.user_index.end()) {
      user_row_ = it->second;
      user_ = &s_.users[user_row_];
    }
  }
  filter_.has_include = !req_.filter.include_categories.empty();
  for (const auto& c : req_.filter.include_categories) {
    if (int32_t p = s_.FindPrefix(c); p >= 0) filter_.include.push_back(p);
  }
  for (const auto& c : req_.filter.exclude_categories) {
    if (int32_t p = s_.FindPrefix(c); p >= 0) filter_.exclude.push_back(p);
  }
  filter_.min_price = req_.filter.min_price;
  filter_.max_price = req_.filter.max_price;
  filter_.available_only = req_.filter.available_only;
  for (const auto& id : req_.filter.exclude_item_ids) {
    if (int32_t i = s_.FindItem(id); i >= 0) excluded_.insert(i);
  }
  for (const auto& id : req_.context_item_ids) {
    const int32_t i = s_.FindItem(id);
    if (i >= 0 &&
        std::find(context_.begin(), context_.end(), i) == context_.end()) {
      context_.push_back(i);
    }
  }
  for (int32_t c : context_) context_seeds_.emplace_back(c, 1.0f);
  if (req_.scenario == Scenario::kSimilarItems ||
      req_.scenario == Scenario::kFrequentlyBoughtTogether) {
    excluded_.insert(context_.begin(), context_.end());
  }
  include_seen_ =
      req_.include_seen || req_.scenario == Scenario::kRecentlyViewed;
  if (user_ != nullptr) {
    SmallIntSet seen;
    const size_t limit =
        static_cast<size_t>(std::max(1, s_.options.co_occurrence_window));
    for (auto it = user_->history.rbegin();
         it != user_->history.rend() && recent_.size() < limit; ++it) {
      if (!seen.Insert(it->item)) continue;
      const UserItem* ui = user_->Find(it->item);
      const float w = ui != nullptr ? s_.Weight(*user_, *ui) : 0;
      if (w > 0) recent_.emplace_back(it->item, w);
    }
  }
  if (req_.scenario == Scenario::kForYou && s_.options.for_you.session &&
      req_.sources.session) {
    PrepareSession();
  }
}

absl::StatusOr<Recommendation> Engine::State::Runner::Run() {
  const Scenario scenario = req_.scenario;
  const bool context_scenario = scenario == Scenario::kSimilarItems ||
                                scenario == Scenario::kFrequentlyBoughtTogether;
  // The REQUIRES of Engine::Recommend (server/validation.cc checks them).
  AISLE_DCHECK(static_cast<int>(scenario) >= 1 &&
               static_cast<int>(scenario) < kNumScenarios);
  AISLE_DCHECK(req_.count >= 0);
  AISLE_DCHECK(!context_scenario || !req_.context_item_ids.empty());
  if (absl::Status stop = CheckStop(); !stop.ok()) return stop;
  Prepare();
  const size_t count = static_cast<size_t>(req_.count);
  const double diversity = std::clamp(req_.diversity, 0.0, 1.0);
  const double exploration = std::clamp(req_.exploration, 0.0, 1.0);
  want_ = count + static_cast<size_t>(std::ceil(2 * diversity * count)) +
          static_cast<size_t>(std::ceil(4 * exploration * count));

  Recommendation rec;
  if (b_ != nullptr) rec.model_version = b_->model->version();
  std::string fallback_reason;
  switch (scenario) {
    case Scenario::kForYou:
      ForYou(&fallback_reason);
      break;
    case Scenario::kSimilarItems:
      SimilarItems(&fallback_reason);
      break;
    case Scenario::kFrequentlyBoughtTogether:
      FrequentlyBoughtTogether(&fallback_reason);
      break;
    case Scenario::kRecentlyViewed:
      RecentlyViewed();
      break;
    case Scenario::kTrending:
      Ranked(s_.trending, s_.trending_rank, Source::kTrending,
             ReasonCode::kTrending);
      break;
    case Scenario::kPopular:
      Ranked(s_.bestsellers, s_.bestseller_rank, Source::kPopularity,
             ReasonCode::kPopular, /*catalog_top_up=*/false);
      Ranked(s_.popularity, s_.popularity_rank, Source::kPopularity,
             ReasonCode::kPopular);
      break;
  }
  if (context_scenario && context_.empty() && out_.empty()) {
    return absl::NotFoundError("none of the context items is known");
  }
  if (absl::Status stop = CheckStop(); !stop.ok()) return stop;

  if (exploration > 0 && scenario != Scenario::kRecentlyViewed) {
    Explore(count);
  }
  if (diversity > 0) Diversify(count);
  if (scenario == Scenario::kSimilarItems ||
      (scenario == Scenario::kForYou && s_.options.for_you.content &&
       req_.sources.content)) {
    NewItemSlots(count);
  }
  if (absl::Status stop = CheckStop(); !stop.ok()) return stop;
  if (out_.size() > count) out_.resize(count);
  rec.fallback = !fallback_reason.empty();
  rec.fallback_reason = fallback_reason;
  if (!out_.empty()) rec.source = out_.front().source;
  const bool new_user = rec.fallback && (user_ == nullptr || recent_.empty());
  rec.items.reserve(out_.size());
  for (const Candidate& c : out_) {
    ScoredItem item;
    item.item_id = s_.item_ids[c.item];
    item.score = c.score;
    item.source = c.source;
    if (req_.explain) {
      item.reasons.push_back(Explain(c));
      if (c.reason == ReasonCode::kNewItem) {
        Candidate shared = c;
        shared.reason = ReasonCode::kSimilarContent;
        item.reasons.push_back(Explain(shared));
      }
      if (new_user && c.source == Source::kPopularity) {
        item.reasons.push_back(
            {ReasonCode::kNewUserFallback, "", "Popular with other shoppers"});
      }
    }
    rec.items.push_back(std::move(item));
  }
  if (trace_ != nullptr) {
    for (size_t k = 0; k < by_source_.size(); ++k) {
      trace_->candidates_by_source[k] += by_source_[k];
    }
  }
  return rec;
}

void Engine::State::Runner::ForYou(std::string* fallback_reason) {
  const ForYouSources& on = s_.options.for_you;
  const ForYouSources sources{
      on.factor_model && req_.sources.factor_model,
      on.co_occurrence && req_.sources.co_occurrence,
      on.content && req_.sources.content, on.session && req_.sources.session,
      on.people_like_you && req_.sources.people_like_you};
  const double people_weight = s_.options.people_like_you.blend_weight;
  const bool has_vector = user_ != nullptr && b_ != nullptr &&
                          sources.factor_model && UserVector() != nullptr;
  if (has_vector) {
    std::vector<Candidate> cands = ModelForYou();
    if (sources.co_occurrence && !recent_.empty()) {
      // Blend in items the model does not know (new since training),
      // placed within the model's score range by their co-occurrence
      // strength relative to the strongest co-occurring item.
      // The latest few items bound the cost per request.
      constexpr size_t kColdSeeds = 10;
      const std::vector<std::pair<int32_t, float>> seeds(
          recent_.begin(),
          recent_.begin() + std::min(kColdSeeds, recent_.size()));
      // One pass over the co-occurrences: the cold items, and the
      // strongest co-occurring item of any kind to scale them by.
      double best = 0;
      const std::vector<Candidate> co = ColdCoOccurrence(seeds, &best);
      double hi = 1, lo = 0;
      if (!cands.empty()) {
        hi = cands.front().score;
        lo = cands.back().score;
      }
      for (const Candidate& c : co) {
        Candidate cold = c;
        cold.reason = ReasonCode::kBecauseYouInteracted;
        cold.score = lo + (hi - lo) * (best > 0 ? c.score / best : 0);
        cands.push_back(cold);
      }
    }
    if (!session_.empty()) cands = BlendSession(std::move(cands));
    if (sources.people_like_you && people_weight > 0) {
      cands = Blend(std::move(cands), PeopleLikeYouCandidates(), people_weight,
                    Source::kPeopleLikeYou, ReasonCode::kPeopleLikeYou);
    }
    AddAll(std::move(cands));
  } else if (!session_.empty()) {
    AddAll(SessionCandidates());
  } else if (sources.people_like_you && !sources.factor_model &&
             user_ != nullptr && b_ != nullptr) {
    // The source alone (the factor model turned off: the evaluation's
    // `people_like_you` row); it still needs the user's vector.
    AddAll(PeopleLikeYouCandidates());
  }
  if (!recent_.empty() && sources.co_occurrence) {
    std::vector<Candidate> co = CoOccurrence(recent_, false);
    for (Candidate& c : co) c.reason = ReasonCode::kBecauseYouInteracted;
    AddAll(std::move(co));
  }
  if (user_ == nullptr && !context_seeds_.empty()) {
    std::vector<Candidate> co = CoOccurrence(context_seeds_, false);
    for (Candidate& c : co) c.reason = ReasonCode::kSimilarTo;
    AddAll(std::move(co));
    if (b_ != nullptr) AddAll(VectorSimilar());
  }
  if (sources.content) {
    AddAll(Content(!recent_.empty() ? recent_ : context_seeds_));
  }
  if (FromAttributes() && !Full()) {
    // Over-fetch: seen, filtered and taken items are skipped by AddAll.
    AddAll(AttributeCandidates(4 * want_ + 64));
  }
  if (out_.empty()) {
    if (req_.user_id.empty() && context_.empty()) {
      *fallback_reason = "anonymous user";
    } else if (user_ == nullptr && context_.empty()) {
      *fallback_reason = "unknown user";
    } else if (recent_.empty() && context_.empty()) {
      *fallback_reason = "no history";
    } else if (b_ == nullptr) {
      *fallback_reason = "no model";
    } else {
      *fallback_reason = "no personal candidates";
    }
  }
  Ranked(s_.popularity, s_.popularity_rank, Source::kPopularity,
         ReasonCode::kPopular);
  if (sources.content) SteerBySearch();
}

void Engine::State::Runner::SimilarItems(std::string* fallback_reason) {
  if (b_ != nullptr) AddAll(BlendContent(VectorSimilar()));
  std::vector<Candidate> co = CoOccurrence(context_seeds_, false);
  for (Candidate& c : co) c.reason = ReasonCode::kSimilarTo;
  AddAll(std::move(co));
  // Without a model, new items sharing content follow what the events say.
  // (The other sources return nothing for a full list themselves;
  // BlendContent also re-scores a list, so the check is here.)
  if (b_ == nullptr && !Full()) AddAll(BlendContent({}));
  AddAll(Content(context_seeds_));
  if (out_.empty()) {
    *fallback_reason =
        context_.empty() ? "unknown context items" : "no similar items";
  }
  Ranked(s_.popularity, s_.popularity_rank, Source::kPopularity,
         ReasonCode::kPopular);
}

void Engine::State::Runner::FrequentlyBoughtTogether(
    std::string* fallback_reason) {
  std::vector<Candidate> cart = CoOccurrence(context_seeds_, true);
  for (Candidate& c : cart) c.reason = ReasonCode::kBoughtTogether;
  AddAll(std::move(cart));
  std::vector<Candidate> co = CoOccurrence(context_seeds_, false);
  for (Candidate& c : co) c.reason = ReasonCode::kBoughtTogether;
  AddAll(std::move(co));
  if (out_.empty()) {
    *fallback_reason =
        context_.empty() ? "unknown context items" : "no co-purchase data";
  }
  if (b_ != nullptr) AddAll(VectorSimilar());
  AddAll(Content(context_seeds_));
  Ranked(s_.popularity, s_.popularity_rank, Source::kPopularity,
         ReasonCode::kPopular);
}

}  // namespace aisle::core
