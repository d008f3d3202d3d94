// ghz's call template data (https://ghz.sh/docs/calldata): the -d JSON of
// `aisle loadgen --call` may hold Go-template actions that are evaluated
// afresh for every request, so each call can carry its own ids:
//
//   {"user_id":"u{{randomInt 0 100000}}","count":10}
//   {"events":[{"event_id":"{{newUUID}}", ...}]}
//
// Supported actions, with ghz's names and meaning:
//   {{.RequestNumber}} {{.WorkerID}} {{.FullyQualifiedName}}
//   {{.MethodName}} {{.ServiceName}} {{.InputName}} {{.OutputName}}
//   {{.IsClientStreaming}} {{.IsServerStreaming}} {{.Timestamp}}
//   {{.TimestampUnix}} {{.TimestampUnixMilli}} {{.TimestampUnixNano}}
//   {{.UUID}}  {{newUUID}}  {{randomString N}}  {{randomInt MIN MAX}}
// `{{- x -}}` trims the whitespace next to the action as in Go. Pipelines,
// conditionals and the sprig library are not supported: Parse says so.
//
// Thread safety: a CallTemplate is immutable after Parse; Expand is const
// and may run on many threads, each with its own random generator.
#ifndef AISLE_CLI_GHZ_TEMPLATE_H_
#define AISLE_CLI_GHZ_TEMPLATE_H_

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aisle::cli {

// The values of one call (ghz's callTemplateData).
struct CallData {
  int64_t request_number = 0;  // 0, 1, 2, ... in the order calls start
  std::string worker_id;       // "g<connection>c<worker>", stable per worker
  std::string fully_qualified_name;  // "aisle.v1.Recommender.Recommend"
  std::string method_name;           // "Recommend"
  std::string service_name;          // "aisle.v1.Recommender"
  std::string input_name;            // "RecommendRequest"
  std::string output_name;           // "RecommendResponse"
  int64_t timestamp_unix_nanos = 0;  // when the call is made
};

class CallTemplate {
 public:
  // Parses `text` once. InvalidArgument naming the action for an unknown
  // field or function, a wrong argument count, a non-integer argument,
  // randomInt with MAX <= MIN, or an unclosed "{{".
  static absl::StatusOr<CallTemplate> Parse(std::string_view text);

  // The text with every action evaluated for `data`; random values come
  // from `rng`.
  std::string Expand(const CallData& data, std::mt19937_64& rng) const;
  // Whether the text holds any action (if not, Expand is the text itself
  // and callers may convert it once).
  bool has_actions() const { return has_actions_; }

 private:
  enum class Kind {
    kText,
    kRequestNumber,
    kWorkerId,
    kFullyQualifiedName,
    kMethodName,
    kServiceName,
    kInputName,
    kOutputName,
    kFalse,  // IsClientStreaming / IsServerStreaming: unary calls only
    kTimestamp,
    kTimestampUnix,
    kTimestampUnixMilli,
    kTimestampUnixNano,
    kUuid,
    kRandomString,
    kRandomInt,
  };
  struct Part {
    Kind kind = Kind::kText;
    std::string text;  // kText
    int64_t a = 0;     // randomString length; randomInt min
    int64_t b = 0;     // randomInt max (exclusive)
  };
  static absl::StatusOr<Part> ParseAction(std::string_view action);

  std::vector<Part> parts_;
  bool has_actions_ = false;
};

// A random (version 4) UUID in its 36-character text form.
std::string NewUuid(std::mt19937_64& rng);

}  // namespace aisle::cli

#endif  // AISLE_CLI_GHZ_TEMPLATE_H_
