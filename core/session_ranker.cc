#include "core/session_ranker.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace aisle::core {
namespace {

constexpr int kF = kSessionRankerFeatures;
using Vec = Eigen::Matrix<double, kF, 1>;
using Mat = Eigen::Matrix<double, kF, kF>;

struct Standardised {
  std::vector<Eigen::MatrixXd> x;  // per query: rows x used features
  std::vector<int> positive;
};

// Mean loss (+ penalty) at w; gradient and Hessian when asked.
double Evaluate(const Standardised& d, const Eigen::VectorXd& w, double l2,
                Eigen::VectorXd* grad, Eigen::MatrixXd* hess, double* nll) {
  const Eigen::Index n = w.size();
  double loss = 0;
  if (grad != nullptr) grad->setZero(n);
  if (hess != nullptr) hess->setZero(n, n);
  for (size_t q = 0; q < d.x.size(); ++q) {
    const Eigen::MatrixXd& x = d.x[q];
    Eigen::VectorXd s = x * w;
    const double top = s.maxCoeff();
    Eigen::VectorXd p = (s.array() - top).exp();
    const double z = p.sum();
    p /= z;
    loss += -(s(d.positive[q]) - top - std::log(z));
    if (grad == nullptr) continue;
    const Eigen::VectorXd mean = x.transpose() * p;
    *grad += mean - x.row(d.positive[q]).transpose();
    if (hess != nullptr) {
      *hess += x.transpose() * p.asDiagonal() * x - mean * mean.transpose();
    }
  }
  const double m = static_cast<double>(d.x.size());
  loss /= m;
  if (nll != nullptr) *nll = loss;
  if (grad != nullptr) *grad = *grad / m + l2 * w;
  if (hess != nullptr) {
    *hess /= m;
    hess->diagonal().array() += l2;
  }
  return loss + 0.5 * l2 * w.squaredNorm();
}

}  // namespace

std::string_view SessionRankerFeatureName(int feature) {
  static constexpr std::string_view kNames[kSessionRankerFeatures] = {
      "blend",           "model",          "in_model_top", "trans_last",
      "trans_older",     "co_last",        "co_older",     "seeds",
      "log_trans",       "log_co",         "log_users",    "log_popularity",
      "log_trending",    "log_trans_last", "log_co_last",  "log_model",
      "user_mainstream", "trans_gap",      "log_reverse"};
  return feature >= 0 && feature < kSessionRankerFeatures ? kNames[feature]
                                                          : "unknown";
}

absl::StatusOr<SessionRankerFit> FitSessionRanker(
    std::span<const SessionRankerQuery> queries,
    const SessionRankerFitOptions& options) {
  if (!(options.l2 >= 0)) return absl::InvalidArgumentError("l2 must be >= 0");
  if (options.max_iterations < 1) {
    return absl::InvalidArgumentError("max_iterations must be >= 1");
  }
  std::vector<int> used;
  for (int f = 0; f < kF; ++f) {
    if (options.feature_mask & (1u << f)) used.push_back(f);
  }
  if (used.empty()) return absl::InvalidArgumentError("no feature selected");
  // Mean and standard deviation of each feature over every row.
  Vec sum = Vec::Zero(), sq = Vec::Zero();
  double rows = 0;
  for (const SessionRankerQuery& q : queries) {
    if (q.positive < -1 || q.positive >= static_cast<int>(q.rows.size())) {
      return absl::InvalidArgumentError("a query's positive is out of range");
    }
    if (q.positive < 0 || q.rows.size() < 2) continue;
    for (const auto& r : q.rows) {
      const Eigen::Map<const Vec> v(r.data());
      sum += v;
      sq += v.cwiseProduct(v);
      rows += 1;
    }
  }
  if (rows == 0) return absl::InvalidArgumentError("no usable query");
  const Vec mean = sum / rows;
  Vec sd = (sq / rows - mean.cwiseProduct(mean)).cwiseMax(0).cwiseSqrt();
  Standardised d;
  const auto n = static_cast<Eigen::Index>(used.size());
  for (const SessionRankerQuery& q : queries) {
    if (q.positive < 0 || q.rows.size() < 2) continue;
    Eigen::MatrixXd x(static_cast<Eigen::Index>(q.rows.size()), n);
    for (size_t r = 0; r < q.rows.size(); ++r) {
      for (Eigen::Index k = 0; k < n; ++k) {
        const int f = used[k];
        x(static_cast<Eigen::Index>(r), k) =
            sd(f) > 0 ? (q.rows[r][f] - mean(f)) / sd(f) : 0;
      }
    }
    d.x.push_back(std::move(x));
    d.positive.push_back(q.positive);
  }
  Eigen::VectorXd w = Eigen::VectorXd::Zero(n);
  Eigen::VectorXd grad;
  Eigen::MatrixXd hess;
  SessionRankerFit fit;
  fit.queries = static_cast<int>(d.x.size());
  double current = Evaluate(d, w, options.l2, &grad, &hess, nullptr);
  for (int it = 0; it < options.max_iterations; ++it) {
    fit.iterations = it + 1;
    // A tiny ridge keeps the step defined when l2 = 0 and a feature is
    // constant.
    hess.diagonal().array() += 1e-9;
    const Eigen::VectorXd step = hess.ldlt().solve(-grad);
    double t = 1;
    double next = current;
    Eigen::VectorXd candidate;
    for (int halvings = 0; halvings < 30; ++halvings, t /= 2) {
      candidate = w + t * step;
      next = Evaluate(d, candidate, options.l2, nullptr, nullptr, nullptr);
      if (next <= current + 1e-4 * t * grad.dot(step)) break;
    }
    if (!(next < current)) break;
    w = candidate;
    const double gain = current - next;
    current = Evaluate(d, w, options.l2, &grad, &hess, nullptr);
    if (gain < 1e-10) break;
  }
  Evaluate(d, w, options.l2, nullptr, nullptr, &fit.loss);
  fit.weights.assign(kF, 0.0);
  for (Eigen::Index k = 0; k < n; ++k) {
    const int f = used[k];
    if (sd(f) > 0) fit.weights[f] = w(k) / sd(f);
  }
  return fit;
}

std::string FormatSessionRankerWeights(std::span<const double> weights) {
  std::string out;
  for (size_t f = 0; f < weights.size(); ++f) {
    absl::StrAppendFormat(&out, "%s%.9g", f > 0 ? "," : "", weights[f]);
  }
  return out;
}

absl::StatusOr<std::vector<double>> ParseSessionRankerWeights(
    std::string_view text) {
  std::vector<double> weights;
  const std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(text.data(), text.size()), ',');
  for (const std::string& part : parts) {
    double w = 0;
    if (!absl::SimpleAtod(part, &w) || !std::isfinite(w)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "session ranker weight '%s' is not a finite number", part));
    }
    weights.push_back(w);
  }
  if (weights.size() != kF) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d session ranker weights, want %d", weights.size(), kF));
  }
  return weights;
}

}  // namespace aisle::core
