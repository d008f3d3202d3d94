// FlagParser: registration, parsing, help text; the usage-error convention.
#include "cli/flags.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/string_view.h"
#include "server/config.h"

namespace aisle::cli {
namespace {

absl::StatusOr<double> ParseFiniteDouble(std::string_view text) {
  absl::StatusOr<double> d = ParseDoubleText(text);
  if (d.ok() && !std::isfinite(*d)) {
    return absl::InvalidArgumentError("must be finite");
  }
  return d;
}

}  // namespace

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

template <typename T>
void FlagParser::AddInteger(std::string name, T* target, std::string help) {
  Add(std::move(name), std::move(help), Cat(*target),
      [target](std::string_view v) {
        if (!absl::SimpleAtoi(core::ToAbsl(Strip(v)), target)) {
          return absl::InvalidArgumentError(Cat("'", v, "' is not an integer"));
        }
        return absl::OkStatus();
      });
}

void FlagParser::Int(std::string name, int* target, std::string help) {
  AddInteger(std::move(name), target, std::move(help));
}

void FlagParser::Int(std::string name, int64_t* target, std::string help) {
  AddInteger(std::move(name), target, std::move(help));
}

void FlagParser::Double(std::string name, double* target, std::string help) {
  Add(std::move(name), std::move(help), absl::StrFormat("%g", *target),
      [target](std::string_view v) -> absl::Status {
        absl::StatusOr<double> d = ParseFiniteDouble(v);
        if (!d.ok()) return d.status();
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
        absl::StatusOr<double> d = ParseFiniteDouble(v);
        if (!d.ok()) return d.status();
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

void FlagParser::Alias(std::string_view name, std::string alias) {
  for (Flag& flag : flags_) {
    if (flag.name == name) flag.aliases.push_back(std::move(alias));
  }
}

FlagParser::Flag* FlagParser::Find(std::string_view name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
    for (const std::string& alias : flag.aliases) {
      if (alias == name) return &flag;
    }
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
  for (absl::string_view paragraph : absl::StrSplit(core::ToAbsl(text), '\n')) {
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
      size_t names = flag.name.size() + (flag.is_bool ? 2 : 8);
      for (const std::string& alias : flag.aliases) {
        names += alias.size() + (alias.size() == 1 ? 3 : 4);
      }
      width = std::max(width, names);
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
      std::string names;
      for (const std::string& alias : flag.aliases) {
        absl::StrAppend(&names, alias.size() == 1 ? "-" : "--", alias, ", ");
      }
      add(Cat(names, "--", flag.name, flag.is_bool ? "" : " VALUE"), help);
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

std::optional<int> ParseFlagsOrExit(FlagParser& parser,
                                    const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return exit;
  if (!positional.empty()) {
    return UsageError(parser, Cat("unexpected argument '", positional[0], "'"));
  }
  return std::nullopt;
}

std::string HelpCommand(std::string_view usage) {
  // The words before the first placeholder (USER_ID), option ([flags],
  // --x), group "(" or alternative "|"; of "get|delete", the first.
  std::string command;
  for (absl::string_view w : absl::StrSplit(core::ToAbsl(usage), ' ')) {
    if (w.empty() || w[0] == '[' || w[0] == '-' || w[0] == '(' || w[0] == '|' ||
        absl::ascii_isupper(static_cast<unsigned char>(w[0]))) {
      break;
    }
    const size_t bar = w.find('|');
    if (!command.empty()) command += " ";
    command.append(w.data(), bar == absl::string_view::npos ? w.size() : bar);
    if (bar != absl::string_view::npos) break;
  }
  return command;
}

int UsageError(const FlagParser& parser, absl::string_view message) {
  PrintError(message,
             Cat("run '", HelpCommand(parser.usage()), " --help' for usage"));
  return kExitUsage;
}

}  // namespace aisle::cli
