// The Runner's session source: what the user's (or an anonymous visitor's)
// last few items say comes next, and its blend with the factor model (the
// rule is in SessionOptions, core/engine.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/recommend_runner.h"
#include "core/session_ranker.h"

namespace aisle::core {

void Engine::State::Runner::PrepareSession() {
  const SessionOptions& o = s_.options.session;
  double freshness = 0;
  if (user_ != nullptr) {
    const int64_t now = req_.now_ms > 0 ? req_.now_ms : s_.now_ms;
    session_ = s_.Session(*user_, now, &freshness);
  } else if (!context_.empty()) {
    // The visitor's context items, oldest first: a session happening now.
    freshness = 1;
    const auto max_items = static_cast<size_t>(std::max(0, o.max_items));
    double weight = 1;
    for (auto it = context_.rbegin();
         it != context_.rend() && session_.size() < max_items; ++it) {
      session_.emplace_back(*it, static_cast<float>(weight));
      weight *= o.position_decay;
    }
  }
  if (session_.empty()) return;
  const double fill = o.full_at_items > 0
                          ? std::min(1.0, static_cast<double>(session_.size()) /
                                              o.full_at_items)
                          : 1.0;
  session_freshness_ = freshness;
  session_blend_ = std::clamp(o.blend_weight * freshness * fill, 0.0, 1.0);
  // A session hours old would move scores by under a thousandth of the
  // best candidate's: not worth its cost (about a third of FOR_YOU's).
  constexpr double kNegligibleBlend = 1e-3;
  if (session_blend_ < kNegligibleBlend) session_blend_ = 0;
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::SessionCandidates() const {
  std::vector<Candidate> out;
  if (Full() || session_.empty()) return out;
  const SessionOptions& o = s_.options.session;
  // Each item's candidate and its parts (the features of RankSession).
  absl::flat_hash_map<int32_t, SessionAcc>& acc = session_acc_;
  acc.clear();
  // `raw`: the transition probability or cosine, from session item `j`.
  const auto credit = [&acc](int32_t item, int32_t seed, size_t j, double w,
                             double contribution, double raw, bool trans) {
    SessionAcc& a = acc[item];
    Candidate& c = a.c;
    if (c.item < 0) {
      c.item = item;
      c.source = Source::kSession;
      c.reason = ReasonCode::kJustViewed;
    }
    c.score += contribution;
    if (contribution > c.related_weight) {
      c.related = seed;
      c.related_weight = contribution;
    }
    if (j == 0) {
      (trans ? a.trans_last : a.co_last) += static_cast<float>(raw);
    } else {
      (trans ? a.trans_older : a.co_older) += static_cast<float>(w * raw);
    }
    if (a.last_seed != static_cast<int32_t>(j)) {
      a.last_seed = static_cast<int32_t>(j);
      ++a.seeds;
    }
  };
  for (size_t j = 0; j < session_.size(); ++j) {
    const auto& [seed, w] = session_[j];
    if (o.transition_weight > 0) {
      const float out_weight = s_.transitions.Out(seed);
      if (const auto* next = s_.transitions.Next(seed); next != nullptr) {
        const double inverse = 1.0 / out_weight;
        const double scale = w * o.transition_weight;
        for (const auto& [item, t] : *next) {
          const double p = t * inverse;
          credit(item, seed, j, w, scale * p, p, true);
        }
      }
    }
    if (o.co_occurrence_weight > 0 &&
        static_cast<size_t>(seed) < s_.co_all.size() && s_.n_all[seed] > 0) {
      const double scale = w * o.co_occurrence_weight;
      const auto n_seed = static_cast<double>(s_.n_all[seed]);
      for (const auto& [item, c] : s_.co_all[seed]) {
        if (s_.n_all[item] <= 0) continue;
        const double cos = c / std::sqrt(n_seed * s_.n_all[item]);
        credit(item, seed, j, w, scale * cos, cos, false);
      }
    }
  }
  out.reserve(acc.size());
  for (auto& [item, a] : acc) {
    if (!taken_.contains(item) && Eligible(item)) out.push_back(a.c);
  }
  if (o.vector_weight > 0 && b_ != nullptr) {
    // The factor model's item-item view of the same candidates: cosine of
    // their vectors to the session items' (no retrieval: bounded cost).
    const RowMatrix& y = b_->model->item_factors();
    for (Candidate& c : out) {
      const int32_t row = b_->Row(c.item);
      if (row < 0 || b_->inv_norms[row] == 0) continue;
      for (const auto& [seed, w] : session_) {
        const int32_t srow = b_->Row(seed);
        if (srow < 0) continue;
        const double cos = y.row(row).dot(y.row(srow)) * b_->inv_norms[row] *
                           b_->inv_norms[srow];
        if (cos > 0) c.score += w * o.vector_weight * cos;
      }
    }
  }
  // Hash order is arbitrary: ties by id, so the order is the same each time.
  const auto better = [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  };
  const auto keep = static_cast<size_t>(std::max(1, o.candidates));
  if (out.size() > keep) {
    std::partial_sort(out.begin(),
                      out.begin() + static_cast<std::ptrdiff_t>(keep),
                      out.end(), better);
    out.resize(keep);
  } else {
    std::sort(out.begin(), out.end(), better);
  }
  return out;
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::BlendSession(std::vector<Candidate> model) {
  if (session_blend_ <= 0) return model;
  std::vector<Candidate> session = SessionCandidates();
  if (session.empty()) return model;
  const bool ranked = Ranked();
  double model_top = 0;
  const size_t model_count = model.size();
  if (ranked) {
    for (const Candidate& c : model) model_top = std::max(model_top, c.score);
  }
  std::vector<Candidate> blended =
      Blend(std::move(model), session, session_blend_, Source::kSession,
            ReasonCode::kJustViewed);
  if (!ranked) return blended;
  return RankSession(std::move(blended), model_top, model_count);
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::RankSession(std::vector<Candidate> blended,
                                   double model_top, size_t model_count) {
  const float* uv = UserVector();
  const FactorModel& m = *b_->model;
  const Eigen::Map<const Eigen::VectorXf> u(uv, m.factors());
  const double model_scale = model_top > 0 ? 1.0 / model_top : 0;
  const double fresh = session_freshness_;
  // The user's taste for popular items: the mean log user count of their
  // recent items; and the pause before their latest event.
  double mainstream = 0;
  for (const auto& [item, w] : recent_) {
    mainstream += std::log1p(std::max(0.0f, s_.n_all[item]));
  }
  if (!recent_.empty()) mainstream /= static_cast<double>(recent_.size());
  double gap_seconds = 0;
  if (user_ != nullptr && user_->history.size() >= 2) {
    const auto& h = user_->history;
    gap_seconds =
        std::max<double>(0, (h.back().ts - h[h.size() - 2].ts) / 1000.0);
  }
  const double log_gap = std::log1p(gap_seconds);
  const std::vector<double>& weights = RankerWeights();
  // Per candidate only what differs: one exp per counter for the request,
  // and the log of a zero session feature (most of the model's candidates
  // have none) is a constant.
  const double popularity_decay = s_.popularity.DecayAt(s_.now_ms);
  const double trending_decay = s_.trending.DecayAt(s_.now_ms);
  static const double kLogOfNone = std::log(1e-3);
  const auto log_or_none = [](double x) {
    return x == 0 ? kLogOfNone : std::log(1e-3 + x);
  };
  // Each candidate reads its successor list (the reverse feature below:
  // the list's header, then the slot of the session's first item), its
  // model row and its counters, cache misses in a large catalog that the
  // loop would wait for one after the other. The loop asks for them
  // ahead: the header 2 * kAhead candidates ahead, the rest kAhead ahead.
  constexpr size_t kAhead = 8;
  const auto ask_header = [&](size_t j) ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    if (j < blended.size() && !session_.empty()) {
      s_.transitions.PrefetchList(blended[j].item);
    }
  };
  const auto ask_rest = [&](size_t j) ABSL_SHARED_LOCKS_REQUIRED(s_.mu) {
    if (j >= blended.size()) return;
    const int32_t item = blended[j].item;
    if (!session_.empty()) {
      s_.transitions.PrefetchLookup(item, session_.front().first);
    }
    s_.popularity.Prefetch(item);
    s_.trending.Prefetch(item);
    __builtin_prefetch(s_.n_all.data() + item);
    if (const int32_t row = b_->Row(item); row >= 0) {
      const char* y =
          reinterpret_cast<const char*>(m.item_factors().row(row).data());
      for (size_t b = 0; b < m.factors() * sizeof(float); b += 64) {
        __builtin_prefetch(y + b);
      }
    }
  };
  for (size_t j = 0; j < 2 * kAhead; ++j) ask_header(j);
  for (size_t j = 0; j < kAhead; ++j) ask_rest(j);
  std::array<double, kSessionRankerFeatures> f;
  for (size_t k = 0; k < blended.size(); ++k) {
    ask_header(k + 2 * kAhead);
    ask_rest(k + kAhead);
    Candidate& c = blended[k];
    f.fill(0);
    f[kRankerBlend] = c.score;
    const int32_t row = b_->Row(c.item);
    if (row >= 0) {
      // A plain dot product (Eigen's row-times-vector goes through gemv).
      const Eigen::Map<const Eigen::VectorXf> y(
          m.item_factors().row(row).data(), m.factors());
      f[kRankerModel] = std::max(0.0, y.dot(u) * model_scale);
    }
    // Blend keeps the model's candidates first, in their order.
    f[kRankerInModelTop] = k < model_count ? 1 : 0;
    const double n_item = s_.n_all[c.item];
    double supported = 0;
    if (auto it = session_acc_.find(c.item); it != session_acc_.end()) {
      const SessionAcc& a = it->second;
      f[kRankerTransLast] = fresh * a.trans_last;
      f[kRankerTransOlder] = fresh * a.trans_older;
      f[kRankerCoLast] = fresh * a.co_last;
      f[kRankerCoOlder] = fresh * a.co_older;
      supported = a.seeds;
    }
    f[kRankerSeeds] = fresh * supported /
                      static_cast<double>(std::max<size_t>(1, session_.size()));
    f[kRankerLogTrans] =
        log_or_none(f[kRankerTransLast] + f[kRankerTransOlder]);
    f[kRankerLogCo] = log_or_none(f[kRankerCoLast] + f[kRankerCoOlder]);
    f[kRankerLogUsers] = std::log1p(std::max(0.0, n_item));
    f[kRankerLogPopularity] =
        std::log1p(std::max(0.0, s_.popularity.Key(c.item) * popularity_decay));
    f[kRankerLogTrending] =
        std::log1p(std::max(0.0, s_.trending.Key(c.item) * trending_decay));
    f[kRankerLogTransLast] = log_or_none(f[kRankerTransLast]);
    f[kRankerLogCoLast] = log_or_none(f[kRankerCoLast]);
    f[kRankerLogModel] = std::log(1e-2 + f[kRankerModel]);
    f[kRankerUserMainstream] = f[kRankerLogUsers] * mainstream;
    f[kRankerTransGap] = f[kRankerTransLast] * log_gap;
    double reverse = 0;
    if (!session_.empty()) {
      if (const auto* next = s_.transitions.Next(c.item); next != nullptr) {
        if (auto it = next->find(session_.front().first); it != next->end()) {
          reverse = it->second / s_.transitions.Out(c.item);
        }
      }
    }
    f[kRankerLogReverse] = log_or_none(fresh * reverse);
    if (ranker_rows_ != nullptr) {
      ranker_rows_->push_back(
          {s_.item_ids[c.item], std::vector<double>(f.begin(), f.end())});
      continue;
    }
    double score = 0;
    for (int g = 0; g < kSessionRankerFeatures; ++g) score += weights[g] * f[g];
    c.score = score;
  }
  return blended;
}

std::vector<SessionRankerRow> Engine::SessionRankerRows(
    const RecommendRequest& request) const {
  const std::shared_ptr<const State::Binding> b = state_->CurrentBinding();
  State::Runner runner(*state_, b.get(), request, nullptr);
  absl::ReaderMutexLock lock(&runner.mu());
  return runner.RankerRows();
}

std::vector<SessionRankerRow> Engine::State::Runner::RankerRows() {
  std::vector<SessionRankerRow> rows;
  if (req_.scenario != Scenario::kForYou) return rows;
  ranker_rows_ = &rows;
  Prepare();
  want_ = static_cast<size_t>(std::max(0, req_.count));
  std::string fallback_reason;
  ForYou(&fallback_reason);
  ranker_rows_ = nullptr;
  return rows;
}

std::vector<Engine::State::Runner::Candidate> Engine::State::Runner::Blend(
    std::vector<Candidate> model, const std::vector<Candidate>& other,
    double weight, Source source, ReasonCode reason) {
  if (other.empty() || weight <= 0) return model;
  const float* uv = UserVector();
  const FactorModel& m = *b_->model;
  const Eigen::Map<const Eigen::VectorXf> u(uv, m.factors());
  // Both signals scaled to their best candidate, so that the blend weight
  // means the same whatever the model's score range.
  // (The best, not the first: a second blend gets the first's unsorted.)
  double model_top = 0;
  for (const Candidate& c : model) model_top = std::max(model_top, c.score);
  const double model_scale = model_top > 0 ? 1.0 / model_top : 0;
  const double other_scale =
      other.front().score > 0 ? 1.0 / other.front().score : 0;
  const double l = weight;
  absl::flat_hash_map<int32_t, size_t> index;
  for (size_t k = 0; k < model.size(); ++k) {
    index[model[k].item] = k;
    model[k].related_weight = 0;  // the other part, set below
    model[k].score = (1 - l) * std::max(0.0, model[k].score * model_scale);
  }
  for (const Candidate& c : other) {
    const double part = l * c.score * other_scale;
    Candidate* target;
    if (auto it = index.find(c.item); it != index.end()) {
      target = &model[it->second];
    } else {
      // Not in the model's top: its model score, if the model knows it.
      const int32_t row = b_->Row(c.item);
      const double dot =
          row >= 0 ? m.item_factors().row(row).dot(u.transpose()) : 0.0;
      Candidate fresh = c;
      fresh.score = (1 - l) * std::max(0.0, dot * model_scale);
      fresh.source = Source::kFactorModel;
      fresh.reason = ReasonCode::kMatchesYourTaste;
      model.push_back(fresh);
      target = &model.back();
    }
    // The stronger part names the source and the reason.
    if (part >= target->score) {
      target->source = source;
      target->reason = reason;
      target->related = c.related;
      target->neighbors_best = c.neighbors_best;
    }
    target->score += part;
  }
  return model;
}

}  // namespace aisle::core
