// Helpers shared by the engine's tests (engine_test.cc, engine_ann_test.cc):
// items, events and requests in a line each.
#ifndef AISLE_CORE_ENGINE_TEST_UTIL_H_
#define AISLE_CORE_ENGINE_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine.h"

namespace aisle::core {

inline constexpr int64_t kT0 = 1'700'000'000'000;  // ms
inline constexpr int64_t kDay = 86'400'000;

inline Item MakeItem(const std::string& id, const std::string& category,
                     double price = 10, bool available = true) {
  Item item;
  item.item_id = id;
  item.title = "Title " + id;
  item.categories = {category};
  item.price = price;
  item.available = available;
  return item;
}

inline Event Ev(const std::string& user, const std::string& item,
                EventType type, int64_t ts = kT0, double value = 0) {
  static std::atomic<int> next{0};
  Event e;
  e.event_id = absl::StrCat("e", next++);
  e.user_id = user;
  e.item_id = item;
  e.type = type;
  e.value = value;
  e.timestamp_ms = ts;
  return e;
}

inline std::vector<std::string> Ids(const Recommendation& r) {
  std::vector<std::string> ids;
  for (const auto& s : r.items) ids.push_back(s.item_id);
  return ids;
}

inline EngineOptions WithoutSession() {
  EngineOptions o;
  o.for_you.session = false;
  return o;
}

inline RecommendRequest Req(Scenario scenario, const std::string& user = "",
                            int count = 5) {
  RecommendRequest r;
  r.scenario = scenario;
  r.user_id = user;
  r.count = count;
  return r;
}

}  // namespace aisle::core

#endif  // AISLE_CORE_ENGINE_TEST_UTIL_H_
