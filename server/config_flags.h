// The entries of `aisle serve`'s flag table and the value parsers they
// share. Internal to server/config*.cc: server/config.cc owns the one table
// and the parsing of flags, AISLE_* variables and the config file;
// server/config_values.cc defines the parsers; server/config_engine_flags.cc
// contributes the engine-tuning entries (the session signal, content,
// weights, exploration, segments...), which are many and change with the
// engine, so that config.cc stays readable.
//
// Errors: every parser and setter returns InvalidArgument with a short
// reason ("must be 0..65535, got 70000"); the table's owner prefixes the
// flag (or variable, or file:line) it came from.
//
// Thread safety: pure functions; setters write only the ServerConfig they
// are given.
#ifndef AISLE_SERVER_CONFIG_FLAGS_H_
#define AISLE_SERVER_CONFIG_FLAGS_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/config.h"

namespace aisle::server::config_internal {

// Parses one value into the config.
using Setter = std::function<absl::Status(absl::string_view, ServerConfig*)>;

struct FlagOption {
  absl::string_view name;        // flag name without dashes
  absl::string_view value_name;  // "N", "DURATION"... in --help; "" for bools
  absl::string_view help;
  bool is_bool = false;  // --flag alone means true
  Setter set;
};

// InvalidArgument(what).
absl::Status Bad(absl::string_view what);
// An integer in min..max.
absl::StatusOr<int64_t> ParseInt(absl::string_view text, int64_t min,
                                 int64_t max);
// A finite number in min..max.
absl::StatusOr<double> ParseDouble(absl::string_view text, double min,
                                   double max);
// true/1/yes/on (or empty) and false/0/no/off, any case.
absl::StatusOr<bool> ParseBool(absl::string_view text);

// A setter of an integer field of ServerConfig, in min..max.
template <typename T>
Setter IntSetter(T ServerConfig::*field, int64_t min, int64_t max) {
  return [=](absl::string_view v, ServerConfig* c) -> absl::Status {
    absl::StatusOr<int64_t> n = ParseInt(v, min, max);
    if (!n.ok()) return n.status();
    c->*field = static_cast<T>(*n);
    return absl::OkStatus();
  };
}

// A setter of a bool field of ServerConfig, reached through `field`
// (ServerConfig* -> bool&; the field may be nested), with ParseBool's
// spellings.
template <typename Field>
Setter BoolSetter(Field field) {
  return [=](absl::string_view v, ServerConfig* c) -> absl::Status {
    absl::StatusOr<bool> b = ParseBool(v);
    if (!b.ok()) return b.status();
    field(c) = *b;
    return absl::OkStatus();
  };
}

// The engine-tuning entries, in the order --help lists them
// (config_engine_flags.cc).
std::vector<FlagOption> EngineFlagOptions();

}  // namespace aisle::server::config_internal

#endif  // AISLE_SERVER_CONFIG_FLAGS_H_
