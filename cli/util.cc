#include "cli/util.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/config.h"
#include "server/convert.h"

namespace aisle::cli {
namespace {

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(Av(s)); }
std::string_view Strip(std::string_view s) {
  return Sv(absl::StripAsciiWhitespace(Av(s)));
}
template <typename Int>
bool ToInt(std::string_view s, Int* out) {
  return absl::SimpleAtoi(Av(s), out);
}
bool ToDouble(std::string_view s, double* out) {
  return absl::SimpleAtod(Av(s), out);
}

absl::StatusOr<bool> ParseBoolText(std::string_view text) {
  const std::string v = Lower(Strip(text));
  if (v == "true" || v == "1" || v == "yes" || v == "y") return true;
  if (v == "false" || v == "0" || v == "no" || v == "n") return false;
  return absl::InvalidArgumentError(
      Cat("'", text, "' is not a boolean (true/false)"));
}

absl::StatusOr<double> ParseDoubleText(std::string_view text) {
  double v = 0;
  if (!ToDouble(Strip(text), &v)) {
    return absl::InvalidArgumentError(Cat("'", text, "' is not a number"));
  }
  return v;
}

bool LooksNumeric(std::string_view cell) {
  if (cell.empty() || cell == "-") return true;
  double ignored = 0;
  std::string plain(cell);
  plain.erase(std::remove(plain.begin(), plain.end(), ','), plain.end());
  return ToDouble(plain, &ignored);
}

}  // namespace

// --- FlagParser --------------------------------------------------------------

FlagParser::FlagParser(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

FlagParser::Flag& FlagParser::Add(
    std::string name, std::string help, std::string default_text,
    std::function<absl::Status(std::string_view)> apply) {
  Flag flag;
  flag.name = std::move(name);
  flag.help = std::move(help);
  flag.default_text = std::move(default_text);
  flag.apply = std::move(apply);
  flags_.push_back(std::move(flag));
  return flags_.back();
}

void FlagParser::String(std::string name, std::string* target,
                        std::string help) {
  Add(std::move(name), std::move(help), *target, [target](std::string_view v) {
    *target = std::string(v);
    return absl::OkStatus();
  });
}

void FlagParser::Int(std::string name, int* target, std::string help) {
  Add(std::move(name), std::move(help), Cat(*target),
      [target](std::string_view v) {
        if (!ToInt(Strip(v), target)) {
          return absl::InvalidArgumentError(Cat("'", v, "' is not an integer"));
        }
        return absl::OkStatus();
      });
}

void FlagParser::Int64(std::string name, int64_t* target, std::string help) {
  Add(std::move(name), std::move(help), Cat(*target),
      [target](std::string_view v) {
        if (!ToInt(Strip(v), target)) {
          return absl::InvalidArgumentError(Cat("'", v, "' is not an integer"));
        }
        return absl::OkStatus();
      });
}

void FlagParser::Double(std::string name, double* target, std::string help) {
  Add(std::move(name), std::move(help), absl::StrFormat("%g", *target),
      [target](std::string_view v) -> absl::Status {
        absl::StatusOr<double> d = ParseDoubleText(v);
        if (!d.ok()) return d.status();
        if (!std::isfinite(*d)) {
          return absl::InvalidArgumentError("must be finite");
        }
        *target = *d;
        return absl::OkStatus();
      });
}

void FlagParser::OptionalDouble(std::string name, std::optional<double>* target,
                                std::string help) {
  Add(std::move(name), std::move(help),
      target->has_value() ? absl::StrFormat("%g", **target)
                          : std::string("unset"),
      [target](std::string_view v) -> absl::Status {
        absl::StatusOr<double> d = ParseDoubleText(v);
        if (!d.ok()) return d.status();
        if (!std::isfinite(*d)) {
          return absl::InvalidArgumentError("must be finite");
        }
        *target = *d;
        return absl::OkStatus();
      });
}

void FlagParser::Bool(std::string name, bool* target, std::string help) {
  Flag& flag = Add(std::move(name), std::move(help), *target ? "true" : "false",
                   [target](std::string_view v) -> absl::Status {
                     absl::StatusOr<bool> b = ParseBoolText(v);
                     if (!b.ok()) return b.status();
                     *target = *b;
                     return absl::OkStatus();
                   });
  flag.is_bool = true;
}

void FlagParser::Duration(std::string name, std::chrono::milliseconds* target,
                          std::string help) {
  Add(std::move(name), std::move(help),
      absl::FormatDuration(absl::Milliseconds(target->count())),
      [target](std::string_view v) -> absl::Status {
        absl::StatusOr<int64_t> ms = server::ParseDurationMs(v);
        if (!ms.ok()) return ms.status();
        *target = std::chrono::milliseconds(*ms);
        return absl::OkStatus();
      });
}

void FlagParser::AddNotes(std::string notes) {
  if (!notes_.empty()) notes_ += "\n";
  notes_ += std::move(notes);
}

FlagParser::Flag* FlagParser::Find(std::string_view name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

bool FlagParser::IsSet(std::string_view name) const {
  for (const Flag& flag : flags_) {
    if (flag.name == name) return flag.set;
  }
  return false;
}

absl::StatusOr<std::vector<std::string>> FlagParser::Parse(
    const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      help_requested_ = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      positional.push_back(arg);
      continue;
    }
    std::string_view body(arg);
    body.remove_prefix(body.starts_with("--") ? 2 : 1);
    std::string_view name = body;
    std::optional<std::string_view> value;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    Flag* flag = Find(name);
    if (flag == nullptr && name.starts_with("no-") && !value.has_value()) {
      Flag* negated = Find(name.substr(3));
      if (negated != nullptr && negated->is_bool) {
        if (absl::Status s = negated->apply("false"); !s.ok()) return s;
        negated->set = true;
        continue;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(Cat("unknown flag --", name));
    }
    std::string owned;
    if (!value.has_value()) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        owned = args[++i];
        value = owned;
      } else {
        return absl::InvalidArgumentError(
            Cat("flag --", name, " needs a value"));
      }
    }
    if (absl::Status s = flag->apply(*value); !s.ok()) {
      return absl::InvalidArgumentError(Cat("--", name, ": ", s.message()));
    }
    flag->set = true;
  }
  return positional;
}

namespace {

constexpr size_t kHelpWidth = 79;

// Greedy word wrap to kHelpWidth columns. The text starts at column
// `column` (the caller has printed that much); continuation lines are
// indented by `indent` spaces. Newlines in the text are kept.
std::string Wrap(std::string_view text, size_t column, size_t indent) {
  std::string out;
  bool first_line = true;
  for (absl::string_view paragraph : absl::StrSplit(Av(text), '\n')) {
    if (!first_line) {
      out += '\n';
      out.append(indent, ' ');
      column = indent;
    }
    first_line = false;
    bool line_start = true;
    for (absl::string_view word :
         absl::StrSplit(paragraph, ' ', absl::SkipEmpty())) {
      if (!line_start && column + 1 + word.size() > kHelpWidth) {
        out += '\n';
        out.append(indent, ' ');
        column = indent;
        line_start = true;
      }
      if (!line_start) {
        out += ' ';
        ++column;
      }
      out.append(word.data(), word.size());
      column += word.size();
      line_start = false;
    }
  }
  return out;
}

}  // namespace

std::string FlagParser::Help() const {
  std::string out =
      Cat("Usage: ", usage_, "\n\n", Wrap(description_, 0, 0), "\n");
  if (!flags_.empty()) {
    out += "\nFlags:\n";
    size_t width = 6;  // "--help"
    for (const Flag& flag : flags_) {
      width = std::max(width, flag.name.size() + (flag.is_bool ? 2 : 8));
    }
    const size_t help_column = 2 + width + 2;
    auto add = [&](const std::string& left, const std::string& help) {
      out += absl::StrFormat("  %-*s  ", width, left);
      out += Wrap(help, help_column, help_column);
      out += "\n";
    };
    for (const Flag& flag : flags_) {
      std::string help = flag.help;
      // A false boolean default goes without saying.
      if (!flag.default_text.empty() &&
          !(flag.is_bool && flag.default_text == "false")) {
        absl::StrAppend(&help, " (default: ", flag.default_text, ")");
      }
      add(Cat("--", flag.name, flag.is_bool ? "" : " VALUE"), help);
    }
    add("--help", "show this help");
  }
  if (!notes_.empty()) absl::StrAppend(&out, "\n", notes_, "\n");
  return out;
}

std::optional<int> ParseOrExit(FlagParser& parser,
                               const std::vector<std::string>& args,
                               std::vector<std::string>* positional) {
  absl::StatusOr<std::vector<std::string>> parsed = parser.Parse(args);
  if (!parsed.ok()) return UsageError(parser, parsed.status().message());
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  *positional = *std::move(parsed);
  return std::nullopt;
}

bool IsDataDirInUse(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) &&
         absl::StrContains(status.message(), "in use");
}

void PrintError(absl::string_view message, absl::string_view hint) {
  std::cerr << "error: " << message << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
}

int UsageError(const FlagParser& parser, absl::string_view message) {
  std::string command = parser.usage();
  // "aisle user get USER_ID [flags]" -> "aisle user get"
  std::vector<std::string> words = absl::StrSplit(command, ' ');
  std::string prefix;
  for (const std::string& w : words) {
    if (w.empty() || w[0] == '[' || w[0] == '-' ||
        absl::ascii_isupper(static_cast<unsigned char>(w[0]))) {
      break;
    }
    if (!prefix.empty()) prefix += " ";
    prefix += w;
  }
  PrintError(message, Cat("run '", prefix, " --help' for usage"));
  return kExitUsage;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view piece : absl::StrSplit(Av(text), ',')) {
    piece = absl::StripAsciiWhitespace(piece);
    if (!piece.empty()) out.emplace_back(piece);
  }
  return out;
}

// --- gRPC --------------------------------------------------------------------

void ClientFlags::Register(FlagParser& parser) {
  parser.String("target", &target, "server address host:port");
  parser.Duration("timeout", &timeout,
                  "deadline of each call (e.g. 500ms, 5s, 1m)");
}

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
      return "the request is over a documented limit; send smaller batches";
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

std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

void SetDeadline(grpc::ClientContext* context,
                 std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

// --- Output ------------------------------------------------------------------

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

// --- Delimited files ---------------------------------------------------------

absl::StatusOr<FileFormat> ResolveFormat(std::string_view flag,
                                         std::string_view path) {
  const std::string f = Lower(flag);
  if (f == "tsv") return FileFormat::kTsv;
  if (f == "csv") return FileFormat::kCsv;
  if (!f.empty()) {
    return absl::InvalidArgumentError(
        Cat("--format: '", flag, "' is not tsv or csv"));
  }
  return Lower(path).ends_with(".csv") ? FileFormat::kCsv : FileFormat::kTsv;
}

DelimitedReader::DelimitedReader(std::istream* in, FileFormat format)
    : in_(in), format_(format) {}

bool DelimitedReader::ReadLine(std::string* line) {
  if (!std::getline(*in_, *line)) return false;
  ++line_;
  bytes_read_ += static_cast<int64_t>(line->size()) + 1;
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

bool DelimitedReader::Next(Record* record, std::string* error) {
  error->clear();
  record->fields.clear();
  std::string line;
  do {
    if (!ReadLine(&line)) return false;
  } while (absl::StripAsciiWhitespace(line).empty());
  record->line = line_;
  switch (format_) {
    case FileFormat::kTsv:
      record->fields = absl::StrSplit(line, '\t');
      return true;
    case FileFormat::kWhitespace:
      record->fields =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      return true;
    case FileFormat::kPipe:
      record->fields = absl::StrSplit(line, '|');
      return true;
    case FileFormat::kCsv:
      break;
  }
  // CSV: a small state machine over the line, pulling in the next physical
  // line while inside quotes.
  std::string field;
  bool in_quotes = false;
  bool was_quoted = false;
  size_t i = 0;
  while (true) {
    if (i == line.size()) {
      if (!in_quotes) break;
      std::string next;
      if (!ReadLine(&next)) {
        *error = Cat("unterminated quoted field (opened on line ", record->line,
                     ")");
        record->fields.push_back(std::move(field));
        return true;
      }
      field += '\n';
      line = std::move(next);
      i = 0;
      continue;
    }
    const char c = line[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        in_quotes = false;
      } else {
        field += c;
      }
      ++i;
      continue;
    }
    if (c == ',') {
      record->fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '"' && field.empty() && !was_quoted) {
      in_quotes = true;
      was_quoted = true;
    } else if (c == '"') {
      *error = Cat("stray quote in field ", record->fields.size() + 1,
                   " (quote the whole field and double inner quotes)");
      field += c;
    } else {
      field += c;
    }
    ++i;
  }
  record->fields.push_back(std::move(field));
  return true;
}

// --- Import rows -------------------------------------------------------------

namespace {

absl::Status Assign(int* slot, int index, std::string_view name) {
  if (*slot != -1) {
    return absl::InvalidArgumentError(
        Cat("header: column '", name, "' given twice"));
  }
  *slot = index;
  return absl::OkStatus();
}

std::string_view Field(const Record& record, int column) {
  if (column < 0 || column >= static_cast<int>(record.fields.size())) {
    return "";
  }
  return Strip(record.fields[column]);
}

absl::Status CheckFieldCount(const Record& record, size_t expected) {
  if (record.fields.size() != expected) {
    return absl::InvalidArgumentError(Cat("expected ", expected,
                                          " fields like the header, got ",
                                          record.fields.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseInteger(std::string_view text,
                                     std::string_view column) {
  int64_t v = 0;
  if (ToInt(text, &v)) return v;
  double d = 0;
  if (ToDouble(text, &d) && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9e18) {
    return static_cast<int64_t>(d);
  }
  return absl::InvalidArgumentError(
      Cat(column, ": '", text, "' is not an integer"));
}

std::vector<std::string> SplitPipes(std::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view piece : absl::StrSplit(Av(text), '|')) {
    piece = absl::StripAsciiWhitespace(piece);
    if (!piece.empty()) out.emplace_back(piece);
  }
  return out;
}

}  // namespace

absl::StatusOr<EventColumns> MapEventHeader(
    const std::vector<std::string>& header,
    std::optional<core::EventType> default_type) {
  EventColumns cols;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string name = Lower(Strip(header[i]));
    const int idx = static_cast<int>(i);
    absl::Status s;
    if (name == "user_id" || name == "user") {
      s = Assign(&cols.user_id, idx, name);
    } else if (name == "item_id" || name == "item") {
      s = Assign(&cols.item_id, idx, name);
    } else if (name == "type" || name == "event_type") {
      s = Assign(&cols.type, idx, name);
    } else if (name == "value" || name == "rating" || name == "quantity") {
      s = Assign(&cols.value, idx, name);
    } else if (name == "timestamp_ms") {
      s = Assign(&cols.timestamp_ms, idx, name);
    } else if (name == "timestamp" || name == "timestamp_s") {
      s = Assign(&cols.timestamp_s, idx, name);
    } else if (name == "event_id") {
      s = Assign(&cols.event_id, idx, name);
    } else if (name == "recommendation_id") {
      s = Assign(&cols.recommendation_id, idx, name);
    } else {
      cols.ignored.push_back(std::string(header[i]));
    }
    if (!s.ok()) return s;
  }
  if (cols.timestamp_ms != -1 && cols.timestamp_s != -1) {
    return absl::InvalidArgumentError(
        "header: give either timestamp_ms (unix ms) or timestamp (unix "
        "seconds), not both");
  }
  std::vector<std::string> missing;
  if (cols.user_id == -1) missing.push_back("user_id");
  if (cols.item_id == -1) missing.push_back("item_id");
  if (cols.type == -1 && !default_type.has_value()) missing.push_back("type");
  if (!missing.empty()) {
    return absl::InvalidArgumentError(
        Cat("header: missing column(s) ", absl::StrJoin(missing, ", "),
            "; the first row must name the columns, e.g. "
            "'user_id<TAB>item_id<TAB>type<TAB>value<TAB>timestamp' "
            "(pass --type TYPE if every row has the same type, or --movielens "
            "for a headerless 'user item rating unix_seconds' file)"));
  }
  return cols;
}

EventColumns MovieLensColumns() {
  EventColumns cols;
  cols.user_id = 0;
  cols.item_id = 1;
  cols.value = 2;
  cols.timestamp_s = 3;
  return cols;
}

absl::StatusOr<core::Event> ParseEventRow(
    const Record& record, const EventColumns& columns,
    std::optional<core::EventType> default_type, size_t header_fields) {
  if (absl::Status s = CheckFieldCount(record, header_fields); !s.ok()) {
    return s;
  }
  core::Event event;
  event.user_id = std::string(Field(record, columns.user_id));
  event.item_id = std::string(Field(record, columns.item_id));
  if (columns.type != -1 && !Field(record, columns.type).empty()) {
    std::string_view text = Field(record, columns.type);
    std::optional<core::EventType> type = core::ParseEventType(text);
    if (!type.has_value()) {
      return absl::InvalidArgumentError(Cat(
          "type: unknown event type '", text,
          "' (view, click, add_to_cart, remove_from_cart, purchase, rating, "
          "dislike, impression)"));
    }
    event.type = *type;
  } else if (default_type.has_value()) {
    event.type = *default_type;
  } else {
    return absl::InvalidArgumentError("type: empty");
  }
  if (std::string_view v = Field(record, columns.value); !v.empty()) {
    if (!ToDouble(v, &event.value)) {
      return absl::InvalidArgumentError(
          Cat("value: '", v, "' is not a number"));
    }
  }
  if (std::string_view t = Field(record, columns.timestamp_ms); !t.empty()) {
    absl::StatusOr<int64_t> ms = ParseInteger(t, "timestamp_ms");
    if (!ms.ok()) return ms.status();
    event.timestamp_ms = *ms;
  } else if (std::string_view t = Field(record, columns.timestamp_s);
             !t.empty()) {
    double seconds = 0;
    if (!ToDouble(t, &seconds) || !std::isfinite(seconds) ||
        std::fabs(seconds) > 9e15) {
      return absl::InvalidArgumentError(
          Cat("timestamp: '", t, "' is not unix seconds"));
    }
    event.timestamp_ms = static_cast<int64_t>(std::llround(seconds * 1000));
  }
  event.recommendation_id =
      std::string(Field(record, columns.recommendation_id));
  event.event_id = std::string(Field(record, columns.event_id));
  if (event.event_id.empty()) event.event_id = server::DerivedEventId(event);
  return event;
}

absl::StatusOr<ItemColumns> MapItemHeader(
    const std::vector<std::string>& header) {
  ItemColumns cols;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string name = Lower(Strip(header[i]));
    const int idx = static_cast<int>(i);
    absl::Status s;
    if (name == "item_id" || name == "item" || name == "id") {
      s = Assign(&cols.item_id, idx, name);
    } else if (name == "title" || name == "name") {
      s = Assign(&cols.title, idx, name);
    } else if (name == "categories" || name == "category") {
      s = Assign(&cols.categories, idx, name);
    } else if (name == "tags") {
      s = Assign(&cols.tags, idx, name);
    } else if (name == "price") {
      s = Assign(&cols.price, idx, name);
    } else if (name == "available") {
      s = Assign(&cols.available, idx, name);
    } else {
      cols.ignored.push_back(std::string(header[i]));
    }
    if (!s.ok()) return s;
  }
  if (cols.item_id == -1) {
    return absl::InvalidArgumentError(
        "header: missing column item_id; the first row must name the "
        "columns, e.g. 'item_id<TAB>title<TAB>categories<TAB>tags<TAB>price"
        "<TAB>available'");
  }
  return cols;
}

absl::StatusOr<core::Item> ParseItemRow(const Record& record,
                                        const ItemColumns& columns,
                                        size_t header_fields) {
  if (absl::Status s = CheckFieldCount(record, header_fields); !s.ok()) {
    return s;
  }
  core::Item item;
  item.item_id = std::string(Field(record, columns.item_id));
  // Titles keep their inner spacing; only the ends are trimmed.
  item.title = std::string(Field(record, columns.title));
  item.categories = SplitPipes(Field(record, columns.categories));
  item.tags = SplitPipes(Field(record, columns.tags));
  if (std::string_view p = Field(record, columns.price); !p.empty()) {
    if (!ToDouble(p, &item.price)) {
      return absl::InvalidArgumentError(
          Cat("price: '", p, "' is not a number"));
    }
  }
  if (std::string_view a = Field(record, columns.available); !a.empty()) {
    absl::StatusOr<bool> b = ParseBoolText(a);
    if (!b.ok()) {
      return absl::InvalidArgumentError(
          Cat("available: ", b.status().message()));
    }
    item.available = *b;
  }
  return item;
}

std::string Latin1ToUtf8(std::string_view latin1) {
  std::string out;
  out.reserve(latin1.size());
  for (char c : latin1) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xC0 | (b >> 6));
      out += static_cast<char>(0x80 | (b & 0x3F));
    }
  }
  return out;
}

absl::StatusOr<core::Item> ParseMovieLensItemRow(const Record& record) {
  // The genre order of MovieLens-100K's u.genre.
  static constexpr std::string_view kGenres[] = {
      "unknown",   "Action",   "Adventure",   "Animation", "Children's",
      "Comedy",    "Crime",    "Documentary", "Drama",     "Fantasy",
      "Film-Noir", "Horror",   "Musical",     "Mystery",   "Romance",
      "Sci-Fi",    "Thriller", "War",         "Western"};
  constexpr size_t kGenreCount = std::size(kGenres);
  if (absl::Status s = CheckFieldCount(record, 5 + kGenreCount); !s.ok()) {
    return absl::InvalidArgumentError(
        Cat(s.message(),
            " (MovieLens u.item: id|title|release date|video "
            "release date|IMDb URL|19 genre flags)"));
  }
  core::Item item;
  item.item_id = std::string(Field(record, 0));
  item.title = Latin1ToUtf8(Field(record, 1));
  for (size_t g = 0; g < kGenreCount; ++g) {
    std::string_view flag = Field(record, static_cast<int>(5 + g));
    if (flag != "0" && flag != "1") {
      return absl::InvalidArgumentError(
          Cat("genre ", kGenres[g], ": '", flag, "' is not 0 or 1"));
    }
    if (flag == "1" && g > 0) item.categories.emplace_back(kGenres[g]);
  }
  return item;
}

}  // namespace aisle::cli
