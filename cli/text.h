// Small text helpers shared by the flag parser and the import readers:
// string concatenation that accepts std::string_view, trimming, lower-case,
// comma lists, and the boolean/number syntax both accept.
//
// Thread safety: pure functions.
#ifndef AISLE_CLI_TEXT_H_
#define AISLE_CLI_TEXT_H_

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/string_view.h"

namespace aisle::cli {

namespace text_internal {
template <typename T>
decltype(auto) CatArg(const T& value) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return core::ToAbsl(value);
  } else {
    return (value);
  }
}
}  // namespace text_internal

// absl::StrCat that also accepts std::string_view arguments (Debian's
// Abseil keeps its own string_view type; see core/string_view.h).
template <typename... T>
std::string Cat(const T&... parts) {
  return absl::StrCat(text_internal::CatArg(parts)...);
}

// ASCII lower case.
std::string Lower(std::string_view text);
// `text` without leading and trailing ASCII whitespace (a view into it).
std::string_view Strip(std::string_view text);

// Splits "a,b,,c" into {"a","b","c"} (empty pieces dropped, trimmed);
// another separator for other lists ("a|b" with '|').
std::vector<std::string> SplitList(std::string_view text, char separator = ',');

// "true/1/yes/y" and "false/0/no/n", any case, surrounding spaces allowed.
// InvalidArgument "'<text>' is not a boolean (true/false)" otherwise.
absl::StatusOr<bool> ParseBoolText(std::string_view text);

// A decimal number, surrounding spaces allowed (infinities and NaN are
// numbers here; callers that need finite values check). InvalidArgument
// "'<text>' is not a number" otherwise.
absl::StatusOr<double> ParseDoubleText(std::string_view text);

}  // namespace aisle::cli

#endif  // AISLE_CLI_TEXT_H_
