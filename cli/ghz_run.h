// The ghz-mode run of `aisle loadgen --call`: --concurrency workers spread
// over --connections channels, each keeping one call in flight through
// gRPC's asynchronous (callback) API, so that the client's own cost per
// call is a few microseconds and one core drives tens of thousands of
// calls per second. A worker starts its next call from the completion
// callback of the last one; with --rps a pacing thread hands out the calls
// on ghz's schedule (call k not before k/rps seconds) to idle workers.
// The run stops after --total calls or at --duration (calls in flight then
// finish within their --timeout), and the report is ghz's
// (cli/ghz_report.h).
//
// Thread safety: RunGhz is a whole command.
#ifndef AISLE_CLI_GHZ_RUN_H_
#define AISLE_CLI_GHZ_RUN_H_

#include <vector>

#include "cli/ghz_options.h"
#include "cli/ghz_report.h"
#include "cli/ghz_template.h"

namespace aisle::cli {

// Runs the load and returns ghz's report, or an error when no channel can
// be made (TLS files) or a data template fails at run time.
absl::StatusOr<GhzReport> RunGhzLoad(const GhzSettings& settings,
                                     const GhzMethod& method,
                                     const std::vector<CallTemplate>& data);

// RunGhzLoad, then the report in settings.format on stdout or in
// settings.output. Exit code: kExitOk when the run completed (failed calls
// are in the report, as with ghz), kExitFailure when it could not run or
// every call failed to reach the server.
int RunGhz(const GhzSettings& settings, const GhzMethod& method,
           const std::vector<CallTemplate>& data);

}  // namespace aisle::cli

#endif  // AISLE_CLI_GHZ_RUN_H_
