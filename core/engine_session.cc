// The session signal's state in Engine::State: transitions counted on each
// event, and a user's session (their last few items) at request time. The
// scoring is in session_source.cc; SessionOptions (core/engine.h) has the
// definitions.
#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/engine_state.h"
#include "core/session_ranker.h"

namespace aisle::core {
namespace {

// History entries that say the user wanted the item (dislikes and cart
// removals are in the history too).
bool Positive(EventType t) {
  return t != EventType::kDislike && t != EventType::kRemoveFromCart &&
         t != EventType::kImpression;
}

absl::Status OutOfRange(const char* field, const char* range) {
  return absl::InvalidArgumentError(
      absl::StrCat("session option ", field, ": must be ", range));
}

}  // namespace

absl::Status ValidateSessionOptions(const SessionOptions& o) {
  if (o.max_items < 0 || o.max_items > 100) {
    return OutOfRange("max_items", "0..100");
  }
  if (!(o.window_seconds > 0)) return OutOfRange("window_seconds", "> 0");
  if (!(o.position_decay >= 0 && o.position_decay <= 1)) {
    return OutOfRange("position_decay", "0..1");
  }
  if (!(o.transition_weight >= 0)) {
    return OutOfRange("transition_weight", ">= 0");
  }
  if (!(o.co_occurrence_weight >= 0)) {
    return OutOfRange("co_occurrence_weight", ">= 0");
  }
  if (!(o.blend_weight >= 0 && o.blend_weight <= 1)) {
    return OutOfRange("blend_weight", "0..1");
  }
  if (!(o.vector_weight >= 0)) return OutOfRange("vector_weight", ">= 0");
  if (o.full_at_items < 0) return OutOfRange("full_at_items", ">= 0");
  if (!(o.fresh_half_life_seconds >= 0)) {
    return OutOfRange("fresh_half_life_seconds", ">= 0");
  }
  if (o.transition_span < 0 || o.transition_span > 20) {
    return OutOfRange("transition_span", "0..20");
  }
  if (!(o.transition_gap_half_life_seconds >= 0)) {
    return OutOfRange("transition_gap_half_life_seconds", ">= 0");
  }
  if (o.transition_max_neighbors < 1) {
    return OutOfRange("transition_max_neighbors", ">= 1");
  }
  if (o.candidates < 1 || o.candidates > 10000) {
    return OutOfRange("candidates", "1..10000");
  }
  if (!o.ranker_weights.empty()) {
    if (o.ranker_weights.size() != kSessionRankerFeatures) {
      return OutOfRange("ranker_weights",
                        "empty or one weight per SessionRankerFeature");
    }
    for (double w : o.ranker_weights) {
      if (!std::isfinite(w)) return OutOfRange("ranker_weights", "finite");
    }
  }
  if (!(o.ranker_min_freshness >= 0 && o.ranker_min_freshness <= 1)) {
    return OutOfRange("ranker_min_freshness", "0..1");
  }
  if (o.ranker_model_candidates < 1 || o.ranker_model_candidates > 10000) {
    return OutOfRange("ranker_model_candidates", "1..10000");
  }
  return absl::OkStatus();
}

void Engine::State::CountTransitions(const UserRec& user, int32_t item,
                                     int64_t ts) {
  const SessionOptions& o = options.session;
  const auto span = static_cast<size_t>(std::max(0, o.transition_span));
  if (span == 0) return;
  // The earlier items and their weights first, then their successor lists
  // asked for at once (each a cache miss or two), then the additions.
  absl::InlinedVector<std::pair<int32_t, double>, 8> from;
  double position_weight = 1;
  for (auto it = user.history.rbegin();
       it != user.history.rend() && from.size() < span; ++it) {
    if (it->item == item || !Positive(it->type)) continue;
    if (std::find_if(from.begin(), from.end(), [&](const auto& f) {
          return f.first == it->item;
        }) != from.end()) {
      continue;
    }
    const UserItem* ui = user.Find(it->item);
    if (ui != nullptr && (ui->flags & kBlocked)) continue;
    // Time-aware: a long pause makes "followed" weaker evidence.
    double w = position_weight;
    if (o.transition_gap_half_life_seconds > 0) {
      const double gap_s =
          std::max<double>(0, static_cast<double>(ts - it->ts)) / 1000.0;
      w *= std::exp2(-gap_s / o.transition_gap_half_life_seconds);
    }
    position_weight *= o.position_decay;
    from.emplace_back(it->item, w);
  }
  for (const auto& [f, w] : from) transitions.PrefetchList(f);
  for (const auto& [f, w] : from) transitions.PrefetchLookup(f, item);
  for (const auto& [f, w] : from) {
    if (w > 0) transitions.Add(f, item, static_cast<float>(w));
  }
}

std::vector<std::pair<int32_t, float>> Engine::State::Session(
    const UserRec& user, int64_t now_ms, double* freshness) const {
  const SessionOptions& o = options.session;
  std::vector<std::pair<int32_t, float>> session;
  *freshness = 0;
  const auto max_items = static_cast<size_t>(std::max(0, o.max_items));
  bool has_latest = false;
  int64_t latest = 0;
  double weight = 1;
  for (auto it = user.history.rbegin();
       it != user.history.rend() && session.size() < max_items; ++it) {
    if (!Positive(it->type)) continue;
    const UserItem* ui = user.Find(it->item);
    if (ui == nullptr || (ui->flags & kBlocked) || ui->weight <= 0) continue;
    if (!has_latest) {
      has_latest = true;
      latest = it->ts;
    }
    if (static_cast<double>(latest - it->ts) > o.window_seconds * 1000.0) {
      break;
    }
    const bool dup =
        std::any_of(session.begin(), session.end(),
                    [&](const auto& p) { return p.first == it->item; });
    if (dup) continue;
    session.emplace_back(it->item, static_cast<float>(weight));
    weight *= o.position_decay;
  }
  if (has_latest) {
    const double age_s =
        std::max<double>(0, static_cast<double>(now_ms - latest)) / 1000.0;
    *freshness = o.fresh_half_life_seconds > 0
                     ? std::exp2(-age_s / o.fresh_half_life_seconds)
                     : 1.0;
  }
  return session;
}

}  // namespace aisle::core
