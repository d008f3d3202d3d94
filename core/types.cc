#include "core/types.h"

#include <array>
#include <cctype>
#include <string>

namespace aisle::core {
namespace {

constexpr std::array<std::string_view, kNumEventTypes> kEventTypeNames = {
    "unspecified", "view",   "click",   "add_to_cart", "remove_from_cart",
    "purchase",    "rating", "dislike", "impression",  "favorite",
    "search"};
constexpr std::array<std::string_view, 7> kScenarioNames = {
    "unspecified",     "for_you",
    "similar_items",   "frequently_bought_together",
    "recently_viewed", "trending",
    "popular"};
constexpr std::array<std::string_view, kNumSources> kSourceNames = {
    "unspecified", "factor_model",    "co_occurrence", "popularity",
    "trending",    "user_history",    "content",       "item_similarity",
    "session",     "people_like_you", "attributes"};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view EventTypeName(EventType type) {
  const auto i = static_cast<size_t>(type);
  return i < kEventTypeNames.size() ? kEventTypeNames[i] : "unknown";
}

std::optional<EventType> ParseEventType(std::string_view name) {
  const std::string lower = Lower(name);
  for (size_t i = 1; i < kEventTypeNames.size(); ++i) {
    if (!lower.empty() && lower == kEventTypeNames[i])
      return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::string_view ScenarioName(Scenario scenario) {
  const auto i = static_cast<size_t>(scenario);
  return i < kScenarioNames.size() ? kScenarioNames[i] : "unknown";
}

std::optional<Scenario> ParseScenario(std::string_view name) {
  const std::string lower = Lower(name);
  for (size_t i = 1; i < kScenarioNames.size(); ++i) {
    if (lower == kScenarioNames[i]) return static_cast<Scenario>(i);
  }
  return std::nullopt;
}

std::string_view SourceName(Source source) {
  const auto i = static_cast<size_t>(source);
  return i < kSourceNames.size() ? kSourceNames[i] : "unknown";
}

}  // namespace aisle::core
