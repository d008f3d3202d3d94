// Learned segments in the engine: a user's segment and taste profile
// (GetUser), the segments' live sizes (ListSegments) and members
// (SegmentMembers). The segments themselves are learned with the model
// (core/segments.h, core/training.cc) and only read here.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/als.h"
#include "core/engine_state.h"
#include "core/segments.h"

namespace aisle::core {
namespace {

constexpr size_t kProfileEntries = 5;

// The largest `limit` entries of `weights` as shares of `total`, ties by
// key.
template <typename Key>
std::vector<std::pair<Key, double>> TopShares(
    const absl::flat_hash_map<Key, double>& weights, double total,
    size_t limit) {
  std::vector<std::pair<Key, double>> out;
  if (total <= 0) return out;
  for (const auto& [key, w] : weights) out.emplace_back(key, w / total);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

absl::Status NoSegments(const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat(
      "no learned segments: ", why,
      "; train a model with segments (aisle train --segments K) and "
      "activate it"));
}

// OK when a model with segments is serving (`binding`: the engine's
// current binding, a private type, hence the template).
template <typename Binding>
absl::Status HasSegments(const Binding* binding) {
  if (binding == nullptr) return NoSegments("no model is serving");
  if (binding->model->segments().empty()) {
    return NoSegments(absl::StrCat("model ", binding->model->version(),
                                   " was trained without them"));
  }
  return absl::OkStatus();
}

}  // namespace

int32_t Engine::State::SegmentOf(int32_t u, const Binding& b) const {
  const Segments& segments = b.model->segments();
  if (segments.empty()) return -1;
  const UserRec& user = users[u];
  if (!user.vec.empty() && user.vec_serial == b.serial) {
    return segments.Assign(Eigen::Map<const Eigen::VectorXf>(
        user.vec.data(), static_cast<Eigen::Index>(user.vec.size())));
  }
  // Not re-solved since the swap yet: solve now, as FOR_YOU would.
  const FoldJob job = MakeFoldJob(u, b);
  if (job.rows.empty()) return -1;
  const FactorModel& m = *b.model;
  return segments.Assign(m.FoldIn(job.rows, job.weights));
}

void Engine::State::DescribeTaste(int32_t u, const Binding* b,
                                  UserProfile* p) const {
  const UserRec& user = users[u];
  p->activity_level = p->segment;
  absl::flat_hash_map<std::string, double> categories;
  absl::flat_hash_map<std::pair<std::string, std::string>, double> attributes;
  std::vector<std::pair<double, double>> prices;
  double total = 0;
  for (const UserItem& ui : user.items) {
    const double w = Weight(user, ui);
    if (w <= 0 || !items[ui.item].in_catalog) continue;
    const Item& item = items[ui.item].item;
    total += w;
    for (const std::string& path : item.categories) categories[path] += w;
    for (const auto& [key, value] : item.attributes) {
      attributes[{key, value}] += w;
    }
    if (item.price > 0) prices.emplace_back(item.price, w);
  }
  p->category_weights = TopShares(categories, total, kProfileEntries);
  for (auto& [kv, share] : TopShares(attributes, total, kProfileEntries)) {
    p->preferred_attributes.push_back(
        {std::move(kv.first), std::move(kv.second), share});
  }
  if (b == nullptr) return;
  const Segments& segments = b->model->segments();
  p->price_band = std::string(
      segments.price_bands.Name(WeightedMedianPrice(std::move(prices))));
  p->segment_id = SegmentOf(u, *b);
  if (p->segment_id >= 0) {
    p->segment_label = segments.info[p->segment_id].label;
  }
}

absl::StatusOr<Engine::SegmentList> Engine::ListSegments() const {
  const auto b = state_->CurrentBinding();
  if (absl::Status s = HasSegments(b.get()); !s.ok()) return s;
  const Segments& segments = b->model->segments();
  SegmentList list;
  list.model_version = b->model->version();
  for (const SegmentInfo& info : segments.info) {
    list.segments.push_back({info, 0});
  }
  absl::ReaderMutexLock lock(&state_->mu);
  for (const auto& [id, u] : state_->user_index) {
    const int32_t s = state_->SegmentOf(u, *b);
    if (s >= 0) ++list.segments[s].members;
  }
  return list;
}

absl::StatusOr<std::vector<std::string>> Engine::SegmentMembers(
    int32_t segment_id) const {
  const auto b = state_->CurrentBinding();
  if (absl::Status s = HasSegments(b.get()); !s.ok()) return s;
  const Segments& segments = b->model->segments();
  if (segment_id < 0 ||
      static_cast<size_t>(segment_id) >= segments.info.size()) {
    return absl::NotFoundError(
        absl::StrCat("segment ", segment_id, " not found: model ",
                     b->model->version(), " has segments 0..",
                     segments.info.size() - 1, " (aisle segments lists them)"));
  }
  std::vector<std::string> members;
  absl::ReaderMutexLock lock(&state_->mu);
  for (const auto& [id, u] : state_->user_index) {
    if (state_->SegmentOf(u, *b) == segment_id) members.emplace_back(id);
  }
  return members;
}

}  // namespace aisle::core
