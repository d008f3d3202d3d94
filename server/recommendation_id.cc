#include "server/recommendation_id.h"

#include <random>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/string_view.h"

namespace aisle::server {

std::string NewRecommendationId(core::Scenario scenario,
                                std::string_view variant) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat("r1-", static_cast<int>(scenario), "-",
                      core::ToAbsl(variant), "-",
                      absl::Hex(rng(), absl::kZeroPad16));
}

std::optional<RecommendationIdParts> ParseRecommendationId(
    std::string_view id) {
  std::vector<absl::string_view> parts = absl::StrSplit(core::ToAbsl(id), '-');
  if (parts.size() != 4 || parts[0] != "r1") return std::nullopt;
  int scenario = 0;
  if (!absl::SimpleAtoi(parts[1], &scenario) || scenario < 1 ||
      scenario > static_cast<int>(core::Scenario::kTrending)) {
    return std::nullopt;
  }
  if (parts[2].empty() || parts[2].size() > 64) return std::nullopt;
  for (char c : parts[2]) {
    if (!absl::ascii_isalnum(c) && c != '_') return std::nullopt;
  }
  if (parts[3].size() != 16) return std::nullopt;
  for (char c : parts[3]) {
    if (!absl::ascii_isxdigit(c)) return std::nullopt;
  }
  return RecommendationIdParts{static_cast<core::Scenario>(scenario),
                               std::string(parts[2])};
}

}  // namespace aisle::server
