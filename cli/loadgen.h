// Pieces of `aisle loadgen` exposed for unit tests.
//
// Thread safety: pure functions.
#ifndef AISLE_CLI_LOADGEN_H_
#define AISLE_CLI_LOADGEN_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aisle::cli {

enum class LoadOp { kRecommend, kSimilar, kFeedback, kGetItem, kGetUser };
std::string_view LoadOpName(LoadOp op);

struct MixEntry {
  LoadOp op;
  double weight;  // normalised: the weights of a mix sum to 1
};

// Parses "recommend=0.8,feedback=0.2" (names: recommend, similar, feedback,
// get_item, get_user). Weights are normalised to sum to 1; zero weights are
// dropped. InvalidArgument for unknown names, negative or non-numeric
// weights, or no positive weight.
absl::StatusOr<std::vector<MixEntry>> ParseMix(std::string_view text);

// The q-quantile (0..1) of `values` by the nearest-rank rule (the element at
// index floor(q * n), clamped); 0 for an empty vector. Reorders `values`.
double Percentile(std::vector<uint32_t>* values, double q);

}  // namespace aisle::cli

#endif  // AISLE_CLI_LOADGEN_H_
