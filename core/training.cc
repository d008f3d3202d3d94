#include "core/training.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/crc32c.h"
#include "core/eval.h"

namespace aisle::core {

std::string ModelVersion(absl::Time now, uint64_t seed) {
  const std::string stamp =
      absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone());
  const uint32_t mix =
      Crc32c(absl::StrCat(absl::ToUnixNanos(now), "/", seed, "/", getpid()));
  return absl::StrFormat("%s-%04x", stamp, mix & 0xffff);
}

HoldoutSplit SplitHoldout(const SparseRows& rows, double fraction,
                          uint64_t seed) {
  HoldoutSplit split;
  split.held_out.resize(rows.rows);
  std::mt19937_64 rng(seed);
  std::vector<Triplet> train;
  train.reserve(static_cast<size_t>(rows.nnz()));
  for (int32_t u = 0; u < rows.rows; ++u) {
    const int64_t begin = rows.row_ptr[u];
    const int64_t end = rows.row_ptr[u + 1];
    std::vector<int64_t> order;
    for (int64_t e = begin; e < end; ++e) order.push_back(e);
    // Users with a single interaction keep it: nothing to hold out.
    const auto n_hold = static_cast<int64_t>(
        std::floor(fraction * static_cast<double>(order.size())));
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i = 0; i < order.size(); ++i) {
      const int64_t e = order[i];
      if (static_cast<int64_t>(i) < n_hold && order.size() > 1) {
        split.held_out[u].push_back(rows.col[e]);
      } else {
        train.push_back({u, rows.col[e], rows.weight[e]});
      }
    }
  }
  split.train =
      SparseRows::FromTriplets(rows.rows, rows.cols, std::move(train));
  return split;
}

RankingScores HoldoutScores(const HoldoutSplit& split,
                            const AlsFactors& factors, int k, int max_users,
                            uint64_t seed, int64_t* users_evaluated) {
  std::vector<int32_t> users;
  for (int32_t u = 0; u < split.train.rows; ++u) {
    if (!split.held_out[u].empty()) users.push_back(u);
  }
  if (static_cast<int>(users.size()) > max_users) {
    std::mt19937_64 rng(seed ^ 0x5eed);
    std::shuffle(users.begin(), users.end(), rng);
    users.resize(max_users);
  }
  RankingScores sum;
  for (int32_t u : users) {
    Eigen::VectorXf scores = factors.items * factors.users.row(u).transpose();
    for (int64_t e = split.train.row_ptr[u]; e < split.train.row_ptr[u + 1];
         ++e) {
      scores[split.train.col[e]] = -std::numeric_limits<float>::infinity();
    }
    std::vector<int32_t> order;
    for (int32_t i = 0; i < static_cast<int32_t>(scores.size()); ++i) {
      if (scores[i] != -std::numeric_limits<float>::infinity()) {
        order.push_back(i);
      }
    }
    const size_t top = std::min<size_t>(k, order.size());
    std::partial_sort(order.begin(), order.begin() + top, order.end(),
                      [&](int32_t a, int32_t b) {
                        return scores[a] > scores[b] ||
                               (scores[a] == scores[b] && a < b);
                      });
    // Item columns stand in for ids: the metric only needs equality.
    std::vector<std::string> recommended;
    for (size_t i = 0; i < top; ++i)
      recommended.push_back(absl::StrCat(order[i]));
    absl::flat_hash_set<std::string> relevant;
    for (int32_t col : split.held_out[u]) relevant.insert(absl::StrCat(col));
    RankingScores s = ScoreRanking(recommended, relevant, k);
    sum.precision += s.precision;
    sum.recall += s.recall;
    sum.ndcg += s.ndcg;
    sum.average_precision += s.average_precision;
  }
  *users_evaluated = static_cast<int64_t>(users.size());
  if (!users.empty()) {
    const double n = static_cast<double>(users.size());
    sum.precision /= n;
    sum.recall /= n;
    sum.ndcg /= n;
    sum.average_precision /= n;
  }
  return sum;
}

absl::StatusOr<TrainedModel> TrainModelVersion(
    Engine::TrainingData data, const TrainingOptions& options,
    const ModelOptions& model_options, const TrainingProgress& progress) {
  if (data.user_items.nnz() == 0) {
    return absl::InvalidArgumentError(
        "no positive interactions to train on; import events first: aisle "
        "import --data-dir DIR --events FILE");
  }
  auto reporter = [&progress](std::string_view phase) {
    return [&progress, phase](const AlsProgress& p) {
      if (progress) progress(phase, p);
    };
  };

  TrainedModel out;
  std::map<std::string, double> metrics;
  if (options.validate_fraction > 0) {
    HoldoutSplit split = SplitHoldout(
        data.user_items, options.validate_fraction, options.als.seed);
    absl::StatusOr<AlsFactors> factors = TrainAls(
        split.train, options.als, reporter("validation"), options.compute_loss);
    if (!factors.ok()) return factors.status();
    const RankingScores s =
        HoldoutScores(split, *factors, 10, options.validate_users,
                      options.als.seed, &out.holdout_users);
    metrics["holdout_precision@10"] = s.precision;
    metrics["holdout_recall@10"] = s.recall;
    metrics["holdout_ndcg@10"] = s.ndcg;
    metrics["holdout_map@10"] = s.average_precision;
  }

  const auto start = SteadyClock::now();
  absl::StatusOr<AlsFactors> factors = TrainAls(
      data.user_items, options.als, reporter("train"), options.compute_loss);
  if (!factors.ok()) return factors.status();
  out.train_seconds = SecondsSince(start);

  const absl::Time now = absl::Now();
  const AlsOptions& als = options.als;
  ModelMetadata metadata;
  metadata.version =
      options.version.empty() ? ModelVersion(now, als.seed) : options.version;
  metadata.trained_at_ms = absl::ToUnixMillis(now);
  metadata.factors = als.factors;
  metadata.users = static_cast<int64_t>(data.user_ids.size());
  metadata.items = static_cast<int64_t>(data.item_ids.size());
  metadata.interactions = data.user_items.nnz();
  metadata.metrics = std::move(metrics);
  metadata.parameters = {
      {"factors", absl::StrCat(als.factors)},
      {"alpha", absl::StrCat(als.alpha)},
      {"regularization", absl::StrCat(als.regularization)},
      {"iterations", absl::StrCat(als.iterations)},
      {"seed", absl::StrCat(als.seed)},
      {"solver", als.solver == AlsSolver::kCholesky ? "cholesky" : "cg"},
      {"cg_steps", absl::StrCat(als.cg_steps)},
      {"train_seconds", absl::StrFormat("%.2f", out.train_seconds)},
  };
  if (options.validate_fraction > 0) {
    metadata.parameters["validate_fraction"] =
        absl::StrCat(options.validate_fraction);
  }
  for (const auto& [key, value] : options.extra_parameters) {
    metadata.parameters[key] = value;
  }
  // No user vectors: serving re-solves them from each user's events, and
  // a stored vector would be personal data beyond DeleteUser's reach
  // (FactorModel::SerializeWithoutUsers).
  Segments segments;
  if (options.segments.k > 0) {
    SegmentOptions segment_options = options.segments;
    segment_options.seed = als.seed;
    absl::StatusOr<LearnedSegments> learned =
        LearnSegments(data.user_items, factors->users, data.item_ids,
                      data.item_facts, segment_options);
    if (!learned.ok()) return learned.status();
    metadata.metrics["segments_inertia"] = learned->inertia;
    metadata.metrics["segments_silhouette"] = learned->silhouette;
    metadata.parameters["segments"] =
        absl::StrCat(learned->segments.info.size());
    segments = std::move(learned->segments);
  }
  absl::StatusOr<std::shared_ptr<const FactorModel>> model =
      FactorModel::Create(std::move(metadata), std::move(data.item_ids),
                          std::move(factors->items), {},
                          RowMatrix(0, als.factors), model_options,
                          std::move(segments));
  if (!model.ok()) return model.status();
  out.model = *std::move(model);
  return out;
}

absl::StatusOr<SessionRankerTraining> FitSessionRankerOnEvents(
    std::span<const Item> items, std::span<const Event> events,
    const EngineOptions& engine_options, const AlsOptions& als,
    const SessionRankerTrainingOptions& options) {
  if (options.steps < 1) {
    return absl::InvalidArgumentError("session ranker steps must be >= 1");
  }
  if (options.max_requests < 1) {
    return absl::InvalidArgumentError(
        "session ranker max_requests must be >= 1");
  }
  const auto start = SteadyClock::now();
  // Each user's events in time order (ties in input order).
  std::vector<std::vector<size_t>> by_user;
  {
    absl::flat_hash_map<std::string_view, size_t> index;
    for (size_t i = 0; i < events.size(); ++i) {
      auto [it, inserted] =
          index.try_emplace(events[i].user_id, by_user.size());
      if (inserted) by_user.emplace_back();
      by_user[it->second].push_back(i);
    }
  }
  for (std::vector<size_t>& rows : by_user) {
    std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) {
      return events[a].timestamp_ms < events[b].timestamp_ms;
    });
  }
  EngineOptions eo = engine_options;
  eo.session.ranker_weights.clear();
  SessionRankerTraining out;
  std::vector<SessionRankerQuery> queries;
  for (int step = 1; step <= options.steps; ++step) {
    std::vector<Event> train;
    train.reserve(events.size());
    std::vector<std::pair<size_t, size_t>> held;  // live, label
    for (const std::vector<size_t>& rows : by_user) {
      const size_t drop = static_cast<size_t>(step - 1);
      const size_t n = rows.size() > drop ? rows.size() - drop : 0;
      const size_t keep = n >= 3 ? n - 2 : n;
      for (size_t j = 0; j < keep; ++j) train.push_back(events[rows[j]]);
      if (n >= 3) held.emplace_back(rows[n - 2], rows[n - 1]);
    }
    std::stable_sort(train.begin(), train.end(),
                     [](const Event& a, const Event& b) {
                       return a.timestamp_ms < b.timestamp_ms;
                     });
    Engine engine(eo);
    engine.UpsertItems(items);
    engine.ReplayEvents(train);
    train.clear();
    train.shrink_to_fit();
    if (absl::Status s = InstallAls(als, eo.model, engine); !s.ok()) return s;
    const size_t every =
        (held.size() + options.max_requests - 1) / options.max_requests;
    for (size_t u = 0; u < held.size(); u += std::max<size_t>(1, every)) {
      const Event& live = events[held[u].first];
      const Event& next = events[held[u].second];
      engine.ApplyEvents({&live, 1});
      RecommendRequest req;
      req.user_id = live.user_id;
      req.scenario = Scenario::kForYou;
      req.count = options.count;
      req.now_ms = live.timestamp_ms;
      std::vector<SessionRankerRow> rows = engine.SessionRankerRows(req);
      ++out.requests;
      SessionRankerQuery q;
      for (size_t r = 0; r < rows.size(); ++r) {
        if (rows[r].item_id == next.item_id) q.positive = static_cast<int>(r);
        std::array<double, kSessionRankerFeatures> f{};
        std::copy(rows[r].features.begin(), rows[r].features.end(), f.begin());
        q.rows.push_back(f);
      }
      if (q.positive >= 0) queries.push_back(std::move(q));
    }
  }
  if (std::none_of(
          queries.begin(), queries.end(),
          [](const SessionRankerQuery& q) { return q.rows.size() >= 2; })) {
    return absl::FailedPreconditionError(
        "no request with the next item among two or more candidates");
  }
  absl::StatusOr<SessionRankerFit> fit = FitSessionRanker(queries, options.fit);
  if (!fit.ok()) return fit.status();
  out.fit = *std::move(fit);
  out.seconds = SecondsSince(start);
  return out;
}

}  // namespace aisle::core
