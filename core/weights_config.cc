#include "core/weights_config.h"

#include <cmath>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/string_view.h"

namespace aisle::core {
namespace {

// One named number of a spec, with where it goes and its range.
struct Knob {
  std::string_view name;
  double min;
  double max;
  std::function<void(double)> set;
  double current;
};

// Parses `text` against `knobs`; applies nothing unless all of it is valid.
absl::Status ParseSpec(std::string_view text, std::string_view what,
                       std::vector<Knob>& knobs) {
  std::vector<std::pair<Knob*, double>> parsed;
  for (absl::string_view entry :
       absl::StrSplit(ToAbsl(text), ',', absl::SkipWhitespace())) {
    const absl::string_view trimmed = absl::StripAsciiWhitespace(entry);
    const auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(what), " \"", trimmed, "\": ", ToAbsl(why)));
    };
    const size_t eq = trimmed.find('=');
    if (eq == absl::string_view::npos) return bad("expected name=number");
    const absl::string_view name =
        absl::StripAsciiWhitespace(trimmed.substr(0, eq));
    const absl::string_view number =
        absl::StripAsciiWhitespace(trimmed.substr(eq + 1));
    Knob* knob = nullptr;
    std::vector<std::string> names;
    for (Knob& k : knobs) {
      names.emplace_back(k.name);
      if (ToAbsl(k.name) == name) knob = &k;
    }
    if (knob == nullptr) {
      return bad(absl::StrCat(
          "unknown name (known: ", absl::StrJoin(names, ", "), ")"));
    }
    double value = 0;
    if (!absl::SimpleAtod(number, &value) || !std::isfinite(value)) {
      return bad("not a number");
    }
    if (value < knob->min || value > knob->max) {
      return bad(absl::StrCat("must be ", knob->min, "..", knob->max));
    }
    parsed.emplace_back(knob, value);
  }
  for (auto& [knob, value] : parsed) knob->set(value);
  return absl::OkStatus();
}

std::string FormatSpec(const std::vector<Knob>& knobs) {
  std::vector<std::string> parts;
  for (const Knob& k : knobs) {
    parts.push_back(absl::StrCat(ToAbsl(k.name), "=", k.current));
  }
  return absl::StrJoin(parts, ",");
}

std::vector<Knob> EventKnobs(EventWeights* w) {
  constexpr double kMax = 1000;
  const auto f = [](float* field) {
    return [field](double v) { *field = static_cast<float>(v); };
  };
  return {
      {"view", 0, kMax, f(&w->view), w->view},
      {"click", 0, kMax, f(&w->click), w->click},
      {"add_to_cart", 0, kMax, f(&w->add_to_cart), w->add_to_cart},
      {"remove_from_cart", -kMax, 0, f(&w->remove_from_cart),
       w->remove_from_cart},
      {"purchase", 0, kMax, f(&w->purchase), w->purchase},
      {"rating", 0, kMax, f(&w->rating_scale), w->rating_scale},
      {"impression", 0, kMax, f(&w->impression), w->impression},
      {"favorite", 0, kMax, f(&w->favorite), w->favorite},
  };
}

std::vector<Knob> BlendKnobs(EngineOptions* o) {
  return {
      {"session", 0, 1, [o](double v) { o->session.blend_weight = v; },
       o->session.blend_weight},
      {"people_like_you", 0, 1,
       [o](double v) { o->people_like_you.blend_weight = v; },
       o->people_like_you.blend_weight},
  };
}

}  // namespace

absl::Status ParseEventWeights(std::string_view text, EventWeights* weights) {
  std::vector<Knob> knobs = EventKnobs(weights);
  return ParseSpec(text, "event weight", knobs);
}

std::string FormatEventWeights(const EventWeights& weights) {
  EventWeights copy = weights;
  return FormatSpec(EventKnobs(&copy));
}

absl::Status ParseBlendWeights(std::string_view text, EngineOptions* options) {
  std::vector<Knob> knobs = BlendKnobs(options);
  return ParseSpec(text, "blend weight", knobs);
}

std::string FormatBlendWeights(const EngineOptions& options) {
  EngineOptions copy = options;
  return FormatSpec(BlendKnobs(&copy));
}

}  // namespace aisle::core
