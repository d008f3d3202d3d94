// Engine: the in-memory recommendation engine. It owns the catalog, every
// user's interaction history, popularity/trending counters, item
// co-occurrence, per-user fold-in vectors, and the current FactorModel.
//
// The engine never persists anything: the caller (server) makes an event
// durable in storage first, then calls ApplyEvents; on start-up it replays
// stored items and events through UpsertItems/ApplyEvents and installs the
// stored model with SwapModel.
//
// Typical sequence (see server/service.cc):
//   Engine engine(options);
//   engine.UpsertItems(items_from_storage);
//   engine.ApplyEvents(events_from_storage);   // in batches
//   engine.SwapModel(model_from_storage);      // may be null
//   ... serve: Recommend / ApplyEvents / UpsertItems / EraseUser ...
//
// Time: popularity and trending decay is evaluated at "now" = the largest
// event timestamp applied so far (not the wall clock), so results depend
// only on the events, which keeps replays and tests deterministic. Ranking
// ties are broken by the order in which the engine first saw the item id.
//
// Items that appear in events before they are upserted are tracked (their
// events count for popularity, co-occurrence and training) but are never
// recommended until they are in the catalog. Aggregates (popularity,
// co-occurrence) are anonymous and are kept when a user is erased; the
// attribute counts (UpsertUsers) lose the erased user's share.
//
// Thread safety: every method may be called concurrently. Reads take shared
// locks; a model swap is a pointer swap under a short lock, and a Recommend
// in flight finishes on the model version it started with.
#ifndef AISLE_CORE_ENGINE_H_
#define AISLE_CORE_ENGINE_H_

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/attribute_popularity.h"
#include "core/model.h"
#include "core/segments.h"
#include "core/types.h"

namespace aisle::core {

// How much each event type says about taste; the r_ui of implicit ALS and
// the weight in popularity and co-occurrence. The defaults are the field
// initialisers below (README "Quality" has the figures they give).
struct EventWeights {
  float view = 1.0f;
  float click = 2.0f;
  float add_to_cart = 4.0f;
  float remove_from_cart = -2.0f;  // subtracts, never below zero
  float purchase = 8.0f;
  // A rating's weight is rating_scale * value, so a 1..5 rating weighs
  // 1..5. Measured on ML-100K: raw ratings beat binary weights (nDCG@10
  // 0.4916 vs 0.4219 with the default AlsOptions).
  float rating_scale = 1.0f;
  float impression = 0.0f;  // impressions are attribution, not taste
  // FAVORITE ("save for later"): more than a click, less than the cart.
  // Not measured (ML-100K has no such event); chosen by that order.
  float favorite = 3.0f;
  // A SEARCH query's weight in the user's content profile, on the scale of
  // the item weights above (the profile sums each item's unit content
  // vector times its r_ui, and each recent query's unit vector times
  // this): a query counts like two views. Not an item weight: a search
  // changes no r_ui, popularity or co-occurrence.
  float search = 2.0f;
  // DISLIKE has no weight: it removes the item from the user's positives
  // and from every recommendation to that user.

  float For(EventType type, double value) const;
};

// The session signal. A user's session is their last `max_items`
// distinct positive items, no older than `window_seconds` before their
// latest event; the k-th most recent weighs position_decay^k. An item j
// scores sum over session items s of weight(s) * (transition_weight *
// P(j follows s) + co_occurrence_weight * cosine(s, j)) (co-occurrence
// cosine; see vector_weight for the model's). FOR_YOU blends
// it with the factor model, both scaled to their best candidate:
//   score = (1 - L) * model + L * session,
//   L = blend_weight * freshness * min(1, session items / full_at_items),
//   freshness = 2^(-(request time - latest event) / fresh_half_life),
// (L under 0.001, a session about ten half-lives old, counts as 0 and
// costs nothing),
// so a user with a fresh session leans on it and one with none (or an
// old one) gets the factor model alone. An anonymous visitor's
// context_item_ids (oldest first) are a fresh session.
struct SessionOptions {
  int max_items = 5;
  double window_seconds = 86400;
  double position_decay = 0.7;
  double transition_weight = 3.0;
  double co_occurrence_weight = 0.5;
  // ... plus vector_weight * the factor model's cosine(s, j), for the
  // candidates the two above found.
  double vector_weight = 0;
  double blend_weight = 0.9;
  int full_at_items = 1;
  // 0 = a session never goes stale.
  double fresh_half_life_seconds = 3600;
  // Transitions: an event follows each of the user's previous
  // `transition_span` distinct items, weighing position_decay^k *
  // 2^(-gap / transition_gap_half_life_seconds) (0 = no time decay).
  int transition_span = 3;
  double transition_gap_half_life_seconds = 86400;
  // Successors kept per item (the weakest dropped past twice this).
  int transition_max_neighbors = 200;
  // Session candidates scored per request (bounds the cost).
  int candidates = 100;
  // A learned re-scoring of a fresh session's candidates (issue 14): when
  // not empty (kSessionRankerFeatures weights), FOR_YOU scores the union
  // of the factor model's candidates and the session's as the dot product
  // of these weights with each candidate's SessionRankerFeature values
  // (core/session_ranker.h)
  // instead of the hand blend above (which stays one of the features);
  // the session's features are multiplied by the session's freshness.
  // Fitted by FitSessionRanker (core/session_ranker.h) on next-item pairs
  // of the training events. Empty (default): the hand blend.
  std::vector<double> ranker_weights;
  // The re-scoring applies only to a session at least this fresh (it was
  // fitted on sessions of freshness 1, right after an event); an older
  // one gets the hand blend. Default 0.5: within one fresh_half_life.
  double ranker_min_freshness = 0.5;
  // The factor model's candidates the re-scoring sees (the list's length
  // when that is longer). Default 50.
  int ranker_model_candidates = 50;
};

// One FOR_YOU candidate and its ranker features (Engine::SessionRankerRows).
struct SessionRankerRow {
  std::string item_id;
  // kSessionRankerFeatures values, by SessionRankerFeature
  // (core/session_ranker.h).
  std::vector<double> features;
};

// OK, or InvalidArgument naming the first field out of range: max_items
// 0..100, window_seconds > 0, position_decay 0..1, the three weights >= 0,
// blend_weight 0..1, full_at_items >= 0, the half-lives >= 0,
// transition_span 0..20, transition_max_neighbors >= 1, candidates 1..10000,
// ranker_weights empty or kSessionRankerFeatures finite values,
// ranker_min_freshness 0..1, ranker_model_candidates 1..10000.
absl::Status ValidateSessionOptions(const SessionOptions& o);

// "People like you" (core/people_like_you.cc): the `neighbors` users
// whose vectors are closest (cosine) to the user's, among at most
// `max_scan_users` users with a current vector (an even sample when there
// are more), score the items among their last `items_per_neighbor`
// distinct positive items by sum of similarity x log1p(weight). FOR_YOU
// blends the best `candidates` into the factor model's scores as the
// session is blended: score = (1 - W) * model + W * people_like_you, both
// scaled to their best candidate, W = blend_weight (`--blend-weights
// people_like_you=W`). Default 0 (off): on ML-100K it did not beat the
// factor model alone (README "Quality").
struct PeopleLikeYouOptions {
  double blend_weight = 0;
  int neighbors = 30;
  int items_per_neighbor = 50;
  int max_scan_users = 20000;
  int candidates = 200;
};

// Content-based matching (core/content.h, core/content_source.cc): the
// item content vectors, the user's content profile (the r_ui-weighted sum
// of the unit content vectors of their `profile_items` most recent
// positive items plus EventWeights::search times each of their
// `max_searches` most recent queries), and what the engine does with them.
struct ContentOptions {
  // Slots of each FOR_YOU and SIMILAR_ITEMS list kept for new items (in
  // the catalog, no positive event yet, unknown to the model) whose
  // content matches the user's profile or the context items (cosine >=
  // min_similarity): they take the last slots of the list, best match
  // first, so the top picks keep their places and new items are never
  // crowded out for good. At most half the list (none in a list of one).
  // RecommendRequest::new_item_slots overrides it. 0 = off. Default: 1.
  int new_item_slots = 1;
  // The least content cosine that earns a new item a slot. Default 0.1.
  double min_similarity = 0.1;
  // SIMILAR_ITEMS ranks the model's neighbours (items with events) and the
  // new items on one cosine scale: the model's cosine for the former,
  // (1 - similar_blend) * model cosine + similar_blend * content cosine
  // when similar_blend > 0; the content cosine for new items, which have
  // no model vector. Default 0: the model's neighbours keep their scores.
  double similar_blend = 0;
  // FOR_YOU right after a search: the list is re-scored as (1 - L) * rank
  // score + L * the query's content cosine, L = search_blend * 2^(-age /
  // search_half_life_seconds) of the latest query (the rank score falls
  // linearly from 1 at the top to 0 at the bottom of the list), and the
  // query's best matches join. L under 0.001 costs nothing.
  double search_blend = 0.5;
  double search_half_life_seconds = 3600;
  int max_searches = 20;   // queries kept per user (most recent)
  int profile_items = 50;  // recent positive items in the profile
  int profile_terms = 64;  // strongest profile terms matched
  // Postings read per match (bounds the cost of very common terms).
  int max_postings = 200000;
};

struct EngineOptions {
  EventWeights weights;
  ContentOptions content;
  // Half-life of event weight for popularity (days) and trending (hours).
  double popularity_half_life_days = 14.0;
  double trending_half_life_hours = 24.0;
  // Optional time decay of a user's own events in fold-in; 0 = no decay.
  double user_half_life_days = 0.0;
  // Per-user history kept in memory (most recent events).
  int max_history_per_user = 500;
  // Co-occurrence: pairs counted within a user's last N distinct items.
  int co_occurrence_window = 50;
  // Exact search instead of ANN when the filter keeps less than this
  // fraction of the catalog.
  double exact_below_selectivity = 0.05;
  // Co-occurrence neighbours kept per item: when an item's list grows past
  // twice this, the weakest are dropped (bounds memory on large catalogs).
  // Default: 200.
  int co_occurrence_max_neighbors = 200;
  // Candidate sources FOR_YOU may use before the popularity top-up. All on
  // by default; the offline evaluation turns them off to measure each one
  // (all off = the most-popular baseline).
  using ForYouSources = ::aisle::core::ForYouSources;
  ForYouSources for_you;
  // Short-term intent: what the user's last few events say comes next
  // (core/session_source.cc). Defaults measured with `aisle eval --protocol
  // next-item` on ML-100K (README "Next item").
  SessionOptions session;
  PeopleLikeYouOptions people_like_you;
  // Cold start from a user's own attributes (core/attribute_popularity.h).
  AttributeOptions attributes;
  ModelOptions model;
  // SwapModel re-solves every user's vector against the new model. When
  // false (default) it does so before returning. When true it returns
  // right after the pointer swap and re-solves on a background thread;
  // meanwhile Recommend solves a stale user's vector on the fly (tens of
  // microseconds), so results are the same either way. The server sets
  // it, so that neither start-up nor a model swap waits for a million
  // users to be re-solved.
  bool refold_in_background = false;
  // Threads that re-solve user vectors after a swap, and build a deferred
  // ANN index unless ModelOptions::ann.threads says otherwise; 0 = all
  // cores (one fewer in the background, to leave a core to serving).
  // Default: 0.
  int refold_threads = 0;
  // Nice value (0..19, Linux) of the background thread of
  // refold_in_background and of the threads it starts (the deferred ANN
  // build, the re-solve), so that on a busy core that work yields to
  // requests: at start-up it otherwise competes with the first seconds of
  // traffic. 0 keeps the process's priority. Default: 10 (about a tenth
  // of a core that requests keep busy; all of an idle one).
  int background_nice = 10;
  // Runs that background work under SCHED_IDLE (Linux) instead. For a
  // process whose request threads run under SCHED_BATCH (`aisle serve
  // --cpu-policy adaptive` or `batch`), where a waking request thread
  // never preempts the running one: an idle-policy thread is preempted at
  // once, so requests do not wait for the scheduler's tick while user
  // vectors are re-solved. The price: on a core that requests keep busy
  // the background work gets only the time they leave (meanwhile answers
  // are the same, solved on the fly). Best effort, like the nice value.
  // Default: false.
  bool background_idle = false;
  // Called with a line for the log when the work after a swap completes
  // (on the thread that did it): a deferred ANN index built, every user
  // re-solved; not for work a later swap cancelled. Also called by
  // SwapModel itself when it loaded a stored ANN index. Optional.
  std::function<void(const std::string& message)> on_background_done;
};

struct EngineStats {
  int64_t items = 0;
  int64_t users = 0;
  int64_t events = 0;
  int64_t users_with_vectors = 0;
  std::string model_version;
  int64_t model_trained_at_ms = 0;
  // The serving ANN index's kept answers (AnnIndex::cache_stats); zero
  // without an index.
  uint64_t ann_cache_hits = 0;
  uint64_t ann_cache_misses = 0;
  int64_t ann_cache_entries = 0;
};

// Per-request diagnostics for metrics.
struct RecommendTrace {
  bool used_ann = false;
  bool used_exact = false;
  double retrieval_seconds = 0;
  std::array<int, kNumSources> candidates_by_source{};  // by Source
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Catalog. Upsert replaces whole records. Deleted items are never
  // recommended again; their history stays (it is still evidence).
  void UpsertItems(std::span<const Item> items);
  // Returns how many of the ids existed.
  int DeleteItems(std::span<const std::string> item_ids);
  std::optional<Item> GetItem(std::string_view item_id) const;

  // Applies durable events: history, popularity, co-occurrence, and the
  // user's fold-in vector (re-solved before returning, so the next
  // Recommend reflects it). Events for items not in the catalog are still
  // recorded (the item may arrive later).
  // REQUIRES: every event is valid as server::ValidateEvent defines it; the
  // engine relies on a non-empty user_id and item_id (item_id may be empty
  // for kSearch) and a type other than kUnspecified and below
  // kNumEventTypes, and asserts that (AISLE_DCHECK, core/check.h); it does
  // not skip or report bad events.
  void ApplyEvents(std::span<const Event> events);
  // Same without fold-in, for replaying history at start-up; call
  // RefreshUserVectors() once afterwards. REQUIRES: as ApplyEvents.
  void ReplayEvents(std::span<const Event> events);
  // Re-solves every known user's vector against the current model.
  void RefreshUserVectors();

  // A user with events or attributes; nullopt for neither. A user with
  // attributes only has activity "new" and no history.
  std::optional<UserProfile> GetUser(std::string_view user_id) const;
  // Forgets everything about the user held in memory, their attributes
  // and their share of the attribute counts included. Returns false if
  // the user was unknown.
  bool EraseUser(std::string_view user_id);

  // Moves `from`'s state to `to` (an anonymous visitor who logged in):
  // forgets `from` as EraseUser does, then adds `moved` (from's stored
  // events, Store::MergeUsers; their user_id is ignored) to `to`'s
  // history, items and counts, after to's own events, so that the
  // visitor's session is `to`'s latest; re-solves to's vector before
  // returning. The anonymous aggregates (popularity, co-occurrence,
  // transitions) already counted the events and stay as they are:
  // co-occurrence between from's and to's items is not added (a replay
  // after a restart counts it; docs/signals.md). REQUIRES: as
  // ApplyEvents for `moved`; from != to (core/engine_merge.cc).
  void MergeUsers(std::string_view from, std::string_view to,
                  std::span<const Event> moved);
  // Users' own attributes (the UpsertUsers RPC): replaces each user's
  // attributes (an empty map removes them) and moves the user's share of
  // the attribute-conditional counts (core/attribute_popularity.h) to the
  // new values. Every later event of the user updates those counts. A
  // user with attributes and no history gets, in FOR_YOU, what users with
  // matching attributes engage with (Source kAttributes, reason
  // kPopularWithSimilarShoppers naming the attributes) instead of plain
  // popularity. May be called before or after the events and a snapshot
  // (the counts are the same either way). Empty user ids are skipped.
  void UpsertUsers(std::span<const UserAttributes> users);
  // Loading every stored user's attributes at start: UpsertUsers calls
  // between these two count in bulk (AttributePopularity::BeginBulk);
  // attribute-based answers are complete after EndUserLoad.
  void BeginUserLoad();
  void EndUserLoad();

  // Installs `model` (may be null: no factor model) and re-folds users
  // against it. Returns the previous model. The re-fold runs after the
  // swap, in chunks, on refold_threads threads, without blocking readers
  // (~20 us per user with 50 items at 64 factors); until a user's vector is
  // re-solved, FOR_YOU solves it on the fly for that request. See
  // EngineOptions::refold_in_background for who waits for it. A swap
  // during a background re-fold cancels it. A model whose ANN index was
  // deferred (ModelOptions::defer_ann) gets it built first by the same
  // worker, or loaded from ModelOptions::ann_cache_dir when a stored one
  // matches; searches are exact until it is in place. `stored_index`
  // says whether that load happens before the swap (the call lasts as
  // long: seconds at 1M items; the version searches with its index from
  // its first request) or on the worker after it (the call returns at
  // once: a caller that other work waits on).
  enum class StoredIndex { kLoadBeforeSwap, kLoadAfterSwap };
  std::shared_ptr<const FactorModel> SwapModel(
      std::shared_ptr<const FactorModel> model,
      StoredIndex stored_index = StoredIndex::kLoadBeforeSwap);
  std::shared_ptr<const FactorModel> model() const;
  // Blocks until no background re-solve is running (refold_in_background);
  // returns at once otherwise. Returns the seconds the last completed
  // re-solve took and, in *users, how many users it re-solved.
  double WaitForRefold(int64_t* users = nullptr);

  // Recommends request.count items for request.scenario, best first, each
  // with its score, source and (request.explain) reasons; the
  // Recommendation names the model version used. Which sources feed each
  // scenario, in which order, is in core/recommend.cc.
  //
  // The list has `count` items whenever that many eligible items exist.
  // Eligible: in the catalog, passes the filter (categories match whole
  // path segments: "shoes" matches "shoes/running", not "shoestring"),
  // not disliked by the user, not seen unless include_seen (always
  // included for RECENTLY_VIEWED), not a context item (SIMILAR_ITEMS,
  // FREQUENTLY_BOUGHT_TOGETHER). diversity (clamped to 0..1) trades rank
  // for spread across categories.
  //
  // Fallback: set, with fallback_reason, when the scenario's own sources
  // produced nothing and the list comes from the general ones (popularity
  // last): FOR_YOU "anonymous user", "unknown user", "no history", "no
  // model", "no personal candidates"; SIMILAR_ITEMS "unknown context
  // items", "no similar items"; FREQUENTLY_BOUGHT_TOGETHER "unknown context
  // items", "no co-purchase data". RECENTLY_VIEWED and TRENDING never fall
  // back.
  //
  // Stop condition: request.deadline and request.cancelled are checked
  // before the work, after the candidate sources and after the re-rank
  // (before the explanation); when the deadline has passed the call returns
  // DeadlineExceeded, when cancelled() is true Cancelled, and no partial
  // list. They never change the ranking; with the defaults (no deadline,
  // no callback) the clock is not read.
  //
  // Errors: NotFound when no context item of SIMILAR_ITEMS/FBT is known
  // and no eligible item exists at all (e.g. an empty catalog);
  // DeadlineExceeded and Cancelled as above; no other.
  // REQUIRES (asserted, see ApplyEvents; server/validation.cc checks them
  // for the API): scenario is one of the Scenario values; count >= 0 (0
  // gives an empty list); context_item_ids not empty for SIMILAR_ITEMS and
  // FREQUENTLY_BOUGHT_TOGETHER.
  //
  // Thread safety: runs under the shared lock, concurrently with other
  // reads, on the model version current when it started even if a swap
  // happens meanwhile. `trace` (optional) receives per-request diagnostics.
  absl::StatusOr<Recommendation> Recommend(
      const RecommendRequest& request, RecommendTrace* trace = nullptr) const;

  // The request's items ordered for the user: by the factor model's score
  // (user vector . item vector) when the user has a vector, the items the
  // model does not know after them by popularity. A user FOR_YOU serves
  // from their attributes (attributes and no positive event of their own):
  // the items users with matching attributes engage with first, by that
  // score (Source kAttributes), the others after them by popularity.
  // Otherwise, without a user vector (fallback, with fallback_reason
  // "unknown user", "no model" or "no history") all by popularity. Items
  // not in the catalog go last, unscored, and are listed in
  // unknown_item_ids. Seen, disliked and filtered items are kept: the
  // caller's page decides what is shown.
  // Thread safety: as Recommend.
  RankResult Rank(const RankRequest& request) const;

  // The content cosine (core/content.h) of each item against the user's
  // content profile (ContentOptions: their recent positive items and
  // queries), in request order; 0 for an item not in the catalog or
  // sharing no term, all 0 for an unknown user. Used by the cold-item
  // evaluation (core/eval_cold_item.h). Thread safety: as Recommend.
  std::vector<double> ContentScores(
      std::string_view user_id, std::span<const std::string> item_ids) const;

  // The candidates a FOR_YOU `request` with a fresh session would re-score
  // with SessionOptions::ranker_weights (the factor model's and the
  // session's), each with its features, for fitting the weights
  // (core/session_ranker.h); empty when the user has no vector or no
  // fresh session. Thread safety: as Recommend.
  std::vector<SessionRankerRow> SessionRankerRows(
      const RecommendRequest& request) const;

  // Training input: every user's positive interactions with catalog items
  // as weights (r_ui), plus the id maps. Used by `aisle train`. Items only
  // seen in events so far, and deleted items, are included: they are
  // evidence about the users (and give a late-arriving item a vector); they
  // are never recommended while not in the catalog. r_ui is the sum of the
  // event weights (floored at 0; 0 after a dislike), decayed by
  // user_half_life_days from the user's latest event on the item to the
  // user's latest event overall. Users without positives are left out.
  // Holds the shared lock while it copies (tens of ms per million
  // interactions).
  // item_facts (categories and price of each item column; empty for items
  // not in the catalog) describe the learned segments (core/segments.h).
  struct TrainingData {
    std::vector<std::string> user_ids;
    std::vector<std::string> item_ids;
    SparseRows user_items;
    ItemFacts item_facts;
  };
  TrainingData ExportTrainingData() const;

  EngineStats Stats() const;

  // The serving model's learned segments (core/segments.h) with their
  // current sizes: `members` counts today's users whose vector is nearest
  // the segment's centroid (new users included), `info.users` the members
  // at training time. FailedPrecondition (with what to do) when no model
  // is serving or it was trained without segments.
  struct SegmentSummary {
    SegmentInfo info;
    int64_t members = 0;
  };
  struct SegmentList {
    std::string model_version;
    std::vector<SegmentSummary> segments;
  };
  absl::StatusOr<SegmentList> ListSegments() const;
  // The ids of the users in segment `segment_id` now, in no particular
  // order. NotFound for an id the serving model does not have;
  // FailedPrecondition as ListSegments. Both hold the shared lock and
  // solve the vectors the background re-fold has not reached yet (about
  // 20 us each), so event writes wait meanwhile.
  absl::StatusOr<std::vector<std::string>> SegmentMembers(
      int32_t segment_id) const;

  // Snapshots of the state the engine derives from events, so that a
  // restart replays only the events after one (format and sizes:
  // core/engine_snapshot.cc). Held: every user's history, items, counts
  // and first/last seen, recent search queries; popularity and trending
  // counters; co-occurrence; the event count and latest timestamp; the
  // item ids they refer to. Not
  // held: the catalog (stored with the items: UpsertItems after loading),
  // the model and user vectors (SwapModel re-solves them), users'
  // attributes (stored with the users: UpsertUsers after loading).
  //
  // SaveSnapshot returns the snapshot as consecutive pieces of about 4 MiB
  // (their concatenation is the snapshot; the pieces let a store write it
  // as bounded values). Holds the shared lock while it writes: readers go
  // on, event writers wait (about 0.1 s per million events). A caller that
  // needs to know which events it covers pauses its own writers around it.
  std::vector<std::string> SaveSnapshot() const;
  // Loads a snapshot written by SaveSnapshot (split into pieces anywhere).
  // REQUIRES: no event applied and no item upserted yet (a fresh engine).
  // Errors, leaving the engine unchanged: DataLoss for a damaged or
  // truncated snapshot (checksum, lengths, out-of-range ids);
  // FailedPrecondition for another format version, a snapshot written with
  // EngineOptions that shape the derived state differently (event weights,
  // half-lives, history length, co-occurrence window and neighbours,
  // searches kept per user: the state would differ from a replay), or an
  // engine that is not fresh.
  absl::Status LoadSnapshot(std::span<const std::string> pieces);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aisle::core

#endif  // AISLE_CORE_ENGINE_H_
