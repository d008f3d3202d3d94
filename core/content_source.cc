// The Runner's content-vector steps (ContentOptions in core/engine.h; the
// vectors in core/content.h): the request's content profile, the
// SIMILAR_ITEMS blend of model and content cosine, FOR_YOU steered by a
// fresh search, and the slots kept for new items, so that an item nobody
// has touched yet is shown to the users whose taste its content matches
// (the factor model cannot rank it before it has events and a retraining).
#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/recommend_runner.h"

namespace aisle::core {
namespace {

size_t MaxPostings(const ContentOptions& o) {
  return static_cast<size_t>(std::max(1, o.max_postings));
}

// What a request reads of the new items' postings, newest first, and how
// many of the best it looks at: a store can hold tens of thousands of
// items nobody has touched yet (measured: all of them cost 75 ms per
// FOR_YOU at 100k items), and the slots need one or two.
constexpr size_t kFreshPostings = 512;
constexpr size_t kFreshLimit = 16;
// A guess at an item's distinct content terms (category path, title and
// description words), to size a profile's sum once.
constexpr size_t kProfileTermsPerItem = 16;

}  // namespace

std::vector<double> Engine::ContentScores(
    std::string_view user_id, std::span<const std::string> item_ids) const {
  RecommendRequest request;
  request.user_id = std::string(user_id);
  State::Runner runner(*state_, nullptr, request, nullptr);
  absl::ReaderMutexLock lock(&runner.mu());
  return runner.ContentScores(item_ids);
}

std::vector<double> Engine::State::Runner::ContentScores(
    std::span<const std::string> item_ids) {
  Prepare();
  std::vector<double> out(item_ids.size(), 0.0);
  if (user_ == nullptr) return out;
  const ContentVector& q = Profile();
  for (size_t k = 0; k < item_ids.size(); ++k) {
    const int32_t i = s_.FindItem(item_ids[k]);
    if (i >= 0 && s_.items[i].in_catalog) {
      out[k] = ContentIndex::Dot(q, s_.content.ItemVector(i));
    }
  }
  return out;
}

const ContentVector& Engine::State::Runner::Profile() {
  if (profile_built_) return profile_;
  profile_built_ = true;
  const ContentOptions& o = s_.options.content;
  ContentProfile sum;
  if (req_.scenario == Scenario::kForYou && user_ != nullptr) {
    const size_t n = std::min(
        recent_.size(), static_cast<size_t>(std::max(0, o.profile_items)));
    absl::InlinedVector<int32_t, 64> items;
    for (size_t k = 0; k < n; ++k) items.push_back(recent_[k].first);
    s_.content.Prefetch(items);
    // Room for every term once (items share many): no rehash while
    // summing.
    sum.reserve(n * kProfileTermsPerItem);
    for (size_t k = 0; k < n; ++k) {
      s_.content.AccumulateItem(recent_[k].first, recent_[k].second, &sum);
    }
    for (const SearchEntry& q : user_->searches) {
      ContentIndex::Accumulate(s_.content.QueryVector(q.query),
                               s_.options.weights.search, &sum);
    }
  }
  if (sum.empty()) {
    for (int32_t c : context_) {
      ContentIndex::Accumulate(s_.content.ItemVector(c), 1.0, &sum);
    }
  }
  profile_ = ContentIndex::Normalize(
      sum, static_cast<size_t>(std::max(1, o.profile_terms)));
  return profile_;
}

int32_t Engine::State::Runner::ClosestContext(int32_t i) const {
  const ContentVector v = s_.content.ItemVector(i);
  int32_t best = -1;
  double best_cos = 0;
  for (int32_t c : context_) {
    const double cos = ContentIndex::Dot(s_.content.ItemVector(c), v);
    if (cos > best_cos) {
      best_cos = cos;
      best = c;
    }
  }
  return best;
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::BlendContent(std::vector<Candidate> model) {
  const ContentVector& q = Profile();
  if (q.empty()) return model;
  const ContentOptions& o = s_.options.content;
  const double beta = std::clamp(o.similar_blend, 0.0, 1.0);
  absl::flat_hash_set<int32_t> in_model;
  in_model.reserve(model.size());
  for (Candidate& c : model) {
    in_model.insert(c.item);
    const double cos = ContentIndex::Dot(q, s_.content.ItemVector(c.item));
    c.score = (1 - beta) * c.score + beta * cos;
  }
  // Items with events are the model's (or co-occurrence's) to rank; a new
  // item has only its content, so its content cosine stands in for the
  // model's.
  size_t added = 0;
  for (const auto& [item, c] :
       s_.content.MatchFresh(q, kFreshPostings, std::max(kFreshLimit, want_))) {
    if (added >= want_ || c < o.min_similarity) break;
    if (in_model.contains(item) || !IsNew(item) || taken_.contains(item) ||
        !Eligible(item)) {
      continue;
    }
    model.push_back({item, c, Source::kContent, ReasonCode::kSimilarContent,
                     ClosestContext(item), 0});
    ++added;
  }
  return model;
}

void Engine::State::Runner::SteerBySearch() {
  if (user_ == nullptr || user_->searches.empty() || out_.empty()) return;
  const ContentOptions& o = s_.options.content;
  const SearchEntry& latest = user_->searches.back();
  const int64_t now = req_.now_ms > 0 ? req_.now_ms : s_.now_ms;
  const double age_s =
      std::max<double>(0, static_cast<double>(now - latest.ts) / 1000.0);
  const double freshness = o.search_half_life_seconds > 0
                               ? std::exp2(-age_s / o.search_half_life_seconds)
                               : 1.0;
  const double blend = std::clamp(o.search_blend, 0.0, 1.0) * freshness;
  if (blend < 0.001) return;
  search_vector_ = s_.content.QueryVector(latest.query);
  if (search_vector_.empty()) return;
  const auto matches = s_.content.Match(search_vector_, MaxPostings(o));
  absl::flat_hash_map<int32_t, double> cos;
  for (const auto& [item, c] : matches) cos.emplace(item, c);
  const size_t n = out_.size();
  for (size_t p = 0; p < n; ++p) {
    const double rank =
        n > 1 ? 1.0 - static_cast<double>(p) / static_cast<double>(n - 1) : 1;
    auto it = cos.find(out_[p].item);
    out_[p].score =
        (1 - blend) * rank + blend * (it != cos.end() ? it->second : 0.0);
  }
  size_t added = 0;
  for (const auto& [item, c] : matches) {
    if (added >= want_) break;
    if (taken_.contains(item) || !Eligible(item)) continue;
    Candidate cand{
        item, blend * c, Source::kContent, ReasonCode::kSimilarContent, -1, 0};
    cand.from_search = true;
    taken_.insert(item);
    out_.push_back(cand);
    ++by_source_[static_cast<int>(Source::kContent)];
    ++added;
  }
  std::stable_sort(
      out_.begin(), out_.end(),
      [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
}

void Engine::State::Runner::NewItemSlots(size_t count) {
  const ContentOptions& o = s_.options.content;
  // Never more than half the list: the new items are a quota, not the list.
  const size_t slots = std::min<size_t>(
      count / 2, static_cast<size_t>(std::max(
                     0, req_.new_item_slots.value_or(o.new_item_slots))));
  if (slots == 0) return;
  const size_t window = std::min(count, out_.size());
  size_t have = 0;
  for (size_t p = 0; p < window; ++p) have += IsNew(out_[p].item) ? 1 : 0;
  if (have >= slots) return;
  const ContentVector& q = Profile();
  if (q.empty()) return;
  std::vector<Candidate> picks;
  for (const auto& [item, c] :
       s_.content.MatchFresh(q, kFreshPostings, kFreshLimit)) {
    if (picks.size() >= slots - have || c < o.min_similarity) break;
    if (!IsNew(item)) continue;
    // A copy: clang 14 cannot capture a structured binding.
    const int32_t id = item;
    auto at = std::find_if(out_.begin(), out_.end(),
                           [id](const Candidate& x) { return x.item == id; });
    if (at != out_.end()) {
      if (at < out_.begin() + static_cast<std::ptrdiff_t>(window)) continue;
      out_.erase(at);  // below the fold: moved up into its slot
    } else if (!Eligible(item)) {
      continue;
    } else {
      taken_.insert(item);
      ++by_source_[static_cast<int>(Source::kContent)];
    }
    const int32_t related = context_.empty() ? -1 : ClosestContext(item);
    picks.push_back(
        {item, c, Source::kContent, ReasonCode::kNewItem, related, 0});
  }
  const size_t pos = std::min(out_.size(), count - picks.size());
  out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(pos), picks.begin(),
              picks.end());
}

std::string Engine::State::Runner::ContentDetail(const Candidate& c) const {
  constexpr size_t kTerms = 3;
  if (c.from_search) {
    const std::vector<std::string> terms =
        s_.content.SharedTerms(search_vector_, c.item, kTerms);
    return absl::StrCat("Matches your search for ", absl::StrJoin(terms, ", "));
  }
  // A new item's second reason (recommend.cc) names the shared terms.
  if (c.reason == ReasonCode::kNewItem) return "New in the store";
  const ContentVector q =
      c.related >= 0 ? s_.content.ItemVector(c.related) : profile_;
  const std::string terms =
      absl::StrJoin(s_.content.SharedTerms(q, c.item, kTerms), ", ");
  return c.related >= 0
             ? absl::StrCat("Shares ", terms, " with ", Title(c.related))
             : absl::StrCat("Matches your interest in ", terms);
}

}  // namespace aisle::core
