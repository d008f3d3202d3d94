// Bridges between std::string_view and absl::string_view. Debian's Abseil
// (20220623) is built with its own string_view type, so calls into
// absl::StrSplit and friends with a std::string_view, and back, need an
// explicit conversion. These are the only copies of it.
//
// Neither copies the characters: the result views the same buffer.
#ifndef AISLE_CORE_STRING_VIEW_H_
#define AISLE_CORE_STRING_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace aisle::core {

inline absl::string_view ToAbsl(std::string_view s) {
  return {s.data(), s.size()};
}
inline std::string_view ToStd(absl::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace aisle::core

#endif  // AISLE_CORE_STRING_VIEW_H_
