#include "server/recommendation_id.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/string_view.h"
#include "server/config.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

constexpr size_t kMinKeyBytes = 32;
constexpr size_t kMacBytes = 16;  // 128 bits: forging takes 2^128 guesses
constexpr int64_t kFutureSkewMs = 5 * 60 * 1000;
constexpr char kKeyFileName[] = "attribution.key";

// OpenSSL fails here only without memory (or without its default
// provider): nothing to answer with, so the process stops, saying why.
void OrDie(bool ok, const char* what) {
  if (ok) return;
  spdlog::critical("HMAC-SHA256 of recommendation ids: {} failed", what);
  std::abort();
}

bool IsHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return !text.empty();
}

absl::StatusOr<std::vector<std::string>> ReadKeys(const std::string& path,
                                                  const std::string& flag) {
  std::vector<std::string> keys;
  absl::Status read = ForEachFlagFileLine(
      flag, path, [&](absl::string_view text, int line_no) -> absl::Status {
        if (!IsHex(text) || text.size() % 2 != 0 ||
            text.size() / 2 < kMinKeyBytes) {
          return absl::InvalidArgumentError(absl::StrCat(
              flag, ": ", path, ":", line_no, ": expected a key of at least ",
              kMinKeyBytes, " bytes in hex (e.g. `openssl rand -hex 32`)"));
        }
        keys.push_back(absl::HexStringToBytes(text));
        return absl::OkStatus();
      });
  if (!read.ok()) return read;
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" holds no key"));
  }
  return keys;
}

// Creates <data_dir>/attribution.key with a random key, readable by the
// owner only; an existing file is kept.
absl::Status GenerateKeyFile(const std::string& path) {
  unsigned char key[kMinKeyBytes];
  if (RAND_bytes(key, sizeof(key)) != 1) {
    return absl::InternalError("no randomness for the attribution key");
  }
  const std::string text = absl::StrCat(
      "# HMAC key of recommendation ids (docs/security.md); keep secret\n",
      absl::BytesToHexString(
          absl::string_view(reinterpret_cast<const char*>(key), sizeof(key))),
      "\n");
  OPENSSL_cleanse(key, sizeof(key));
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  const bool written = write(fd, text.data(), text.size()) ==
                           static_cast<ssize_t>(text.size()) &&
                       fsync(fd) == 0;
  close(fd);
  if (!written) {
    std::filesystem::remove(path);
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  spdlog::info("generated the attribution key {}", path);
  return absl::OkStatus();
}

}  // namespace

std::string_view IdRejectionName(IdRejection r) {
  switch (r) {
    case IdRejection::kMalformed:
      return "malformed";
    case IdRejection::kForged:
      return "forged";
    case IdRejection::kExpired:
      return "expired";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<RecommendationIds>> RecommendationIds::Open(
    const std::string& key_file, const std::string& data_dir, int64_t ttl_ms) {
  std::string path = key_file;
  if (path.empty()) {
    path = absl::StrCat(data_dir, "/", kKeyFileName);
    if (absl::Status status = GenerateKeyFile(path); !status.ok()) {
      return status;
    }
  }
  absl::StatusOr<std::vector<std::string>> keys =
      ReadKeys(path, "--attribution-key");
  if (!keys.ok()) return keys.status();
  return std::make_unique<RecommendationIds>(*std::move(keys), ttl_ms);
}

namespace {

// Where a thread keeps its working copy of the keyed context it used last
// (copying the keyed context for every id cost about 0.7 us of a TRENDING
// call's 31 us of server CPU). `id` tells a copy of this KeyedMac from one
// of another, even one at the same address after the first was destroyed.
struct ThreadMac {
  uint64_t id = 0;
  EVP_MAC_CTX* ctx = nullptr;
  ThreadMac() = default;
  ThreadMac(const ThreadMac&) = delete;
  ThreadMac& operator=(const ThreadMac&) = delete;
  ~ThreadMac() { EVP_MAC_CTX_free(ctx); }
};
std::atomic<uint64_t> next_mac_id{1};

}  // namespace

class RecommendationIds::KeyedMac {
 public:
  explicit KeyedMac(const std::string& key) : id_(next_mac_id.fetch_add(1)) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    OrDie(mac != nullptr, "EVP_MAC_fetch");
    ctx_ = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  // the context keeps its own reference
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    OrDie(ctx_ != nullptr &&
              EVP_MAC_init(ctx_,
                           reinterpret_cast<const unsigned char*>(key.data()),
                           key.size(), params) == 1,
          "EVP_MAC_init");
  }
  ~KeyedMac() { EVP_MAC_CTX_free(ctx_); }
  KeyedMac(const KeyedMac&) = delete;
  KeyedMac& operator=(const KeyedMac&) = delete;

  // Hex of the first kMacBytes of HMAC-SHA256(key, signed_part '\n' user).
  // Thread-safe: each thread works on its own copy of the keyed context,
  // made once and re-initialised (same key) for every call after.
  std::string Hex(absl::string_view signed_part,
                  absl::string_view user_id) const {
    thread_local ThreadMac mine;
    if (mine.id != id_) {
      EVP_MAC_CTX_free(mine.ctx);
      mine.ctx = EVP_MAC_CTX_dup(ctx_);
      OrDie(mine.ctx != nullptr, "EVP_MAC_CTX_dup");
      mine.id = id_;
    }
    EVP_MAC_CTX* c = mine.ctx;
    // A null key keeps the key the copy has: HMAC starts over with it.
    OrDie(EVP_MAC_init(c, nullptr, 0, nullptr) == 1, "EVP_MAC_init");
    unsigned char digest[EVP_MAX_MD_SIZE];
    size_t length = 0;
    for (absl::string_view part :
         {signed_part, absl::string_view("\n"), user_id}) {
      EVP_MAC_update(c, reinterpret_cast<const unsigned char*>(part.data()),
                     part.size());
    }
    const bool ok = EVP_MAC_final(c, digest, &length, sizeof(digest)) == 1;
    OrDie(ok && length >= kMacBytes, "EVP_MAC_final");
    return absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(digest), kMacBytes));
  }

 private:
  const uint64_t id_;
  EVP_MAC_CTX* ctx_ = nullptr;
};

RecommendationIds::RecommendationIds(std::vector<std::string> keys,
                                     int64_t ttl_ms)
    : ttl_ms_(ttl_ms) {
  for (const std::string& key : keys) {
    macs_.push_back(std::make_unique<const KeyedMac>(key));
  }
}

RecommendationIds::~RecommendationIds() = default;

std::string RecommendationIds::Issue(core::Scenario scenario,
                                     std::string_view variant,
                                     std::string_view user_id,
                                     int64_t now_ms) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string signed_part = absl::StrCat(
      "r2-", static_cast<int>(scenario), "-", core::ToAbsl(variant), "-",
      absl::Hex(now_ms / 1000), "-", absl::Hex(rng(), absl::kZeroPad16), "-",
      user_id.empty() ? "a" : "u");
  return absl::StrCat(signed_part, "-",
                      macs_.front()->Hex(signed_part, core::ToAbsl(user_id)));
}

RecommendationIds::Checked RecommendationIds::Check(std::string_view id,
                                                    std::string_view user_id,
                                                    int64_t now_ms) const {
  Checked result;
  const absl::string_view text = core::ToAbsl(id);
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  if (parts.size() != 7 || parts[0] != "r2") return result;
  int scenario = 0;
  if (!absl::SimpleAtoi(parts[1], &scenario) || scenario < 1 ||
      scenario >= core::kNumScenarios) {
    return result;
  }
  if (parts[2].empty() || parts[2].size() > 64) return result;
  for (char c : parts[2]) {
    if (!absl::ascii_isalnum(c) && c != '_') return result;
  }
  uint64_t issued_s = 0;
  if (!IsHex(parts[3]) || parts[3].size() > 12 ||
      !absl::SimpleHexAtoi(parts[3], &issued_s)) {
    return result;
  }
  if (parts[4].size() != 16 || !IsHex(parts[4])) return result;
  if (parts[5] != "u" && parts[5] != "a") return result;
  if (parts[6].size() != 2 * kMacBytes || !IsHex(parts[6])) return result;

  const absl::string_view signed_part =
      text.substr(0, text.size() - parts[6].size() - 1);
  const absl::string_view bound_user =
      parts[5] == "a" ? absl::string_view() : core::ToAbsl(user_id);
  const std::string presented = absl::AsciiStrToLower(parts[6]);
  bool authentic = false;
  for (const auto& mac : macs_) {
    const std::string expected = mac->Hex(signed_part, bound_user);
    // Constant time, so that timing does not reveal how much of a guess
    // was right.
    authentic |=
        CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) == 0;
  }
  if (!authentic) {
    result.rejection = IdRejection::kForged;
    return result;
  }
  const int64_t issued_ms = static_cast<int64_t>(issued_s) * 1000;
  if (now_ms - issued_ms > ttl_ms_ || issued_ms - now_ms > kFutureSkewMs) {
    result.rejection = IdRejection::kExpired;
    return result;
  }
  result.parts = RecommendationIdParts{static_cast<core::Scenario>(scenario),
                                       std::string(parts[2]), issued_ms};
  return result;
}

}  // namespace aisle::server
