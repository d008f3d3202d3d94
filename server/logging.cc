#include "server/logging.h"

#include <cmath>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

// %* in a pattern: the log message escaped for a JSON string.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped =
        JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// A keyed FNV-1a with a strong finaliser: enough to stop reading ids back
// out of logs without the salt (a pseudonym, not a cryptographic MAC).
uint64_t KeyedHash(std::string_view salt, std::string_view value) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
  };
  mix(salt);
  h ^= 0xff;
  h *= 0x100000001b3ULL;
  mix(value);
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string RandomSalt() {
  std::random_device rd;
  return absl::StrFormat("%08x%08x%08x%08x", rd(), rd(), rd(), rd());
}

}  // namespace

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// libprotobuf writes its own log lines to stderr, past spdlog: one ERROR
// line for every request with a string field that is not UTF-8 (found by
// fuzz/requests_fuzz.cc). Such a request is the client's mistake, answered
// INVALID_ARGUMENT naming the field and counted; unformatted lines per
// request would break JSON logs and let any client flood the log. They go
// to debug; only protobuf's FATAL (a bug of ours) stays loud.
void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                 const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    spdlog::critical("protobuf {}:{}: {}", file, line, message);
  } else {
    spdlog::debug("protobuf: {}", message);
  }
}

absl::Status ConfigureLogging(LogFormat format, std::string_view level) {
  spdlog::level::level_enum parsed =
      spdlog::level::from_str(std::string(level));
  // from_str maps unknown names to "off"; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level \"", core::ToAbsl(level), "\""));
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("aisle", sink);
  if (format == LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
        spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %-5l %v");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  google::protobuf::SetLogHandler(&ProtobufLog);
  return absl::OkStatus();
}

AccessLog::AccessLog(double sample, std::string salt)
    : threshold_(sample <= 0 || sample >= 1
                     ? 0
                     : static_cast<uint64_t>(std::ldexp(sample, 64))),
      all_(sample >= 1),
      salt_(salt.empty() ? RandomSalt() : std::move(salt)) {}

std::string AccessLog::HashUserId(std::string_view user_id) const {
  if (user_id.empty()) return "";
  return absl::StrFormat("%012x", KeyedHash(salt_, user_id) >> 16);
}

bool AccessLog::Sampled() {
  if (all_) return true;
  if (threshold_ == 0) return false;
  // Deterministic spread over the RPC sequence: exactly the requested
  // fraction over time, without a shared random generator.
  return Mix64(counter_.fetch_add(1, std::memory_order_relaxed)) < threshold_;
}

void AccessLog::Record(std::string_view method, std::string_view code,
                       double latency_seconds, std::string_view user_id) {
  if (!Sampled()) return;
  spdlog::info("access method={} code={} latency_ms={:.3f} user={}", method,
               code, latency_seconds * 1000, HashUserId(user_id));
}

void AccessLog::Fault(std::string_view method, std::string_view code,
                      std::string_view message, int64_t now_ns) {
  constexpr int64_t kFaultLogIntervalNs = 5'000'000'000;
  if (code != "INTERNAL" && code != "DATA_LOSS" && code != "UNAVAILABLE" &&
      code != "UNKNOWN" && code != "RESOURCE_EXHAUSTED") {
    return;
  }
  // Load shedding is counted by aisle_shed_total, not logged.
  constexpr std::string_view kShed = "server overloaded";
  if (code == "RESOURCE_EXHAUSTED" &&
      message.substr(0, kShed.size()) == kShed) {
    return;
  }
  int64_t last = last_fault_ns_.load(std::memory_order_relaxed);
  if ((last != 0 && now_ns - last < kFaultLogIntervalNs) ||
      !last_fault_ns_.compare_exchange_strong(last, now_ns)) {
    skipped_faults_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t skipped = skipped_faults_.exchange(0);
  spdlog::warn("{} failed with {}: {}{}", method, code, message,
               skipped == 0 ? std::string()
                            : absl::StrCat(" (", skipped,
                                           " more server-side failures in "
                                           "the last 5 s not logged)"));
}

}  // namespace aisle::server
