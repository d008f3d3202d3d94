// Small text helpers shared by the flag parser and the import readers.
#include "cli/text.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace aisle::cli {

std::string Lower(std::string_view text) {
  return absl::AsciiStrToLower(core::ToAbsl(text));
}

std::string_view Strip(std::string_view text) {
  return core::ToStd(absl::StripAsciiWhitespace(core::ToAbsl(text)));
}

std::vector<std::string> SplitList(std::string_view text, char separator) {
  std::vector<std::string> out;
  for (absl::string_view piece :
       absl::StrSplit(core::ToAbsl(text), separator)) {
    piece = absl::StripAsciiWhitespace(piece);
    if (!piece.empty()) out.emplace_back(piece);
  }
  return out;
}

absl::StatusOr<bool> ParseBoolText(std::string_view text) {
  const std::string v = Lower(Strip(text));
  if (v == "true" || v == "1" || v == "yes" || v == "y") return true;
  if (v == "false" || v == "0" || v == "no" || v == "n") return false;
  return absl::InvalidArgumentError(
      Cat("'", text, "' is not a boolean (true/false)"));
}

absl::StatusOr<double> ParseDoubleText(std::string_view text) {
  double v = 0;
  if (!absl::SimpleAtod(core::ToAbsl(Strip(text)), &v)) {
    return absl::InvalidArgumentError(Cat("'", text, "' is not a number"));
  }
  return v;
}

}  // namespace aisle::cli
