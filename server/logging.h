// Logging set-up (spdlog) and the privacy-safe access log.
//
// Logs go to stderr, as text ("2026-11-25 10:15:00.123 info  message") or
// as one JSON object per line ({"ts":"...","level":"info","msg":"..."}) for
// log collectors. User ids never appear in clear in the access log: they
// are replaced by a keyed hash (HashUserId) so that one user's requests can
// be correlated without revealing who it is.
//
// Thread safety: ConfigureLogging must run before other threads log; the
// rest is thread-safe.
#ifndef AISLE_SERVER_LOGGING_H_
#define AISLE_SERVER_LOGGING_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "server/config.h"

namespace aisle::server {

// Installs the default spdlog logger (stderr) with the given format and
// level, and routes libprotobuf's own messages into it (at debug, FATAL
// at critical). InvalidArgument for an unknown level name.
absl::Status ConfigureLogging(LogFormat format, std::string_view level);

// Escapes `text` for inclusion inside a JSON string literal.
std::string JsonEscape(std::string_view text);

// Samples RPCs for the access log and hashes user ids.
class AccessLog {
 public:
  // `sample` is the fraction of RPCs logged (0..1). `salt` keys the user
  // id hash; empty = a random per-process salt.
  AccessLog(double sample, std::string salt);

  // First 12 hex digits of a keyed 64-bit hash of the user id; "" for an
  // empty id.
  std::string HashUserId(std::string_view user_id) const;

  // Logs one line at info level if this RPC is sampled:
  // "access method=Recommend code=OK latency_ms=0.412 user=3fa9c1e2b7d0".
  void Record(std::string_view method, std::string_view code,
              double latency_seconds, std::string_view user_id);

  // Logs a failure on the server's side (`code` INTERNAL, DATA_LOSS,
  // UNAVAILABLE, UNKNOWN or RESOURCE_EXHAUSTED other than load shedding)
  // at warning level with its message, whatever the sample: at most one
  // line per 5 s, which counts the ones skipped since. Messages of those
  // codes name directories and causes, never a user id. Other codes are
  // the client's and are not logged here.
  void Fault(std::string_view method, std::string_view code,
             std::string_view message, int64_t now_ns);

 private:
  bool Sampled();
  std::atomic<int64_t> last_fault_ns_{0};
  std::atomic<uint64_t> skipped_faults_{0};
  const uint64_t threshold_;  // sampled iff hash(counter) < threshold_
  const bool all_;
  std::string salt_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_LOGGING_H_
