// What the `aisle` commands print: errors and hints, tables, formats,
// progress.
#include "cli/output.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/text.h"
#include "google/protobuf/util/json_util.h"
#include "server/grpc_status.h"

namespace aisle::cli {

void PrintError(absl::string_view message, absl::string_view hint) {
  std::cerr << "error: " << message << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
}

int PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    PrintError(Cat("cannot print JSON: ", status.ToString()));
    return kExitFailure;
  }
  std::cout << json;
  if (!json.ends_with("\n")) std::cout << "\n";
  return kExitOk;
}

std::string EnumLabel(std::string_view proto_name, std::string_view prefix) {
  if (proto_name.starts_with(prefix)) proto_name.remove_prefix(prefix.size());
  return Lower(proto_name);
}

// --- Failed calls to the server ----------------------------------------------

std::string FormatGrpcStatus(const grpc::Status& status) {
  return Cat(server::GrpcCodeName(status.error_code()), ": ",
             status.error_message());
}

std::string HintForGrpcStatus(const grpc::Status& status,
                              std::string_view target) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return Cat("is `aisle serve` running and reachable at ", target,
                 "? Start it or pass --target host:port; if it is "
                 "starting up, retry in a moment");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "the server did not answer within --timeout; raise --timeout "
             "or check the server's load";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "fix the field named in the message (see --help for accepted "
             "values)";
    case grpc::StatusCode::NOT_FOUND:
      return "check the id: nothing is stored under it (it may have been "
             "deleted)";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // Size limits are INVALID_ARGUMENT (server/validation.h): this is an
      // overloaded server or a full disk, which the message names.
      return "the server is overloaded or out of disk space (see the "
             "message); retry with backoff once it has recovered";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "the server cannot apply this now; see the message";
    case grpc::StatusCode::UNIMPLEMENTED:
      return Cat("the server at ", target,
                 " does not implement this call; is it an aisle server "
                 "of the same version?");
    default:
      return "";
  }
}

int ReportRpcError(const grpc::Status& status, std::string_view target) {
  PrintError(FormatGrpcStatus(status), HintForGrpcStatus(status, target));
  return kExitFailure;
}

// --- Tables and numbers ------------------------------------------------------

namespace {

// "-" (no value) and "1,234" count as numeric, so such columns still align.
bool LooksNumeric(std::string_view cell) {
  if (cell.empty() || cell == "-") return true;
  double ignored = 0;
  std::string plain(cell);
  plain.erase(std::remove(plain.begin(), plain.end(), ','), plain.end());
  return absl::SimpleAtod(plain, &ignored);
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  const size_t n = headers_.size();
  std::vector<size_t> width(n);
  std::vector<bool> numeric(n, true);
  for (size_t c = 0; c < n; ++c) {
    width[c] = headers_[c].size();
    bool any = false;
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], row[c].size());
      if (!row[c].empty()) any = true;
      if (!LooksNumeric(row[c])) numeric[c] = false;
    }
    if (!any) numeric[c] = false;
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < n; ++c) {
      const bool last = c + 1 == n;
      if (numeric[c]) {
        out += std::string(width[c] - cells[c].size(), ' ') + cells[c];
      } else {
        out += cells[c];
        if (!last) out += std::string(width[c] - cells[c].size(), ' ');
      }
      if (!last) out += "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  std::vector<std::string> rule(n);
  for (size_t c = 0; c < n; ++c) rule[c] = std::string(width[c], '-');
  out += line(rule);
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string FormatFixed(double value, int decimals) {
  return absl::StrFormat("%.*f", decimals, value);
}

std::string FormatCount(int64_t value) {
  std::string digits = Cat(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::string FormatTimeMs(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

// --- Progress ----------------------------------------------------------------

ProgressLine::ProgressLine(std::string label, int64_t total,
                           std::chrono::milliseconds plain_interval)
    : label_(std::move(label)),
      total_(total),
      tty_(isatty(STDERR_FILENO) == 1),
      interval_(plain_interval),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressLine::Update(int64_t done, int64_t rows) {
  const auto now = std::chrono::steady_clock::now();
  const auto min_gap = tty_ ? std::chrono::milliseconds(200) : interval_;
  if (now - last_draw_ < min_gap) return;
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? rows / seconds : 0;
  std::string text;
  if (total_ > 0) {
    const double fraction =
        std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
    const int filled = static_cast<int>(fraction * 30);
    text = absl::StrFormat(
        "%s [%s%s] %5.1f%%  %s rows  %s rows/s  %.0fs", label_,
        std::string(filled, '='), std::string(30 - filled, ' '), fraction * 100,
        FormatCount(rows), FormatCount(static_cast<int64_t>(rate)), seconds);
  } else {
    text = absl::StrFormat("%s %s rows  %s rows/s  %.0fs", label_,
                           FormatCount(rows),
                           FormatCount(static_cast<int64_t>(rate)), seconds);
  }
  if (tty_) {
    std::cerr << "\r\033[K" << text << std::flush;
    drawn_ = true;
  } else {
    std::cerr << text << "\n";
  }
}

void ProgressLine::Finish() {
  if (tty_ && drawn_) std::cerr << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace aisle::cli
