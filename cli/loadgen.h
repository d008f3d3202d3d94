// `aisle loadgen`: its configuration, the pieces both of its modes share,
// and the two modes.
//
// Closed loop (the default, loadgen_closed_loop.cc): --concurrency worker
// threads, each with one synchronous call in flight; with --rps the workers
// keep to a schedule but can only slip behind it. Open loop (--rate,
// loadgen_open_loop.cc): calls start on a fixed schedule from one thread
// with the async API whatever the answers, each with its own deadline, up
// to --max-in-flight outstanding: what a spike of independent users does.
// With --call, the ghz-compatible mode (cli/ghz_run.h) runs instead.
//
// Thread safety: pure functions; Run* are whole commands.
#ifndef AISLE_CLI_LOADGEN_H_
#define AISLE_CLI_LOADGEN_H_

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aisle/v1/recommender.pb.h"
#include "cli/flags.h"
#include "cli/rpc.h"

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
// "recommend=0.8,feedback=0.2": the normalised mix, for reports.
std::string MixText(const std::vector<MixEntry>& mix);
// The operation a uniform `roll` in [0, 1) picks from `mix`.
// REQUIRES: mix is non-empty.
LoadOp PickOp(const std::vector<MixEntry>& mix, double roll);

// The q-quantile (0..1) of `values` by the nearest-rank rule (the element at
// index floor(q * n), clamped); 0 for an empty vector. Reorders `values`.
double Percentile(std::vector<uint32_t>* values, double q);

struct LoadgenConfig {
  ClientFlags client;  // client.timeout is the deadline of every call
  int concurrency = 8;
  double rps = 0;   // closed loop: schedule the workers keep to; 0 = none
  double rate = 0;  // > 0: open loop at this many calls per second
  int64_t max_in_flight = 10000;  // open loop: outstanding calls at most
  std::chrono::milliseconds duration{30000};
  int64_t requests = 0;  // 0 = no limit
  std::vector<MixEntry> mix;
  int users = 5000;
  int items = 20000;
  int count = 10;
  int64_t seed = 1;
  std::string json_path;  // "" = no JSON report
};

// The flags of `aisle loadgen`, registered on `parser` with `*config` as
// the defaults and the targets; `*mix_text` and `*deadline` are read by
// FinishLoadgenConfig. All pointers must outlive the parser.
void RegisterLoadgenFlags(FlagParser& parser, LoadgenConfig* config,
                          std::string* mix_text,
                          std::chrono::milliseconds* deadline);
// After a successful parse: fills config->mix from `mix_text`, makes a
// non-zero `deadline` the calls' deadline, and checks the ranges.
// InvalidArgument naming the flag otherwise (--rps with --rate included).
absl::Status FinishLoadgenConfig(const std::string& mix_text,
                                 std::chrono::milliseconds deadline,
                                 LoadgenConfig* config);

// Random requests of the mix's kinds: users u0..u<users-1>, items
// i0..i<items-1> drawn uniformly.
std::string RandomUser(const LoadgenConfig& config, std::mt19937_64& rng);
std::string RandomItem(const LoadgenConfig& config, std::mt19937_64& rng);
// FOR_YOU for a random user (kRecommend) or SIMILAR_ITEMS to a random item.
v1::RecommendRequest MakeRecommendRequest(const LoadgenConfig& config,
                                          LoadOp op, std::mt19937_64& rng);
// One event (70% views, 20% clicks, 5% carts, 5% purchases) with `event_id`.
v1::FeedbackRequest MakeFeedbackRequest(const LoadgenConfig& config,
                                        std::string event_id,
                                        std::mt19937_64& rng);

// The two modes; each prints per-second lines on stderr and a summary on
// stdout, writes config.json_path if set, and returns the exit code
// (kExitFailure when no call succeeded).
int RunClosedLoop(const LoadgenConfig& config);
int RunOpenLoop(const LoadgenConfig& config);

}  // namespace aisle::cli

#endif  // AISLE_CLI_LOADGEN_H_
