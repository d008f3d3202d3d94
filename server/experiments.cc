#include "server/experiments.h"

#include <openssl/sha.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "aisle/config/v1/experiments.pb.h"
#include "core/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "server/config.h"
#include "server/recommendation_id.h"

namespace aisle::server {
namespace {

constexpr int kMaxVariants = 16;

// Variant names travel inside recommendation ids (recommendation_id.h).
bool IsVariantName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

absl::Status Invalid(std::string_view where, std::string_view field,
                     std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(core::ToAbsl(where), ": ",
                                                 core::ToAbsl(field), ": ",
                                                 core::ToAbsl(what)));
}

absl::Status CheckUnit(std::string_view where, const std::string& field,
                       double v) {
  if (v >= 0 && v <= 1) return absl::OkStatus();
  return Invalid(where, field, absl::StrCat("must be 0..1, got ", v));
}

// A fraction in [0, 1) from SHA-256(salt \0 experiment \0 user).
double Bucket(std::string_view salt, std::string_view experiment,
              std::string_view user_id) {
  std::string input;
  input.reserve(salt.size() + experiment.size() + user_id.size() + 2);
  input.append(salt).push_back('\0');
  input.append(experiment).push_back('\0');
  input.append(user_id);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x = (x << 8) | digest[i];
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

}  // namespace

std::string_view Experiments::Assignment::name() const {
  return variant != nullptr ? std::string_view(variant->name) : kDefaultVariant;
}

absl::StatusOr<Experiments> Experiments::Parse(std::string_view json,
                                               std::string_view where) {
  config::v1::ExperimentsConfig proto;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (auto s = google::protobuf::util::JsonStringToMessage(std::string(json),
                                                           &proto, options);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        core::ToAbsl(where),
        ": not a valid experiments file: ", s.message().as_string()));
  }
  Experiments out;
  out.salt_ = proto.salt();
  absl::flat_hash_set<std::string> names, variant_names;
  for (int e = 0; e < proto.experiments_size(); ++e) {
    const config::v1::Experiment& xp = proto.experiments(e);
    const std::string at = absl::StrCat("experiments[", e, "]");
    if (!IsVariantName(xp.name())) {
      return Invalid(where, at + ".name",
                     absl::StrCat("must be 1..64 of [A-Za-z0-9_], got \"",
                                  xp.name(), "\""));
    }
    if (!names.insert(xp.name()).second) {
      return Invalid(where, at + ".name",
                     absl::StrCat("\"", xp.name(), "\" is used twice"));
    }
    ExperimentConfig config;
    config.name = xp.name();
    for (int s = 0; s < xp.scenarios_size(); ++s) {
      std::optional<core::Scenario> scenario =
          core::ParseScenario(xp.scenarios(s));
      if (!scenario.has_value()) {
        return Invalid(where, absl::StrCat(at, ".scenarios[", s, "]"),
                       absl::StrCat("unknown scenario \"", xp.scenarios(s),
                                    "\" (for_you, similar_items, ...)"));
      }
      config.scenarios.push_back(*scenario);
    }
    if (config.scenarios.empty()) {
      for (int s = 1; !core::ScenarioName(static_cast<core::Scenario>(s))
                           .starts_with("unknown");
           ++s) {
        config.scenarios.push_back(static_cast<core::Scenario>(s));
      }
    }
    for (core::Scenario scenario : config.scenarios) {
      int& owner = out.by_scenario_[static_cast<size_t>(scenario)];
      if (owner >= 0 && owner != e) {
        return Invalid(where, at + ".scenarios",
                       absl::StrCat("scenario ",
                                    core::ToAbsl(core::ScenarioName(scenario)),
                                    " is already in experiment \"",
                                    out.experiments_[owner].name, "\""));
      }
      owner = e;
    }
    if (xp.variants_size() < 2 || xp.variants_size() > kMaxVariants) {
      return Invalid(where, at + ".variants",
                     absl::StrCat("must have 2..", kMaxVariants,
                                  " variants, got ", xp.variants_size()));
    }
    double total = 0;
    for (int v = 0; v < xp.variants_size(); ++v) {
      const config::v1::Variant& var = xp.variants(v);
      const std::string vat = absl::StrCat(at, ".variants[", v, "]");
      if (!IsVariantName(var.name()) || var.name() == kDefaultVariant) {
        return Invalid(where, vat + ".name",
                       absl::StrCat("must be 1..64 of [A-Za-z0-9_] and not "
                                    "\"default\", got \"",
                                    var.name(), "\""));
      }
      if (!variant_names.insert(var.name()).second) {
        return Invalid(
            where, vat + ".name",
            absl::StrCat("\"", var.name(), "\" is used twice in the file"));
      }
      if (!(var.share() > 0) || var.share() > 1e9) {
        return Invalid(where, vat + ".share",
                       absl::StrCat("must be > 0, got ", var.share()));
      }
      VariantConfig vc;
      vc.name = var.name();
      vc.share = var.share();
      total += var.share();
      if (var.has_diversity()) {
        if (auto s = CheckUnit(where, vat + ".diversity", var.diversity());
            !s.ok()) {
          return s;
        }
        vc.diversity = var.diversity();
      }
      if (var.has_exploration()) {
        if (auto s = CheckUnit(where, vat + ".exploration", var.exploration());
            !s.ok()) {
          return s;
        }
        vc.exploration = var.exploration();
      }
      if (var.has_factor_model()) vc.factor_model = var.factor_model();
      if (var.has_co_occurrence()) vc.co_occurrence = var.co_occurrence();
      if (var.has_content()) vc.content = var.content();
      if (var.has_session()) vc.session = var.session();
      config.variants.push_back(std::move(vc));
    }
    for (VariantConfig& vc : config.variants) vc.share /= total;
    out.experiments_.push_back(std::move(config));
  }
  return out;
}

absl::StatusOr<Experiments> Experiments::Load(const std::string& path) {
  if (path.empty()) return Experiments();
  absl::StatusOr<std::string> text = ReadFlagFile("--experiments", path);
  if (!text.ok()) return text.status();
  return Parse(*text, absl::StrCat("--experiments ", path));
}

Experiments::Assignment Experiments::Assign(core::Scenario scenario,
                                            std::string_view user_id) const {
  Assignment a;
  const auto s = static_cast<size_t>(scenario);
  if (user_id.empty() || s >= by_scenario_.size() || by_scenario_[s] < 0) {
    return a;
  }
  a.experiment = &experiments_[by_scenario_[s]];
  const double u = Bucket(salt_, a.experiment->name, user_id);
  double cumulative = 0;
  for (const VariantConfig& v : a.experiment->variants) {
    cumulative += v.share;
    a.variant = &v;
    if (u < cumulative) break;  // the last arm takes rounding leftovers
  }
  return a;
}

void Experiments::Apply(const VariantConfig& variant,
                        core::RecommendRequest* request) {
  if (variant.diversity) request->diversity = *variant.diversity;
  if (variant.exploration) request->exploration = *variant.exploration;
  if (variant.factor_model)
    request->sources.factor_model = *variant.factor_model;
  if (variant.co_occurrence) {
    request->sources.co_occurrence = *variant.co_occurrence;
  }
  if (variant.content) request->sources.content = *variant.content;
  if (variant.session) request->sources.session = *variant.session;
}

const ExperimentConfig* Experiments::Find(std::string_view name) const {
  for (const ExperimentConfig& e : experiments_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

bool Experiments::Issues(core::Scenario scenario,
                         std::string_view variant) const {
  if (variant == kDefaultVariant) return true;
  const auto s = static_cast<size_t>(scenario);
  if (s >= by_scenario_.size() || by_scenario_[s] < 0) return false;
  for (const VariantConfig& v : experiments_[by_scenario_[s]].variants) {
    if (v.name == variant) return true;
  }
  return false;
}

}  // namespace aisle::server
