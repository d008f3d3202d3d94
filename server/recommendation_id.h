// Recommendation ids: the server stamps every Recommend answer with one;
// clients echo it in the events that follow (Event.recommendation_id), and
// the server counts those events per scenario and variant
// (aisle_attributed_events_total, docs/metrics.md). Ids are signed, so
// that a client cannot make up an id (or reuse another user's) to inflate
// a variant's conversions.
//
// Format: "r2-<scenario number>-<variant>-<issued, unix seconds in hex>-
// <16 hex random>-<user flag>-<32 hex MAC>", e.g.
// "r2-1-default-6571f0a2-3fa9c1e2b7d04a11-u-<mac>". The MAC is the first
// 16 bytes of HMAC-SHA256(key, every field before it, '-'-joined, then
// '\n' and the user id). The user id is not in the id (ids travel through
// browsers and logs); it is bound by the MAC: the user flag is "u" when
// the Recommend named a user, and only events of that user verify, or "a"
// for an anonymous Recommend, whose id verifies for any user (a visitor
// who signs in later keeps the attribution).
//
// Verification outcomes are counted in
// aisle_attribution_rejected_total{reason} (malformed, forged, expired):
// such events are stored like any other, only not attributed.
//
// Keys: a file of hex keys (at least 32 bytes each), one per line; the
// first signs, every line verifies, so a key is rotated by putting a new
// one first and dropping the old one after the ttl. Without --attribution-
// key the server generates <data-dir>/attribution.key (mode 0600) on its
// first start and reuses it.
//
// Thread safety: RecommendationIds is immutable after Open; Issue uses a
// thread-local random generator.
#ifndef AISLE_SERVER_RECOMMENDATION_ID_H_
#define AISLE_SERVER_RECOMMENDATION_ID_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/types.h"

namespace aisle::server {

// The only experiment variant the server issues today. Attribution counts
// only variants the server issued, so clients cannot create label series.
inline constexpr std::string_view kDefaultVariant = "default";

struct RecommendationIdParts {
  core::Scenario scenario = core::Scenario::kForYou;
  std::string variant;
  int64_t issued_ms = 0;
};

// Why an id did not count.
enum class IdRejection { kMalformed, kForged, kExpired };
inline constexpr int kNumIdRejections = 3;
std::string_view IdRejectionName(IdRejection r);  // "malformed", ...

class RecommendationIds {
 public:
  // Reads the keys from `key_file`, or when it is "" from
  // <data_dir>/attribution.key, generating it first if missing. Ids older
  // than ttl_ms (or issued more than 5 minutes in the future) are expired.
  // Errors: NotFound naming --attribution-key when the file cannot be
  // read; InvalidArgument naming it for a line that is not hex, a key
  // shorter than 32 bytes, or no key; Internal when the generated key
  // cannot be written.
  static absl::StatusOr<std::unique_ptr<RecommendationIds>> Open(
      const std::string& key_file, const std::string& data_dir, int64_t ttl_ms);
  // With the given raw keys (tests). REQUIRES: keys non-empty.
  RecommendationIds(std::vector<std::string> keys, int64_t ttl_ms);
  ~RecommendationIds();

  // REQUIRES: `variant` is 1..64 characters of [A-Za-z0-9_] (no '-').
  std::string Issue(core::Scenario scenario, std::string_view variant,
                    std::string_view user_id, int64_t now_ms) const;

  // The parts of an id this server issued to `user_id` within the ttl, or
  // why not.
  struct Checked {
    std::optional<RecommendationIdParts> parts;  // set iff valid
    IdRejection rejection = IdRejection::kMalformed;
  };
  Checked Check(std::string_view id, std::string_view user_id,
                int64_t now_ms) const;

 private:
  // One HMAC-SHA256 keyed with each key, set up once: a call copies it
  // (OpenSSL's one-shot HMAC looks the algorithm up and re-keys each time,
  // a few percent of a Recommend). [0] signs.
  class KeyedMac;
  std::vector<std::unique_ptr<const KeyedMac>> macs_;
  int64_t ttl_ms_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_RECOMMENDATION_ID_H_
