// Users' own attributes in the engine: Engine::UpsertUsers, keeping the
// attribute-conditional counts (core/attribute_popularity.h) in step with
// the users' pairs, and the Runner's attribute candidate source (FOR_YOU
// for a user with attributes and no history).
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/recommend_runner.h"

namespace aisle::core {

void Engine::State::CountUserAttributes(const UserRec& user,
                                        std::span<const int32_t> values,
                                        double sign) {
  if (values.empty()) return;
  for (const UserItem& ui : user.items) {
    attribute_popularity.Add(values, ui.item, sign * AttributeWeight(ui));
  }
}

void Engine::State::RecountAttributes() {
  // Counts are sums of the users' current pairs: rebuilt from scratch
  // (the values are interned again, so their names are read first).
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> kept;
  kept.reserve(attributed_users.size());
  for (const auto& [id, a] : attributed_users) {
    kept.emplace_back(id, attribute_popularity.Attributes(a.values));
  }
  attributed_users.clear();
  attribute_popularity.Clear();
  attribute_popularity.BeginBulk(items.size());
  for (auto& [id, attributes] : kept) {
    AttributedUser a;
    a.values = attribute_popularity.Intern(attributes);
    if (const UserRec* user = FindUser(id)) {
      CountUserAttributes(*user, a.values, +1);
    }
    attributed_users.emplace(id, std::move(a));
  }
  attribute_popularity.EndBulk();
}

void Engine::BeginUserLoad() {
  State& s = *state_;
  absl::MutexLock lock(&s.mu);
  s.attribute_popularity.BeginBulk(s.items.size());
}

void Engine::EndUserLoad() {
  State& s = *state_;
  absl::MutexLock lock(&s.mu);
  s.attribute_popularity.EndBulk();
}

void Engine::UpsertUsers(std::span<const UserAttributes> users) {
  State& s = *state_;
  absl::MutexLock lock(&s.mu);  // through `s`, for clang's -Wthread-safety
  for (const UserAttributes& u : users) {
    if (u.user_id.empty()) continue;
    const State::UserRec* rec = s.FindUser(u.user_id);
    auto it = s.attributed_users.find(u.user_id);
    if (it != s.attributed_users.end()) {
      if (rec != nullptr) s.CountUserAttributes(*rec, it->second.values, -1);
      s.attributed_users.erase(it);
    }
    if (u.attributes.empty()) continue;
    State::AttributedUser a;
    a.values = s.attribute_popularity.Intern(u.attributes);
    if (rec != nullptr) s.CountUserAttributes(*rec, a.values, +1);
    s.attributed_users.emplace(u.user_id, std::move(a));
  }
}

std::vector<Engine::State::Runner::Candidate>
Engine::State::Runner::AttributeCandidates(size_t limit) const {
  if (req_.user_id.empty()) return {};
  const AttributedUser* a = s_.FindAttributed(req_.user_id);
  if (a == nullptr) return {};
  std::vector<Candidate> out;
  for (const auto& [item, score] : s_.attribute_popularity.Top(
           a->values, limit,
           static_cast<int64_t>(s_.attributed_users.size()))) {
    out.push_back({item, score, Source::kAttributes,
                   ReasonCode::kPopularWithSimilarShoppers, -1, 0});
  }
  return out;
}

std::string Engine::State::Runner::AttributeDetail() const {
  const AttributedUser* a = s_.FindAttributed(req_.user_id);
  if (a == nullptr) return "Popular with shoppers like you";
  std::vector<std::string> parts;
  for (const auto& [key, value] :
       s_.attribute_popularity.Attributes(a->values)) {
    parts.push_back(absl::StrCat(key, "=", value));
  }
  return absl::StrCat("Popular with shoppers like you (",
                      absl::StrJoin(parts, ", "), ")");
}

}  // namespace aisle::core
