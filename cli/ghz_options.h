// `aisle loadgen --call METHOD`: ghz's options (https://ghz.sh/docs/options)
// with ghz's names, meaning and defaults, and what they resolve to: the
// method's descriptors, the per-request data templates, the channels.
//
//   aisle loadgen --insecure --call aisle.v1.Recommender.Recommend
//       -d '{"user_id":"u{{randomInt 0 100000}}","count":10}'
//       -c 50 -z 10s localhost:50051
//
// The flags shared with the mix mode keep their long names and gain
// ghz's short ones: -c/--concurrency, -n/--total (= --requests),
// -z/--duration, -r/--rps, -t/--timeout, --cacert/--cert/--key/--cname
// (= --tls-ca/--tls-cert/--tls-key/--tls-server-name). New here: --call,
// -d/--data, -D/--data-file, --connections, --insecure, -O/--format,
// -o/--output, --config (a ghz JSON config file; flags override it) and
// the host as the positional argument (or --target).
//
// Thread safety: plain values and functions for one thread; a GhzMethod is
// immutable once resolved and may be shared.
#ifndef AISLE_CLI_GHZ_OPTIONS_H_
#define AISLE_CLI_GHZ_OPTIONS_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "cli/ghz_template.h"
#include "cli/rpc.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace aisle::cli {

// The ghz-only flags (the shared ones live in LoadgenConfig).
struct GhzFlags {
  std::string call;       // "aisle.v1.Recommender.Recommend" or ".../Method"
  std::string data;       // -d: JSON (object, or array: round-robin)
  std::string data_file;  // -D: a file holding that JSON
  int connections = 1;
  bool insecure = false;           // plaintext; without it ghz (and we) use TLS
  std::string format = "summary";  // summary | json | pretty | csv
  std::string output;              // -o: file instead of stdout
  std::string config;              // --config: ghz JSON config file
};

// Registers the ghz-only flags and ghz's short names for the shared ones
// (which `parser` must already hold: see RegisterLoadgenFlags).
void RegisterGhzFlags(FlagParser& parser, GhzFlags* flags);

// The settings of one ghz-mode run, ghz's defaults applied.
struct GhzSettings {
  std::string call;
  ClientFlags client;    // target, timeout (-t), TLS, token
  int64_t total = 200;   // -n; 0 = until -z
  int concurrency = 50;  // -c
  int connections = 1;
  double rps = 0;                         // -r; 0 = unthrottled
  std::chrono::milliseconds duration{0};  // -z; 0 = until -n
  std::string data = "{}";                // the JSON template text
  std::string format = "summary";
  std::string output;
  // Base of the workers' random streams ({{randomInt}}, {{randomString}},
  // {{newUUID}}): --seed when given, else drawn afresh for every run, as
  // ghz does, so a repeated run sends new event ids, not duplicates. A
  // seed repeats each worker's stream; which calls a worker makes depends
  // on timing, so a whole run repeats only with -c 1.
  uint64_t seed = 0;
};

// Reads `flags.config` (if set) and applies its values for the flags the
// command line did not set, by re-parsing them as "--name value" on
// `parser` (so a config value is checked exactly like the flag). Keys:
// ghz's long names (call, host, total, concurrency, connections, rps,
// duration, timeout, data, data-file, insecure, cacert, cert, key, cname,
// format, output) and its old short ones (n, c, z, r/q, t, d, D, O, o);
// "proto", "protoset" and "import-paths" are ignored (aisle knows its
// API). InvalidArgument naming the key for anything else, or unreadable
// JSON. `*positional` gets the config's host if the command line had none.
absl::Status ApplyGhzConfig(FlagParser& parser, const GhzFlags& flags,
                            std::vector<std::string>* positional);

// ghz's defaults for the shared flags the user did not set (-c 50, -n 200
// unless -z, -t 20s, TLS unless --insecure), the host from `positional`,
// the data text (-d, or -D's file), and the range checks. InvalidArgument
// naming the flag otherwise. The seed is `seed` if --seed was set, else
// one from std::random_device.
absl::StatusOr<GhzSettings> ResolveGhzSettings(
    const FlagParser& parser, const GhzFlags& flags, ClientFlags client,
    int concurrency, double rps, std::chrono::milliseconds duration,
    int64_t requests, int64_t seed, const std::vector<std::string>& positional);

// A unary method the loadgen can call: its descriptors (from the compiled
// aisle protos, or grpc.health.v1 built in) and a prototype request.
struct GhzMethod {
  std::string path;  // "/aisle.v1.Recommender/Recommend"
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  const google::protobuf::Message* request_prototype = nullptr;
  CallData call_data;  // the method fields of the template data
};
// Resolves "pkg.Service.Method" or "pkg.Service/Method". NotFound listing
// the known services for an unknown one; InvalidArgument for a streaming
// method (only unary calls are load-tested).
absl::StatusOr<GhzMethod> ResolveGhzMethod(std::string_view call);

// The request templates of `data`: one for a JSON object, one per element
// of a JSON array (used round-robin, as ghz does for unary calls).
// InvalidArgument for a template error, or when the first expansion of a
// template does not convert to the request message (the message says
// which field).
absl::StatusOr<std::vector<CallTemplate>> ParseGhzData(std::string_view data,
                                                       const GhzMethod& method);

// `json` converted to the method's request (protobuf's JsonStringToMessage,
// unknown fields rejected) and serialized. InvalidArgument with the
// parser's message otherwise.
absl::StatusOr<std::string> JsonToRequestBytes(const GhzMethod& method,
                                               std::string_view json);

}  // namespace aisle::cli

#endif  // AISLE_CLI_GHZ_OPTIONS_H_
