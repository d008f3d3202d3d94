// Experiments: the A/B experiments of `aisle serve --experiments FILE`
// (the file's schema is proto/aisle/config/v1/experiments.proto, JSON;
// docs/experiments.md). An experiment splits the users of its scenarios
// into variants (arms) by traffic share; each variant may change engine
// settings (diversity, exploration, FOR_YOU sources) for its users.
//
// Assignment: a user's arm is a pure function of (salt, experiment name,
// user id): the first 8 bytes of SHA-256 of them, as a fraction of 2^64,
// fall into the arm whose cumulative share covers it. So it is stable
// across requests, restarts and cluster nodes, and independent between
// experiments. Anonymous requests (no user id) and scenarios no
// experiment covers get kDefaultVariant and the request's own settings.
//
// Thread safety: immutable after Load/Parse; every method is const.
#ifndef AISLE_SERVER_EXPERIMENTS_H_
#define AISLE_SERVER_EXPERIMENTS_H_

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/types.h"

namespace aisle::server {

struct VariantConfig {
  std::string name;
  double share = 0;  // normalised: an experiment's shares sum to 1
  std::optional<double> diversity;
  std::optional<double> exploration;
  std::optional<bool> factor_model;
  std::optional<bool> co_occurrence;
  std::optional<bool> session;
  std::optional<bool> content;
};

struct ExperimentConfig {
  std::string name;
  std::vector<core::Scenario> scenarios;  // never empty once parsed
  std::vector<VariantConfig> variants;    // [0] is the control
};

class Experiments {
 public:
  // No experiments: every request is kDefaultVariant.
  Experiments() = default;
  // Parses and validates the JSON text of an experiments file. Errors:
  // InvalidArgument "<where>: <what is wrong>" naming the experiment,
  // variant and field (e.g. "experiments[0].variants[1].share: must be
  // > 0, got 0"), or the JSON parser's message.
  static absl::StatusOr<Experiments> Parse(std::string_view json,
                                           std::string_view where);
  // Reads and parses `path`; "" gives no experiments. NotFound naming
  // --experiments when the file cannot be read; errors of Parse.
  static absl::StatusOr<Experiments> Load(const std::string& path);

  struct Assignment {
    const ExperimentConfig* experiment = nullptr;  // null: none
    const VariantConfig* variant = nullptr;        // null: none
    // The variant name, or kDefaultVariant.
    std::string_view name() const;
  };
  // The arm of `user_id` in the experiment covering `scenario`, if any.
  Assignment Assign(core::Scenario scenario, std::string_view user_id) const;
  // Replaces the settings the variant sets in `request`.
  static void Apply(const VariantConfig& variant,
                    core::RecommendRequest* request);

  const std::vector<ExperimentConfig>& experiments() const {
    return experiments_;
  }
  // Null when no experiment has that name.
  const ExperimentConfig* Find(std::string_view name) const;
  // Whether recommendations of `scenario` can carry `variant`: it is
  // kDefaultVariant or an arm of the experiment covering the scenario.
  // Attribution counts only those, so label series stay bounded.
  bool Issues(core::Scenario scenario, std::string_view variant) const;

 private:
  std::string salt_;
  std::vector<ExperimentConfig> experiments_;
  // Scenario number (small) -> index into experiments_, -1 for none.
  std::array<int, 16> by_scenario_ = NoExperiments();
  static std::array<int, 16> NoExperiments() {
    std::array<int, 16> none;
    none.fill(-1);
    return none;
  }
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_EXPERIMENTS_H_
