// Pieces of `aisle train` exposed for unit tests: the holdout split used by
// --validate-fraction, its scoring, and the model version string.
//
// Thread safety: pure functions.
#ifndef AISLE_SERVER_CLI_DATA_H_
#define AISLE_SERVER_CLI_DATA_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/als.h"
#include "core/eval.h"

namespace aisle::cli {

// A per-user random holdout of a user x item matrix.
struct HoldoutSplit {
  core::SparseRows train;  // same shape as the input, held-out entries gone
  std::vector<std::vector<int32_t>> held_out;  // per user: item columns
};

// Holds out floor(fraction * n) of each user's n entries (chosen with
// `seed`); users with a single entry keep it. Every input entry ends up in
// exactly one of train and held_out.
HoldoutSplit SplitHoldout(const core::SparseRows& rows, double fraction,
                          uint64_t seed);

// Mean ranking metrics at k over (at most max_users, sampled with `seed`)
// users that have held-out items: each user's items ranked by
// user . item score, the user's train items excluded. Sets
// *users_evaluated.
core::RankingScores HoldoutScores(const HoldoutSplit& split,
                                  const core::AlsFactors& factors, int k,
                                  int max_users, uint64_t seed,
                                  int64_t* users_evaluated);

// "20261125T101500Z-3f2a": the UTC time to the second and 4 hex digits
// mixed from the time, the seed and the process id, so two trainings in the
// same second get different versions.
std::string ModelVersion(absl::Time now, uint64_t seed);

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

#endif  // AISLE_SERVER_CLI_DATA_H_
