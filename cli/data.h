// Pieces of `aisle import` exposed for unit tests.
//
// Thread safety: pure functions.
#ifndef AISLE_CLI_DATA_H_
#define AISLE_CLI_DATA_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/als.h"
#include "core/eval.h"

namespace aisle::cli {

// File lines of the events `aisle import --target` has sent, in order, so
// that the server's "batch B: events[E]..." errors can name file lines.
// Stored compactly: one entry where the line numbers stop being consecutive
// (a rejected or blank row, a multi-line CSV field), so memory grows with
// irregularities, not with rows.
class SentLines {
 public:
  // Records the line of the next event sent.
  void Add(int64_t line);
  // The line of the n-th event sent (0-based); -1 if out of range.
  int64_t LineOf(int64_t n) const;
  // Rewrites "batch B: events[E].field: message" (B and E 0-based, every
  // batch but the last `batch_size` events) as "line L: field: message";
  // other messages are returned unchanged.
  std::string Locate(const std::string& error, int batch_size) const;

 private:
  struct Run {
    int64_t first_event;
    int64_t first_line;
  };
  std::vector<Run> runs_;
  int64_t count_ = 0;
  int64_t last_ = 0;
};

}  // namespace aisle::cli

#endif  // AISLE_CLI_DATA_H_
