// Flag parsing for the `aisle` subcommands: one FlagParser per command,
// its --help text, and the usage-error convention (exit code 2 and a
// pointer to --help).
//
// Thread safety: FlagParser is a plain object for one thread.
#ifndef AISLE_CLI_FLAGS_H_
#define AISLE_CLI_FLAGS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace aisle::cli {

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
  // Decimal integers; a value out of the target's range is malformed.
  void Int(std::string name, int* target, std::string help);
  void Int(std::string name, int64_t* target, std::string help);
  // Finite numbers only.
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
  // Another name for the registered flag `name` (e.g. "c" for
  // "concurrency", so that "-c 8" works as in other tools); Help() lists it
  // beside the flag. REQUIRES: `name` is registered.
  void Alias(std::string_view name, std::string alias);
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
  // Usage, description, one line per flag with its default, notes; wrapped
  // at 79 columns.
  std::string Help() const;
  const std::string& usage() const { return usage_; }

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    std::vector<std::string> aliases;
    bool is_bool = false;
    bool set = false;
    std::function<absl::Status(std::string_view)> apply;
  };
  Flag& Add(std::string name, std::string help, std::string default_text,
            std::function<absl::Status(std::string_view)> apply);
  template <typename T>
  void AddInteger(std::string name, T* target, std::string help);
  Flag* Find(std::string_view name);

  std::string usage_;
  std::string description_;
  std::string notes_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// Runs `parser` over `args`. Returns nullopt when the command should go on
// (with the positional arguments in *positional); otherwise the exit code,
// having printed help (0) or the usage error (2) with a pointer to --help.
std::optional<int> ParseOrExit(FlagParser& parser,
                               const std::vector<std::string>& args,
                               std::vector<std::string>* positional);

// ParseOrExit for commands that take flags only: a positional argument is
// a usage error ("unexpected argument 'x'").
std::optional<int> ParseFlagsOrExit(FlagParser& parser,
                                    const std::vector<std::string>& args);

// Usage error: prints the message and "run '<HelpCommand> --help'",
// returns kExitUsage.
int UsageError(const FlagParser& parser, absl::string_view message);

// The command words of a usage line, the part a user types before --help:
// "aisle user get|delete USER_ID [flags]" -> "aisle user get",
// "aisle import (--data-dir DIR | ...)" -> "aisle import".
std::string HelpCommand(std::string_view usage);

}  // namespace aisle::cli

#endif  // AISLE_CLI_FLAGS_H_
