// ghz call template data: parsed once into text and actions, expanded per
// call.
#include "cli/ghz_template.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "core/string_view.h"

namespace aisle::cli {

std::string NewUuid(std::mt19937_64& rng) {
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;                    // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{8} << 60);  // RFC 4122
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32,
                         (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                         lo & 0xFFFFFFFFFFFF);
}

absl::StatusOr<CallTemplate::Part> CallTemplate::ParseAction(
    std::string_view action) {
  const std::vector<std::string> words =
      absl::StrSplit(core::ToAbsl(action), ' ', absl::SkipEmpty());
  const std::string shown = absl::StrCat("{{", core::ToAbsl(action), "}}");
  if (words.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("empty action ", shown));
  }
  struct Field {
    std::string_view name;
    Kind kind;
  };
  static constexpr Field kFields[] = {
      {".RequestNumber", Kind::kRequestNumber},
      {".WorkerID", Kind::kWorkerId},
      {".FullyQualifiedName", Kind::kFullyQualifiedName},
      {".MethodName", Kind::kMethodName},
      {".ServiceName", Kind::kServiceName},
      {".InputName", Kind::kInputName},
      {".OutputName", Kind::kOutputName},
      {".IsClientStreaming", Kind::kFalse},
      {".IsServerStreaming", Kind::kFalse},
      {".Timestamp", Kind::kTimestamp},
      {".TimestampUnix", Kind::kTimestampUnix},
      {".TimestampUnixMilli", Kind::kTimestampUnixMilli},
      {".TimestampUnixNano", Kind::kTimestampUnixNano},
      {".UUID", Kind::kUuid},
      {"newUUID", Kind::kUuid},
  };
  Part part;
  for (const Field& f : kFields) {
    if (words[0] != f.name) continue;
    if (words.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          shown, ": ", core::ToAbsl(f.name), " takes no arguments"));
    }
    part.kind = f.kind;
    return part;
  }
  auto int_arg = [&](size_t i, int64_t* out) -> absl::Status {
    if (!absl::SimpleAtoi(words[i], out)) {
      return absl::InvalidArgumentError(
          absl::StrCat(shown, ": argument '", words[i], "' is not an integer"));
    }
    return absl::OkStatus();
  };
  if (words[0] == "randomString") {
    if (words.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(shown, ": randomString takes one argument (length)"));
    }
    part.kind = Kind::kRandomString;
    if (absl::Status s = int_arg(1, &part.a); !s.ok()) return s;
    return part;
  }
  if (words[0] == "randomInt") {
    if (words.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(shown, ": randomInt takes two arguments (min max)"));
    }
    part.kind = Kind::kRandomInt;
    if (absl::Status s = int_arg(1, &part.a); !s.ok()) return s;
    if (absl::Status s = int_arg(2, &part.b); !s.ok()) return s;
    if (part.a < 0 || part.b <= part.a) {
      return absl::InvalidArgumentError(absl::StrCat(
          shown, ": randomInt needs 0 <= min < max (the range is [min, max))"));
    }
    return part;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown template action ", shown,
      " (supported: .RequestNumber, .WorkerID, .FullyQualifiedName, "
      ".MethodName, .ServiceName, .InputName, .OutputName, .Timestamp, "
      ".TimestampUnix, .TimestampUnixMilli, .TimestampUnixNano, .UUID, "
      "newUUID, randomString N, randomInt MIN MAX)"));
}

absl::StatusOr<CallTemplate> CallTemplate::Parse(std::string_view text) {
  CallTemplate t;
  std::string pending;  // text since the last action
  bool trim_next = false;
  while (!text.empty()) {
    const size_t open = text.find("{{");
    std::string_view literal = text.substr(0, open);
    if (trim_next)
      literal =
          core::ToStd(absl::StripLeadingAsciiWhitespace(core::ToAbsl(literal)));
    if (open == std::string_view::npos) {
      pending.append(literal);
      break;
    }
    std::string_view rest = text.substr(open + 2);
    const size_t close = rest.find("}}");
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unclosed '{{' at offset ", open, " of the data template"));
    }
    std::string_view action = rest.substr(0, close);
    // Go's "{{- " and " -}}" trim the whitespace around the action.
    if (action.starts_with("- ")) {
      action.remove_prefix(2);
      literal = core::ToStd(
          absl::StripTrailingAsciiWhitespace(core::ToAbsl(literal)));
    }
    trim_next = action.ends_with(" -");
    if (trim_next) action.remove_suffix(2);
    pending.append(literal);
    absl::StatusOr<Part> part = ParseAction(action);
    if (!part.ok()) return part.status();
    if (!pending.empty()) t.parts_.push_back({Kind::kText, std::move(pending)});
    pending.clear();
    t.parts_.push_back(*std::move(part));
    t.has_actions_ = true;
    text = rest.substr(close + 2);
  }
  if (!pending.empty()) t.parts_.push_back({Kind::kText, std::move(pending)});
  return t;
}

std::string CallTemplate::Expand(const CallData& data,
                                 std::mt19937_64& rng) const {
  std::string out;
  const int64_t ns = data.timestamp_unix_nanos;
  for (const Part& p : parts_) {
    switch (p.kind) {
      case Kind::kText:
        out += p.text;
        break;
      case Kind::kRequestNumber:
        absl::StrAppend(&out, data.request_number);
        break;
      case Kind::kWorkerId:
        out += data.worker_id;
        break;
      case Kind::kFullyQualifiedName:
        out += data.fully_qualified_name;
        break;
      case Kind::kMethodName:
        out += data.method_name;
        break;
      case Kind::kServiceName:
        out += data.service_name;
        break;
      case Kind::kInputName:
        out += data.input_name;
        break;
      case Kind::kOutputName:
        out += data.output_name;
        break;
      case Kind::kFalse:
        out += "false";
        break;
      case Kind::kTimestamp:
        out += absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(ns),
                                absl::UTCTimeZone());
        break;
      case Kind::kTimestampUnix:
        absl::StrAppend(&out, ns / 1000000000);
        break;
      case Kind::kTimestampUnixMilli:
        absl::StrAppend(&out, ns / 1000000);
        break;
      case Kind::kTimestampUnixNano:
        absl::StrAppend(&out, ns);
        break;
      case Kind::kUuid:
        out += NewUuid(rng);
        break;
      case Kind::kRandomString: {
        static constexpr std::string_view kLetters =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        // ghz: a length <= 0 means a random length in [2, 16].
        const int64_t n =
            p.a > 0 ? p.a : std::uniform_int_distribution<int64_t>(2, 16)(rng);
        std::uniform_int_distribution<size_t> pick(0, kLetters.size() - 1);
        for (int64_t i = 0; i < n; ++i) out += kLetters[pick(rng)];
        break;
      }
      case Kind::kRandomInt:
        absl::StrAppend(
            &out, std::uniform_int_distribution<int64_t>(p.a, p.b - 1)(rng));
        break;
    }
  }
  return out;
}

}  // namespace aisle::cli
