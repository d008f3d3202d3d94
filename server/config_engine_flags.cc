// The engine-tuning entries of `aisle serve`'s flag table (see
// server/config_flags.h): demo training, popularity and trending decay,
// history, weights, content, the session signal, retrieval and
// exploration. server/config.cc owns the table and the parsing.
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/string_view.h"
#include "core/weights_config.h"
#include "server/config_flags.h"

namespace aisle::server::config_internal {
namespace {

// A field of the engine's SessionOptions (core/engine.h), in min..max.
template <typename T>
Setter SessionSetter(T core::SessionOptions::*field, double min, double max) {
  return [=](absl::string_view v, ServerConfig* c) -> absl::Status {
    absl::StatusOr<double> d = ParseDouble(v, min, max);
    if (!d.ok()) return d.status();
    if (std::is_integral_v<T> && *d != std::floor(*d)) {
      return Bad(absl::StrCat("must be an integer, got \"", v, "\""));
    }
    c->engine.session.*field = static_cast<T>(*d);
    return absl::OkStatus();
  };
}

}  // namespace

std::vector<FlagOption> EngineFlagOptions() {
  return {
      {"train-threads", "N",
       "Threads for training the demo model; 0 = all cores (default 0).", false,
       IntSetter(&ServerConfig::train_threads, 0, 1024)},
      {"segments", "K",
       "User segments learned with the demo model (k-means on the user "
       "vectors; `aisle train --segments` for stored data); 0 = none "
       "(default 6).",
       false, IntSetter(&ServerConfig::segments, 0, 256)},
      {"popularity-half-life", "DAYS",
       "Half-life of popularity, in days (default 14).", false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<double> d = ParseDouble(v, 0.001, 1e6);
         if (!d.ok()) return d.status();
         c->engine.popularity_half_life_days = *d;
         return absl::OkStatus();
       }},
      {"trending-half-life", "HOURS",
       "Half-life of trending, in hours (default 24).", false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<double> d = ParseDouble(v, 0.001, 1e6);
         if (!d.ok()) return d.status();
         c->engine.trending_half_life_hours = *d;
         return absl::OkStatus();
       }},
      {"user-half-life", "DAYS",
       "Decay of a user's own events in fold-in, in days; 0 = none "
       "(default 0).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<double> d = ParseDouble(v, 0, 1e6);
         if (!d.ok()) return d.status();
         c->engine.user_half_life_days = *d;
         return absl::OkStatus();
       }},
      {"max-history-per-user", "N",
       "Events per user kept in memory (default 500).", false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseInt(v, 1, 1000000);
         if (!n.ok()) return n.status();
         c->engine.max_history_per_user = static_cast<int>(*n);
         return absl::OkStatus();
       }},
      {"co-occurrence-window", "N",
       "Co-occurrence counted within a user's last N items (default 50).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseInt(v, 1, 10000);
         if (!n.ok()) return n.status();
         c->engine.co_occurrence_window = static_cast<int>(*n);
         return absl::OkStatus();
       }},
      {"event-weights", "NAME=W,...",
       "How much each event type says about taste (training, fold-in, "
       "popularity, co-occurrence); names not given keep their default "
       "(default view=1,click=2,add_to_cart=4,remove_from_cart=-2,"
       "purchase=8,rating=1,impression=0,favorite=3; rating multiplies the "
       "rating's value).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         return core::ParseEventWeights(core::ToStd(v), &c->engine.weights);
       }},
      {"blend-weights", "NAME=W,...",
       "Weights of the sources FOR_YOU blends into the factor model's "
       "scores, 0..1 (default session=0.9; --session-blend sets the same "
       "weight).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         return core::ParseBlendWeights(core::ToStd(v), &c->engine);
       }},
      {"new-item-slots", "N",
       "Slots of each FOR_YOU / SIMILAR_ITEMS list kept for new items that "
       "match the user's or the item's content; RecommendRequest."
       "new_item_slots overrides it (default 1, 0 = off).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseInt(v, 0, 500);
         if (!n.ok()) return n.status();
         c->engine.content.new_item_slots = static_cast<int>(*n);
         return absl::OkStatus();
       }},
      {"search-weight", "WEIGHT",
       "Weight of a SEARCH query in the user's content profile, on the "
       "scale of the event weights (view 1, purchase 8; default 2).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<double> d = ParseDouble(v, 0, 1000);
         if (!d.ok()) return d.status();
         c->engine.weights.search = static_cast<float>(*d);
         return absl::OkStatus();
       }},
      {"session-blend", "WEIGHT",
       "Weight of the session signal (the last few events) against the "
       "factor model for a fresh session, 0..1 (default 0.9).",
       false, SessionSetter(&core::SessionOptions::blend_weight, 0, 1)},
      {"session-items", "N",
       "Distinct recent items in a session, 0 = no session signal "
       "(default 5).",
       false, SessionSetter(&core::SessionOptions::max_items, 0, 100)},
      {"session-window", "SECONDS",
       "How far before a user's latest event the session reaches (default "
       "86400).",
       false, SessionSetter(&core::SessionOptions::window_seconds, 1, 1e9)},
      {"session-decay", "FACTOR",
       "Weight of each older session item relative to the next, 0..1 "
       "(default 0.7).",
       false, SessionSetter(&core::SessionOptions::position_decay, 0, 1)},
      {"session-fresh-half-life", "SECONDS",
       "Age of a user's latest event at which the session weighs half; 0 = "
       "never stale (default 3600).",
       false,
       SessionSetter(&core::SessionOptions::fresh_half_life_seconds, 0, 1e9)},
      {"session-transition-weight", "WEIGHT",
       "Weight of 'what followed' in the session score (default 3).", false,
       SessionSetter(&core::SessionOptions::transition_weight, 0, 1e6)},
      {"session-cooccurrence-weight", "WEIGHT",
       "Weight of co-occurrence in the session score (default 0.5).", false,
       SessionSetter(&core::SessionOptions::co_occurrence_weight, 0, 1e6)},
      {"session-ranker-weights", "W1,W2,...",
       "Learned re-scoring of a fresh session's candidates: one weight per "
       "feature of core/session_ranker.h, comma-separated, as `aisle eval "
       "--protocol next-item --session-ranker-fit-steps N` prints them; "
       "empty = the hand blend (default).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         std::vector<double> weights;
         for (absl::string_view part : absl::StrSplit(v, ',')) {
           part = absl::StripAsciiWhitespace(part);
           if (part.empty()) continue;
           double w = 0;
           if (!absl::SimpleAtod(part, &w)) {
             return Bad(absl::StrCat("not a number: \"", part, "\""));
           }
           weights.push_back(w);
         }
         core::SessionOptions check;
         check.ranker_weights = weights;
         if (absl::Status s = core::ValidateSessionOptions(check); !s.ok()) {
           return Bad(s.message());
         }
         c->engine.session.ranker_weights = std::move(weights);
         return absl::OkStatus();
       }},
      {"exact-below-selectivity", "FRACTION",
       "Use exact search when a filter keeps less than this fraction of "
       "the catalog (default 0.05).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<double> d = ParseDouble(v, 0, 1);
         if (!d.ok()) return d.status();
         c->engine.exact_below_selectivity = *d;
         return absl::OkStatus();
       }},
      {"ann-min-items", "N",
       "Build an ANN index for models with at least N items (default "
       "20000).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseInt(v, 0, (1LL << 31) - 1);
         if (!n.ok()) return n.status();
         c->engine.model.ann_min_items = static_cast<int32_t>(*n);
         return absl::OkStatus();
       }},
      {"ann-cosine-graph", "",
       "Give the ANN index a second graph over unit-length vectors, which "
       "SIMILAR_ITEMS searches by cosine; without it SIMILAR_ITEMS "
       "re-ranks 4x as many inner-product hits and agrees with exact "
       "search far less (README, Quality). About doubles the index's "
       "memory and build time (default true).",
       true, BoolSetter([](ServerConfig* c) -> bool& {
         return c->engine.model.ann.cosine;
       })},
      {"ann-cached-searches", "N",
       "Answers to this many recent distinct ANN searches are kept and "
       "given again for the same query vector without searching: every "
       "SIMILAR_ITEMS of one product, a user asking again before a new "
       "event. About 600 bytes each; 0 keeps none (default 8192).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<int64_t> n = ParseInt(v, 0, 1LL << 24);
         if (!n.ok()) return n.status();
         c->engine.model.ann.cached_searches = static_cast<size_t>(*n);
         return absl::OkStatus();
       }},
      {"exploration", "FRACTION",
       "Exploration of a Recommend that does not set it: popularity "
       "penalty and slots for under-exposed items, 0..1 (default 0).",
       false,
       [](absl::string_view v, ServerConfig* c) -> absl::Status {
         absl::StatusOr<double> d = ParseDouble(v, 0, 1);
         if (!d.ok()) return d.status();
         c->default_exploration = *d;
         return absl::OkStatus();
       }},
  };
}

}  // namespace aisle::server::config_internal
