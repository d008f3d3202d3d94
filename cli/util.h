// Building blocks of the `aisle` command-line tool: per-command flag
// parsing, exit codes, aligned tables, a progress line, gRPC error
// reporting, and the readers of delimited (TSV/CSV) import files.
//
// Conventions every command follows:
//   - exit code 0 on success, 1 when the operation failed, 2 for usage
//     errors (unknown flag, bad value, missing argument);
//   - results go to stdout, progress and errors to stderr;
//   - an error line starts with "error: " and is followed by a "hint: " line
//     saying what to do when there is something useful to say.
//
// Thread safety: FlagParser, Table, ProgressLine and DelimitedReader are
// plain objects for one thread; the free functions are pure.
#ifndef AISLE_CLI_UTIL_H_
#define AISLE_CLI_UTIL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/types.h"
#include "grpcpp/grpcpp.h"

namespace aisle::cli {

// Debian's abseil keeps absl::string_view distinct from std::string_view;
// these bridge the two without copying.
inline absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view Sv(absl::string_view s) { return {s.data(), s.size()}; }
template <typename T>
decltype(auto) CatArg(const T& value) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return Av(value);
  } else {
    return (value);
  }
}
// absl::StrCat that also accepts std::string_view arguments.
template <typename... T>
std::string Cat(const T&... parts) {
  return absl::StrCat(CatArg(parts)...);
}

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// --- Flags -------------------------------------------------------------------

// Flags of one subcommand. Accepted forms: "--name value", "--name=value";
// boolean flags take no value ("--explain"), or "=true"/"=false", and
// "--no-name" clears them. "--" ends flag parsing; everything else is a
// positional argument. "-h"/"--help" request the help text.
//
// Each registration reads the target's current value as the default shown
// in Help(), and Parse() writes parsed values through the pointers, which
// must outlive the parser.
class FlagParser {
 public:
  // `usage` is the synopsis line, e.g. "aisle user get USER_ID [flags]";
  // `description` is the paragraph printed below it.
  FlagParser(std::string usage, std::string description);

  void String(std::string name, std::string* target, std::string help);
  void Int(std::string name, int* target, std::string help);
  void Int64(std::string name, int64_t* target, std::string help);
  void Double(std::string name, double* target, std::string help);
  void Bool(std::string name, bool* target, std::string help);
  // "1.5s", "250ms", "2m", "1h", a bare number = seconds (the syntax of
  // server::ParseDurationMs).
  void Duration(std::string name, std::chrono::milliseconds* target,
                std::string help);
  // Sets *target and marks it present (for flags whose absence matters,
  // like --max-price).
  void OptionalDouble(std::string name, std::optional<double>* target,
                      std::string help);
  // Extra text appended to Help() (examples, notes).
  void AddNotes(std::string notes);

  // Parses `args` (the arguments after the subcommand). Returns the
  // positional arguments. InvalidArgument naming the flag for unknown
  // flags, missing values and malformed values. After a successful parse
  // check help_requested() first.
  absl::StatusOr<std::vector<std::string>> Parse(
      const std::vector<std::string>& args);
  bool help_requested() const { return help_requested_; }
  // Whether the flag appeared on the command line.
  bool IsSet(std::string_view name) const;
  std::string Help() const;
  const std::string& usage() const { return usage_; }

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    bool set = false;
    std::function<absl::Status(std::string_view)> apply;
  };
  Flag& Add(std::string name, std::string help, std::string default_text,
            std::function<absl::Status(std::string_view)> apply);
  Flag* Find(std::string_view name);

  std::string usage_;
  std::string description_;
  std::string notes_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// Runs `parser` over `args`. Returns nullopt when the command should go on;
// otherwise the exit code, having printed help (0) or the usage error (2)
// with a pointer to --help.
std::optional<int> ParseOrExit(FlagParser& parser,
                               const std::vector<std::string>& args,
                               std::vector<std::string>* positional);

// Prints "error: <message>" (and "hint: <hint>" if non-empty) to stderr.
void PrintError(absl::string_view message, absl::string_view hint = "");
// Usage error: prints the message and "run '<usage command> --help'",
// returns kExitUsage.
int UsageError(const FlagParser& parser, absl::string_view message);

// Splits "a,b,,c" into {"a","b","c"} (empty pieces dropped, trimmed).
std::vector<std::string> SplitList(std::string_view text);

// True for storage::Store::Open's "data dir in use by another process"
// (a running server holds its lock).
bool IsDataDirInUse(const absl::Status& status);

// --- gRPC ------------------------------------------------------------------

// --target and --timeout, shared by every command that calls the server.
struct ClientFlags {
  std::string target = "localhost:50051";
  std::chrono::milliseconds timeout{5000};
  // Registers --target and --timeout on `parser`.
  void Register(FlagParser& parser);
};

// "INVALID_ARGUMENT: events[0].user_id: must be 1..256 bytes".
std::string FormatGrpcStatus(const grpc::Status& status);
// What to do about a failed call to `target` (may be empty).
std::string HintForGrpcStatus(const grpc::Status& status,
                              std::string_view target);
// Prints the error and hint for a failed RPC; returns kExitFailure.
int ReportRpcError(const grpc::Status& status, std::string_view target);
// An insecure channel to `target` with generous message limits.
std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& target);
// Sets the deadline of `context` to now + timeout.
void SetDeadline(grpc::ClientContext* context,
                 std::chrono::milliseconds timeout);

// --- Output ------------------------------------------------------------------

// A text table with one space-padded column per header. Columns whose
// every cell looks numeric are right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
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

// --- Delimited files ---------------------------------------------------------

enum class FileFormat { kTsv, kCsv, kWhitespace, kPipe };

// "tsv", "csv"; "" picks by extension (.csv -> CSV, anything else TSV).
absl::StatusOr<FileFormat> ResolveFormat(std::string_view flag,
                                         std::string_view path);

// One record with the 1-based line number where it starts.
struct Record {
  int64_t line = 0;
  std::vector<std::string> fields;
};

// Reads records from a stream:
//   kTsv: fields split on tabs, no quoting;
//   kCsv: RFC 4180: comma-separated, fields optionally in double quotes, a
//         doubled quote inside quotes is a quote, quoted fields may span
//         lines;
//   kWhitespace: split on runs of spaces/tabs (MovieLens u.data);
//   kPipe: split on '|', no quoting (MovieLens u.item).
// A trailing '\r' (Windows line ends) is dropped. Blank lines are skipped.
class DelimitedReader {
 public:
  DelimitedReader(std::istream* in, FileFormat format);
  // Returns true and fills `record` for the next record; false at end of
  // input. A malformed record (an unterminated quote) is returned with
  // `error` set, so the caller can report it and go on.
  bool Next(Record* record, std::string* error);
  // Bytes consumed so far (for progress by size).
  int64_t bytes_read() const { return bytes_read_; }

 private:
  bool ReadLine(std::string* line);
  std::istream* in_;
  FileFormat format_;
  int64_t line_ = 0;
  int64_t bytes_read_ = 0;
};

// --- Import rows -------------------------------------------------------------

// Where each event field is in a row; -1 = absent.
struct EventColumns {
  int user_id = -1;
  int item_id = -1;
  int type = -1;
  int value = -1;
  int timestamp_ms = -1;  // column "timestamp_ms": unix milliseconds
  int timestamp_s = -1;   // column "timestamp": unix seconds
  int event_id = -1;
  int recommendation_id = -1;
  std::vector<std::string> ignored;  // header names not understood
};

// Maps a header row (names case-insensitive): user_id|user, item_id|item,
// type|event_type, value|rating|quantity, timestamp_ms, timestamp (seconds),
// event_id, recommendation_id. Other names are listed in `ignored`.
// InvalidArgument if user_id or item_id is missing, if a name repeats, or
// if there is no type column and `default_type` is unset, naming the
// expected header.
absl::StatusOr<EventColumns> MapEventHeader(
    const std::vector<std::string>& header,
    std::optional<core::EventType> default_type);

// The columns of MovieLens "user item rating unix_seconds" without header.
EventColumns MovieLensColumns();

// Converts one row. Empty value means 0 (the API's default); empty or absent
// timestamp means 0 ("now" for the server). An absent or empty event_id is
// derived deterministically (server::DerivedEventId) from the row, so
// importing the same file again yields duplicates instead of new events.
// InvalidArgument "<column>: <problem>" for a wrong number of fields,
// unknown type, or non-numeric value/timestamp. Range checks are left to
// server::ValidateEvent.
absl::StatusOr<core::Event> ParseEventRow(
    const Record& record, const EventColumns& columns,
    std::optional<core::EventType> default_type, size_t header_fields);

// Where each item field is; -1 = absent.
struct ItemColumns {
  int item_id = -1;
  int title = -1;
  int categories = -1;  // '|'-separated
  int tags = -1;        // '|'-separated
  int price = -1;
  int available = -1;  // true/false/1/0/yes/no; empty = true
  std::vector<std::string> ignored;
};
// Header names: item_id|item|id, title|name, categories|category, tags,
// price, available. InvalidArgument if item_id is missing or a name repeats.
absl::StatusOr<ItemColumns> MapItemHeader(
    const std::vector<std::string>& header);
absl::StatusOr<core::Item> ParseItemRow(const Record& record,
                                        const ItemColumns& columns,
                                        size_t header_fields);

// One row of MovieLens u.item ("id|title|release date|video release
// date|IMDb URL|19 genre flags"), headerless, Latin-1: the title is
// converted to UTF-8, the genres with flag 1 become categories ("Drama"),
// "genre:unknown" excluded. InvalidArgument for a wrong field count or a
// flag that is not 0/1.
absl::StatusOr<core::Item> ParseMovieLensItemRow(const Record& record);

// Latin-1 (ISO 8859-1) bytes to UTF-8.
std::string Latin1ToUtf8(std::string_view latin1);

}  // namespace aisle::cli

#endif  // AISLE_CLI_UTIL_H_
