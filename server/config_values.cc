// The value parsers of `aisle serve`'s options: numbers, booleans,
// durations, sizes (config_flags.h, config.h), and the files flags name.
// server/config.cc owns the flag table and applies them.
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/string_view.h"
#include "server/config.h"
#include "server/config_flags.h"

namespace aisle::server {
namespace config_internal {

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(what);
}

absl::StatusOr<int64_t> ParseInt(absl::string_view text, int64_t min,
                                 int64_t max) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return Bad(absl::StrCat("must be an integer, got \"", text, "\""));
  }
  if (value < min || value > max) {
    return Bad(absl::StrCat("must be ", min, "..", max, ", got ", value));
  }
  return value;
}

absl::StatusOr<double> ParseDouble(absl::string_view text, double min,
                                   double max) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
    return Bad(absl::StrCat("must be a number, got \"", text, "\""));
  }
  if (value < min || value > max) {
    return Bad(absl::StrCat("must be ", min, "..", max, ", got ", text));
  }
  return value;
}

absl::StatusOr<bool> ParseBool(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower.empty() || lower == "true" || lower == "1" || lower == "yes" ||
      lower == "on") {
    return true;
  }
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
    return false;
  }
  return Bad(absl::StrCat("must be true or false, got \"", text, "\""));
}

}  // namespace config_internal

using config_internal::Bad;

absl::StatusOr<std::string> ReadFlagFile(std::string_view flag,
                                         const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(core::ToAbsl(flag), ": cannot read \"", path, "\""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status ForEachFlagFileLine(
    std::string_view flag, const std::string& path,
    const std::function<absl::Status(absl::string_view text, int line_no)>&
        fn) {
  absl::StatusOr<std::string> contents = ReadFlagFile(flag, path);
  if (!contents.ok()) return contents.status();
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
    ++line_no;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    if (absl::Status status = fn(text, line_no); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseDurationMs(std::string_view input) {
  absl::string_view text = absl::StripAsciiWhitespace(core::ToAbsl(input));
  size_t split = 0;
  while (split < text.size() &&
         (absl::ascii_isdigit(text[split]) || text[split] == '.')) {
    ++split;
  }
  absl::string_view number = text.substr(0, split);
  absl::string_view unit = text.substr(split);
  double value = 0;
  if (number.empty() || !absl::SimpleAtod(number, &value)) {
    return Bad(absl::StrCat(
        "must be a non-negative duration like 250ms, 10s, 5m, 2h or 30d, "
        "got \"",
        text, "\""));
  }
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit == "d") {
    scale = 86'400'000;
  } else {
    return Bad(absl::StrCat("unknown duration unit \"", unit, "\" in \"", text,
                            "\" (use ms, s, m, h or d)"));
  }
  double ms = value * scale;
  if (ms > 1e15) return Bad(absl::StrCat("duration too large: \"", text, "\""));
  return static_cast<int64_t>(std::llround(ms));
}

absl::StatusOr<int64_t> ParseByteSize(std::string_view input) {
  absl::string_view text = absl::StripAsciiWhitespace(core::ToAbsl(input));
  size_t split = 0;
  while (split < text.size() && absl::ascii_isdigit(text[split])) ++split;
  absl::string_view number = text.substr(0, split);
  std::string unit = absl::AsciiStrToLower(text.substr(split));
  int64_t value = 0;
  if (number.empty() || !absl::SimpleAtoi(number, &value)) {
    return Bad(absl::StrCat(
        "must be a size like 4194304, 512KiB, 4MiB or 1GiB, got \"", text,
        "\""));
  }
  int shift = 0;
  if (unit.empty() || unit == "b") {
    shift = 0;
  } else if (unit == "k" || unit == "kib" || unit == "kb") {
    shift = 10;
  } else if (unit == "m" || unit == "mib" || unit == "mb") {
    shift = 20;
  } else if (unit == "g" || unit == "gib" || unit == "gb") {
    shift = 30;
  } else {
    return Bad(absl::StrCat("unknown size unit in \"", text,
                            "\" (use B, KiB, MiB or GiB)"));
  }
  if (value > (int64_t{1} << (62 - shift))) {
    return Bad(absl::StrCat("size too large: \"", text, "\""));
  }
  return value << shift;
}

}  // namespace aisle::server
