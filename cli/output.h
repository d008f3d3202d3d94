// What the `aisle` commands print: exit codes, error lines with a hint
// saying what to do, aligned tables, number and time formats, and the
// progress line of long commands.
//
// Conventions every command follows:
//   - exit code 0 on success, 1 when the operation failed, 2 for usage
//     errors (unknown flag, bad value, missing argument);
//   - results go to stdout, progress and errors to stderr;
//   - an error line starts with "error: " and is followed by a "hint: " line
//     saying what to do when there is something useful to say.
//
// Thread safety: Table and ProgressLine are plain objects for one thread;
// the free functions are pure or write whole lines to std::cerr.
#ifndef AISLE_CLI_OUTPUT_H_
#define AISLE_CLI_OUTPUT_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"

namespace aisle::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Prints "error: <message>" (and "hint: <hint>" if non-empty) to stderr.
void PrintError(absl::string_view message, absl::string_view hint = "");

// Prints `message` as JSON (proto field names, indented) on stdout; returns
// kExitOk, or kExitFailure after printing why it cannot.
int PrintJson(const google::protobuf::Message& message);
// A proto enum value's name without `prefix`, lower case:
// ("SOURCE_FACTOR_MODEL", "SOURCE_") -> "factor_model".
std::string EnumLabel(std::string_view proto_name, std::string_view prefix);

// --- Failed calls to the server ----------------------------------------------

// "INVALID_ARGUMENT: events[0].user_id: must be 1..256 bytes".
std::string FormatGrpcStatus(const grpc::Status& status);
// What to do about a failed call to `target` (empty when there is nothing
// useful to say).
std::string HintForGrpcStatus(const grpc::Status& status,
                              std::string_view target);
// Prints the error and hint for a failed call; returns kExitFailure.
int ReportRpcError(const grpc::Status& status, std::string_view target);

// --- Tables and numbers ------------------------------------------------------

// A text table with one space-padded column per header. Columns whose
// every cell looks numeric are right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // Missing cells are empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  // Header, a dashed rule, then the rows; every line ends with '\n'.
  std::string Render() const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Fixed-point with `decimals` digits: FormatFixed(0.5, 4) == "0.5000".
std::string FormatFixed(double value, int decimals);
// 1234567 -> "1,234,567".
std::string FormatCount(int64_t value);
// Unix ms -> "2026-11-25 10:15:00 UTC"; 0 -> "-".
std::string FormatTimeMs(int64_t unix_ms);

// --- Progress ----------------------------------------------------------------

// A self-overwriting progress line on stderr when stderr is a terminal;
// otherwise (logs, tests) one plain line at most every `plain_interval`.
class ProgressLine {
 public:
  // `total` is the amount that means 100% (e.g. file bytes); 0 = unknown.
  ProgressLine(
      std::string label, int64_t total,
      std::chrono::milliseconds plain_interval = std::chrono::seconds(5));
  // Reports `done` of total and `rows` processed so far. Cheap when called
  // often: redraws at most every 200 ms.
  void Update(int64_t done, int64_t rows);
  // Clears the in-place line (terminal) so the summary starts clean.
  void Finish();

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace aisle::cli

#endif  // AISLE_CLI_OUTPUT_H_
