#include "core/attribute_popularity.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace aisle::core {
namespace {

// Below this a weight is rounding left over from removals: dropped, so
// that erased users leave no entries behind.
constexpr double kNegligible = 1e-9;

}  // namespace

AttributePopularity::AttributePopularity(AttributeOptions options)
    : options_(options) {}

AttributePopularity::Values AttributePopularity::Intern(
    const std::map<std::string, std::string>& attributes) {
  Values ids;
  ids.reserve(attributes.size());
  for (const auto& [key, value] : attributes) {
    // key NUL value: keys have no control characters, so no two pairs
    // share a lookup key (with "=", a=b:c and a:b=c would).
    lookup_.assign(key);
    lookup_.push_back('\0');
    lookup_.append(value);
    auto it = index_.find(lookup_);
    if (it == index_.end()) {
      const auto id = static_cast<int32_t>(values_.size());
      values_.push_back(std::make_unique<Counts>());
      values_.back()->name = lookup_;
      values_.back()->key_bytes = key.size();
      it = index_.emplace(lookup_, id).first;
    }
    ids.push_back(it->second);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

void AttributePopularity::Counts::Add(int32_t item, double delta) {
  double& w = weights[item];
  w += delta;
  sum += delta;
  if (w <= kNegligible) weights.erase(item);
  if (weights.empty()) sum = 0;  // no drift once everyone left
  ++version;
}

void AttributePopularity::Add(std::span<const int32_t> values, int32_t item,
                              double delta) {
  if (delta == 0) return;
  if (bulk_items_ > 0) {
    if (delta > 0 && item >= 0 && static_cast<size_t>(item) < bulk_items_) {
      for (int32_t v : values) Dense(v)[item] += delta;
      Dense(-1)[item] += delta;
      return;
    }
    FoldBulk();  // a removal applies after the additions before it
  }
  for (int32_t v : values) values_[v]->Add(item, delta);
  total_.Add(item, delta);
}

void AttributePopularity::BeginBulk(size_t items, size_t max_bytes) {
  FoldBulk();
  bulk_items_ = items;
  bulk_max_bytes_ = max_bytes;
}

void AttributePopularity::EndBulk() {
  FoldBulk();
  bulk_items_ = 0;
}

double* AttributePopularity::Dense(int32_t v) {
  std::vector<double>* array = &bulk_total_;
  if (v >= 0) {
    if (static_cast<size_t>(v) >= bulk_.size()) bulk_.resize(v + 1);
    array = &bulk_[static_cast<size_t>(v)];
  }
  if (array->empty()) {
    const size_t bytes = bulk_items_ * sizeof(double);
    if (bulk_bytes_ > 0 && bulk_bytes_ + bytes > bulk_max_bytes_) {
      FoldBulk();  // frees every array, `array` included (still valid)
    }
    array->assign(bulk_items_, 0.0);
    bulk_bytes_ += bytes;
  }
  return array->data();
}

void AttributePopularity::FoldBulk() {
  const auto fold = [](std::vector<double>& dense, Counts& counts) {
    if (dense.empty()) return;
    size_t nonzero = 0;
    for (double d : dense) nonzero += d != 0 ? 1 : 0;
    counts.weights.reserve(counts.weights.size() + nonzero);
    for (size_t item = 0; item < dense.size(); ++item) {
      if (dense[item] != 0) counts.Add(static_cast<int32_t>(item), dense[item]);
    }
    std::vector<double>().swap(dense);
  };
  for (size_t v = 0; v < bulk_.size(); ++v) fold(bulk_[v], *values_[v]);
  fold(bulk_total_, total_);
  bulk_bytes_ = 0;
}

std::map<std::string, std::string> AttributePopularity::Attributes(
    std::span<const int32_t> values) const {
  std::map<std::string, std::string> out;
  for (int32_t v : values) {
    const Counts& c = *values_[v];
    out.emplace(c.name.substr(0, c.key_bytes), c.name.substr(c.key_bytes + 1));
  }
  return out;
}

void AttributePopularity::Clear() {
  bulk_.clear();
  bulk_total_.clear();
  bulk_bytes_ = 0;
  bulk_items_ = 0;
  index_.clear();
  values_.clear();
  total_.weights.clear();
  total_.sum = 0;
  ++total_.version;
}

std::shared_ptr<const std::vector<int32_t>>
AttributePopularity::Counts::TopItems(size_t n) const {
  absl::MutexLock lock(&mu);
  if (top != nullptr && top_version == version) return top;
  std::vector<std::pair<double, int32_t>> all;
  all.reserve(weights.size());
  for (const auto& [item, w] : weights) all.emplace_back(-w, item);
  const size_t keep = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<int64_t>(keep),
                    all.end());
  auto out = std::make_shared<std::vector<int32_t>>();
  out->reserve(keep);
  for (size_t k = 0; k < keep; ++k) out->push_back(all[k].second);
  top = out;
  top_version = version;
  return out;
}

std::vector<std::pair<int32_t, double>> AttributePopularity::Top(
    std::span<const int32_t> values, size_t limit, int64_t users) const {
  const auto fresh = [&](const CachedTop& c) {
    if (c.total_version != total_.version || c.users != users ||
        c.limit < limit) {
      return false;
    }
    for (size_t k = 0; k < values.size(); ++k) {
      if (c.value_versions[k] != values_[values[k]]->version) return false;
    }
    return true;
  };
  std::vector<int32_t> key(values.begin(), values.end());
  {
    absl::MutexLock lock(&cache_mu_);
    if (auto it = cache_.find(key); it != cache_.end() && fresh(it->second)) {
      const auto& items = it->second.items;
      return {items.begin(),
              items.begin() +
                  static_cast<std::ptrdiff_t>(std::min(limit, items.size()))};
    }
  }
  std::vector<std::pair<int32_t, double>> out = Score(values, limit, users);
  CachedTop entry{total_.version, {}, users, limit, out};
  for (int32_t v : values) entry.value_versions.push_back(values_[v]->version);
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() >= kMaxCachedTops) cache_.clear();
  cache_.insert_or_assign(std::move(key), std::move(entry));
  return out;
}

std::vector<std::pair<int32_t, double>> AttributePopularity::Score(
    std::span<const int32_t> values, size_t limit, int64_t users) const {
  std::vector<std::pair<int32_t, double>> out;
  if (empty() || limit == 0 || total_.sum <= 0) return out;
  const size_t per_value =
      static_cast<size_t>(std::max(1, options_.candidates_per_value));
  absl::flat_hash_set<int32_t> candidates;
  for (int32_t item : *total_.TopItems(per_value)) candidates.insert(item);
  for (int32_t v : values) {
    for (int32_t item : *values_[v]->TopItems(per_value)) {
      candidates.insert(item);
    }
  }
  const double m = std::max(0.0, options_.smoothing) * total_.sum /
                   static_cast<double>(std::max<int64_t>(1, users));
  out.reserve(candidates.size());
  for (int32_t item : candidates) {
    auto it = total_.weights.find(item);
    if (it == total_.weights.end()) continue;
    const double p = it->second / total_.sum;
    // Logs: a product of many small lifts stays representable.
    double log_score = std::log(p);
    for (int32_t v : values) {
      const Counts& c = *values_[v];
      if (c.sum + m <= 0) continue;
      auto w = c.weights.find(item);
      const double c_ai = w == c.weights.end() ? 0 : w->second;
      const double conditional = (c_ai + m * p) / (c.sum + m);
      log_score += std::log(conditional / p);
    }
    out.emplace_back(item, std::exp(log_score));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace aisle::core
