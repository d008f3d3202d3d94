// Engine::State::Runner: the state and steps of one Recommend call.
// PRIVATE to core/ (see engine_state.h): not part of the public API.
//
// A Runner lives for one request, on the caller's thread, under the
// engine's shared lock, with the model binding the request started with.
// Its steps are spread over the files that implement them:
//   recommend.cc          Run: eligibility, the candidate sources per
//                         scenario, fallback, the response
//   candidate_sources.cc  co-occurrence, content, popularity/trending,
//                         the user's history, the factor model's sources
//   retrieval.cc          top-k model rows for a query: ANN or exact
//   diversity.cc          the MMR re-rank
//   session_source.cc     the session signal and its blend with the model
//   exploration.cc        the popularity penalty and exploration slots
//   engine_attributes.cc  what users with the same attributes engage with
//   content_source.cc     content vectors: SIMILAR_ITEMS blend, search
//                         steering, the new-item slots
//   rank.cc               Engine::Rank (re-ranking the caller's items)
//   explain.cc            the reason shown with each item
#ifndef AISLE_CORE_RECOMMEND_RUNNER_H_
#define AISLE_CORE_RECOMMEND_RUNNER_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/decayed_counter.h"
#include "core/engine_state.h"
#include "core/vector_index.h"

namespace aisle::core {

class Engine::State::Runner {
 public:
  // `b` may be null (no model). `trace` may be null.
  Runner(const State& s, const Binding* b, const RecommendRequest& req,
         RecommendTrace* trace)
      : s_(s), b_(b), req_(req), trace_(trace) {}

  // The engine state's mutex; the caller holds it shared around Run().
  absl::Mutex& mu() const ABSL_LOCK_RETURNED(s_.mu) { return s_.mu; }

  absl::StatusOr<Recommendation> Run() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // rank.cc: Engine::Rank's work (instead of Run).
  RankResult Rank(const std::vector<std::string>& item_ids)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // content_source.cc: Engine::ContentScores's work (instead of Run).
  std::vector<double> ContentScores(std::span<const std::string> item_ids)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // session_source.cc: Engine::SessionRankerRows's work (instead of Run).
  std::vector<SessionRankerRow> RankerRows() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

 private:
  struct Candidate {
    int32_t item = -1;
    double score = 0;
    Source source = Source::kUnspecified;
    ReasonCode reason = ReasonCode::kUnspecified;
    int32_t related = -1;       // engine item the candidate came from, if any
    double related_weight = 0;  // that item's contribution to `score`
    // kPeopleLikeYou: the strongest event type of the neighbours on the
    // item (an EventType number), for "People with similar taste bought".
    uint8_t neighbors_best = 0;
    bool from_search = false;  // matched the user's latest query
  };

  // The request's filter against the category index.
  struct CompiledFilter {
    bool has_include = false;
    std::vector<int32_t> include;  // prefix ids; has_include + empty: none
    std::vector<int32_t> exclude;
    std::optional<double> min_price, max_price;
    bool available_only = false;

    // Passes every catalog item: nothing to read from the item's record.
    bool Trivial() const {
      return !has_include && exclude.empty() && !min_price && !max_price &&
             !available_only;
    }
    bool Passes(const ItemRec& rec) const {
      if (available_only && !rec.item.available) return false;
      if (min_price && rec.item.price < *min_price) return false;
      if (max_price && rec.item.price > *max_price) return false;
      const auto any_of = [&rec](const std::vector<int32_t>& ids) {
        for (int32_t p : rec.prefixes) {
          if (std::find(ids.begin(), ids.end(), p) != ids.end()) return true;
        }
        return false;
      };
      if (has_include && !any_of(include)) return false;
      if (!exclude.empty() && any_of(exclude)) return false;
      return true;
    }
  };

  // Eligible, Full and Add run for every candidate: inline here.
  // Reads the item's record only when the request filters on it.
  bool Eligible(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    if (!Listed(i)) return false;
    if (!excluded_.empty() && excluded_.contains(i)) return false;
    if (user_ != nullptr) {
      if (const UserItem* ui = user_->Find(i)) {
        if ((ui->flags & kBlocked) || !include_seen_) return false;
      }
    }
    return filter_.Trivial() || filter_.Passes(s_.items[i]);
  }
  // In the catalog and through the request's filter: Eligible without the
  // request's exclusions and the user's own items.
  bool PassesFilter(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    return Listed(i) && (filter_.Trivial() || filter_.Passes(s_.items[i]));
  }
  bool Listed(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    return i >= 0 && static_cast<size_t>(i) < s_.listed.size() &&
           s_.listed[i] != 0;
  }
  bool Full() const { return out_.size() >= want_; }
  // Appends `c` unless the list is full, or it is taken or not eligible.
  bool Add(const Candidate& c) ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    if (Full() || taken_.contains(c.item) || !Eligible(c.item)) return false;
    taken_.insert(c.item);
    out_.push_back(c);
    ++by_source_[static_cast<int>(c.source)];
    return true;
  }
  // Adds the candidates best first (stable on ties); returns how many.
  int AddAll(std::vector<Candidate> cands) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // recommend.cc
  // The request's stop condition (RecommendRequest::deadline, cancelled):
  // OK to go on, else DeadlineExceeded or Cancelled. Run checks it between
  // stages; reads the clock only when a deadline is set.
  absl::Status CheckStop() const;
  void Prepare() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  void ForYou(std::string* fallback_reason) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  void SimilarItems(std::string* fallback_reason)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  void FrequentlyBoughtTogether(std::string* fallback_reason)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // candidate_sources.cc
  // Every item co-occurring with the seeds, scored (unfiltered), in no
  // particular order.
  std::vector<Candidate> CoOccurring(
      const std::vector<std::pair<int32_t, float>>& seeds, bool cart) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Sorts by score, best first, ties by id (a fixed order whatever the
  // hash order the candidates came in).
  static void SortBestFirst(std::vector<Candidate>* out);
  // Eligible co-occurring items of the seeds, best first (ties by id).
  std::vector<Candidate> CoOccurrence(
      const std::vector<std::pair<int32_t, float>>& seeds, bool cart) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The eligible co-occurring items of the seeds that the model does not
  // know (no row), best first (ties by id), in one pass; *best is the
  // highest score of any eligible co-occurring item (0 if none), to place
  // the cold ones on the model's scale.
  std::vector<Candidate> ColdCoOccurrence(
      const std::vector<std::pair<int32_t, float>>& seeds, double* best) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Eligible items sharing a full category path with the seeds (the
  // first 10), by popularity, best first: as many as the list still
  // needs.
  std::vector<Candidate> Content(
      const std::vector<std::pair<int32_t, float>>& seeds) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Tops the list up from a counter's ranking, then (unless
  // catalog_top_up is false) from the rest of the catalog in id order.
  void Ranked(const DecayedCounters& counter, RankCache& cache, Source source,
              ReasonCode reason, bool catalog_top_up = true)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The user's vector against b_: the stored one when it was solved
  // against this model, else solved now (once per request; see
  // EngineOptions::refold_in_background). Null when the user has no
  // positive item the model knows.
  const float* UserVector() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::vector<Candidate> ModelForYou() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::vector<Candidate> VectorSimilar() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  void RecentlyViewed() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // session_source.cc
  // Fills session_ (the user's session, or an anonymous visitor's context
  // items) and session_blend_ (L of SessionOptions).
  void PrepareSession() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Eligible items that follow the session, best first, at most
  // SessionOptions::candidates, related = the session item that counted
  // most.
  std::vector<Candidate> SessionCandidates() const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The factor model's candidates (best first; REQUIRES a user vector)
  // blended with the session's by SessionOptions' rule; unsorted.
  std::vector<Candidate> BlendSession(std::vector<Candidate> model)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The learned re-scoring (SessionOptions::ranker_weights): `blended`
  // (the hand blend of the model's `model_count` candidates, first, whose
  // best score was `model_top`, with the session's) re-scored by the
  // weights, or, when
  // ranker_rows_ is set, each candidate's features appended there (scores
  // unchanged). Unsorted.
  std::vector<Candidate> RankSession(std::vector<Candidate> blended,
                                     double model_top, size_t model_count)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The factor model's candidates (REQUIRES a user vector) blended with
  // `other`'s (best first): (1 - weight) * model + weight * other, both
  // scaled to their best candidate; an item where the other part is the
  // stronger takes `source`, `reason` and related item from it. Unsorted.
  std::vector<Candidate> Blend(std::vector<Candidate> model,
                               const std::vector<Candidate>& other,
                               double weight, Source source, ReasonCode reason)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // people_like_you.cc
  // Eligible items the user's nearest users (PeopleLikeYouOptions) engaged
  // with, best first, at most `candidates`; empty without a user vector.
  std::vector<Candidate> PeopleLikeYouCandidates()
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // engine_attributes.cc
  // Whether FOR_YOU (and Rank) turn to the user's attributes: the user has
  // no positive item of their own (recent_, after Prepare) and the source
  // is on in the options and the request. The one place of that rule.
  bool FromAttributes() const {
    return recent_.empty() && s_.options.for_you.attributes &&
           req_.sources.attributes;
  }
  // What users with the request user's attributes engage with, best
  // first (none for a user without attributes), at most `limit`.
  std::vector<Candidate> AttributeCandidates(size_t limit) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // "Popular with shoppers like you (age_band=25-34, region=north)".
  std::string AttributeDetail() const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // retrieval.cc
  double Selectivity() const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::optional<std::vector<int32_t>> IncludedRows() const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Top `need` eligible model rows for `q` by inner product (cosine: scaled
  // by 1/|y_i|), ANN or exact, best first.
  std::vector<SearchHit> Retrieve(const float* q, size_t need, bool cosine)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // exploration.cc: re-orders out_ for req_.exploration (> 0): a
  // popularity penalty on the rank, then a share of the first `count`
  // slots for the least exposed of the over-fetched candidates.
  void Explore(size_t count) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // Whether item i is cold: the model has no row for it, and a model
  // trained now would (it has positive users, State::positive_users).
  bool Cold(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    return s_.positive_users[i] > 0 && !b_->InModel(i);
  }

  // content_source.cc (ContentOptions, core/engine.h)
  // Whether item i is new: no positive event yet, unknown to the model.
  bool IsNew(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    return s_.n_all[i] <= 0 && (b_ == nullptr || b_->Row(i) < 0);
  }
  // The content profile the request matches against (normalised; computed
  // once): the user's (recent positive items and queries) for FOR_YOU, the
  // context items' otherwise and for a visitor without history.
  const ContentVector& Profile() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The context item whose content is closest to item i, or -1.
  int32_t ClosestContext(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // SIMILAR_ITEMS: the model's candidates blended with content cosine,
  // plus the new items that share content with the context.
  std::vector<Candidate> BlendContent(std::vector<Candidate> model)
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // FOR_YOU: re-scores out_ toward the user's latest query while fresh.
  void SteerBySearch() ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // Puts up to the request's new-item slots of matching new items in the
  // last slots of the first `count`.
  void NewItemSlots(size_t count) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  // The reason of a kSimilarContent or kNewItem candidate.
  std::string ContentDetail(const Candidate& c) const
      ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // diversity.cc: re-ranks out_ down to `count` items.
  void Diversify(size_t count) ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  // explain.cc
  Reason Explain(const Candidate& c) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);
  std::string Title(int32_t i) const ABSL_SHARED_LOCKS_REQUIRED(s_.mu);

  const State& s_;
  const Binding* b_;
  const RecommendRequest& req_;
  RecommendTrace* trace_;

  const UserRec* user_ = nullptr;
  int32_t user_row_ = -1;  // index of user_ in s_.users
  CompiledFilter filter_;
  absl::flat_hash_set<int32_t> excluded_;
  std::vector<int32_t> context_;  // known context items
  // Context items as co-occurrence seeds, weight 1.
  std::vector<std::pair<int32_t, float>> context_seeds_;
  // The user's recent distinct positive items, most recent first.
  std::vector<std::pair<int32_t, float>> recent_;
  // The session (see PrepareSession), most recent first, and its weight
  // in the blend (0: none).
  std::vector<std::pair<int32_t, float>> session_;
  double session_blend_ = 0;
  double session_freshness_ = 0;
  // Whether RankSession re-scores this request's candidates (or collects
  // their features): SessionOptions::ranker_weights or ranker_rows_, and
  // a session at least ranker_min_freshness fresh (after PrepareSession).
  bool Ranked() const {
    return session_blend_ > 0 &&
           (ranker_rows_ != nullptr || !RankerWeights().empty()) &&
           session_freshness_ >= s_.options.session.ranker_min_freshness;
  }
  // The re-scoring's weights: SessionOptions::ranker_weights when set,
  // else the model version's stored ones (Binding::ranker_weights), else
  // empty (the hand blend).
  const std::vector<double>& RankerWeights() const {
    if (!s_.options.session.ranker_weights.empty() || b_ == nullptr) {
      return s_.options.session.ranker_weights;
    }
    return b_->ranker_weights;
  }
  // A session candidate and its parts, per session item `j` (0 = the
  // latest, weight w_j): the transition probability and co-occurrence
  // cosine from the latest, the w_j-weighted sums from the older ones,
  // and how many session items credited it (SessionCandidates fills them,
  // RankSession reads them).
  struct SessionAcc {
    Candidate c;
    double trans_last = 0, trans_older = 0, co_last = 0, co_older = 0;
    int32_t last_seed = -1;
    int32_t seeds = 0;
  };
  // Every item SessionCandidates credited, this request.
  mutable absl::flat_hash_map<int32_t, SessionAcc> session_acc_;
  // Engine::SessionRankerRows: where RankSession puts the features.
  std::vector<SessionRankerRow>* ranker_rows_ = nullptr;
  bool include_seen_ = false;
  size_t want_ = 0;
  absl::flat_hash_set<int32_t> taken_;
  std::vector<Candidate> out_;
  std::array<int, kNumSources> by_source_{};
  bool profile_built_ = false;
  ContentVector profile_;
  ContentVector search_vector_;  // the latest query's, while it steers
  bool vector_solved_ = false;
  Eigen::VectorXf solved_vector_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_RECOMMEND_RUNNER_H_
