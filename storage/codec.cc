// Encoders and decoders of storage/codec.h over a small varint writer and a
// bounds-checked reader, and the key builders.
#include "storage/codec.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/string_view.h"

namespace aisle::storage {
namespace {

class Writer {
 public:
  explicit Writer(uint8_t format) { out_.push_back(static_cast<char>(format)); }

  void Byte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Signed(int64_t v) {
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Double(double d) {
    uint64_t bits = std::bit_cast<uint64_t>(d);
    for (int i = 0; i < 8; ++i) {
      out_.push_back(static_cast<char>(bits & 0xff));
      bits >>= 8;
    }
  }
  void String(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  void Strings(const std::vector<std::string>& list) {
    Varint(list.size());
    for (const std::string& s : list) String(s);
  }
  // A count, then key and value of each entry.
  template <typename V>
  void Map(const std::map<std::string, V>& map) {
    Varint(map.size());
    for (const auto& [k, v] : map) {
      String(k);
      Value(v);
    }
  }

  std::string Finish() && { return std::move(out_); }

 private:
  void Value(std::string_view s) { String(s); }
  void Value(double d) { Double(d); }

  std::string out_;
};

// Every getter returns false (and leaves the reader failed) on malformed
// input; callers check ok() once at the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool Format(uint8_t expected) {
    uint8_t b = 0;
    return Byte(&b) && (b == expected || Fail());
  }
  bool Byte(uint8_t* b) {
    if (!ok_ || in_.empty()) return Fail();
    *b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!Byte(&b)) return false;
      // The tenth byte may only carry the top bit of a 64-bit value.
      if (shift == 63 && b > 1) return Fail();
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return Fail();
  }
  bool Signed(int64_t* v) {
    uint64_t u = 0;
    if (!Varint(&u)) return false;
    *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  bool Int(int* v) {
    int64_t wide = 0;
    if (!Signed(&wide)) return false;
    if (wide < INT32_MIN || wide > INT32_MAX) return Fail();
    *v = static_cast<int>(wide);
    return true;
  }
  bool Double(double* d) {
    if (!ok_ || in_.size() < 8) return Fail();
    uint64_t bits = 0;
    for (int i = 7; i >= 0; --i) {
      bits = (bits << 8) | static_cast<uint8_t>(in_[i]);
    }
    in_.remove_prefix(8);
    *d = std::bit_cast<double>(bits);
    return true;
  }
  bool String(std::string* s) {
    uint64_t n = 0;
    if (!Varint(&n)) return false;
    if (n > in_.size()) return Fail();
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool Count(uint64_t* n) {
    if (!Varint(n)) return false;
    // Every element takes at least a byte, so a larger count is corrupt;
    // rejecting it early stops a bad count from driving a huge allocation.
    if (*n > in_.size()) return Fail();
    return true;
  }
  bool Strings(std::vector<std::string>* list) {
    uint64_t n = 0;
    if (!Count(&n)) return false;
    for (uint64_t i = 0; i < n; ++i) {
      if (!String(&list->emplace_back())) return false;
    }
    return true;
  }
  // Reads what Writer::Map wrote; a repeated key keeps its last value.
  template <typename V>
  bool Map(std::map<std::string, V>* map) {
    uint64_t n = 0;
    if (!Count(&n)) return false;
    for (uint64_t i = 0; i < n; ++i) {
      std::string k;
      V v{};
      if (!String(&k) || !Value(&v)) return false;
      map->insert_or_assign(std::move(k), std::move(v));
    }
    return true;
  }
  bool Bool(bool* b) {
    uint8_t byte = 0;
    if (!Byte(&byte)) return false;
    if (byte > 1) return Fail();
    *b = byte == 1;
    return true;
  }

  // OK if every read succeeded and the input was consumed exactly.
  absl::Status Done(std::string_view what) const {
    if (ok_ && in_.empty()) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(
        "malformed ", core::ToAbsl(what), " record",
        ok_ ? " (trailing bytes)" : " (truncated or invalid field)"));
  }

 private:
  bool Value(std::string* s) { return String(s); }
  bool Value(double* d) { return Double(d); }
  bool Fail() {
    ok_ = false;
    return false;
  }

  std::string_view in_;
  bool ok_ = true;
};

void PutBigEndian64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

}  // namespace

std::string EncodeEvent(const core::Event& event) {
  // A query (SEARCH) makes it format 2; without one the bytes are those
  // every earlier build wrote.
  const bool v2 = !event.query.empty();
  Writer w(v2 ? kFormatV2 : kFormatV1);
  w.String(event.event_id);
  w.String(event.user_id);
  w.String(event.item_id);
  w.Byte(static_cast<uint8_t>(event.type));
  w.Double(event.value);
  w.Signed(event.timestamp_ms);
  w.String(event.recommendation_id);
  if (v2) w.String(event.query);
  return std::move(w).Finish();
}

absl::StatusOr<core::Event> DecodeEvent(std::string_view bytes) {
  const bool v2 = !bytes.empty() && static_cast<uint8_t>(bytes[0]) == kFormatV2;
  Reader r(bytes);
  core::Event e;
  uint8_t type = 0;
  const bool ok = r.Format(v2 ? kFormatV2 : kFormatV1) &&
                  r.String(&e.event_id) && r.String(&e.user_id) &&
                  r.String(&e.item_id) && r.Byte(&type) && r.Double(&e.value) &&
                  r.Signed(&e.timestamp_ms) && r.String(&e.recommendation_id) &&
                  (!v2 || (r.String(&e.query) && !e.query.empty()));
  if (absl::Status s = r.Done("event"); !s.ok()) return s;
  // Format 2 with an empty query would not re-encode to the same bytes.
  if (!ok) return absl::DataLossError("malformed event record (empty query)");
  if (type >= core::kNumEventTypes) {
    return absl::DataLossError(
        absl::StrCat("malformed event record (event type ", type, ")"));
  }
  e.type = static_cast<core::EventType>(type);
  return e;
}

std::string EncodeItem(const core::Item& item) {
  Writer w(kFormatV1);
  w.String(item.item_id);
  w.String(item.title);
  w.Strings(item.categories);
  w.Strings(item.tags);
  w.Double(item.price);
  w.Byte(item.available ? 1 : 0);
  w.Map(item.attributes);
  w.Signed(item.updated_at_ms);
  return std::move(w).Finish();
}

absl::StatusOr<core::Item> DecodeItem(std::string_view bytes) {
  Reader r(bytes);
  core::Item item;
  r.Format(kFormatV1) && r.String(&item.item_id) && r.String(&item.title) &&
      r.Strings(&item.categories) && r.Strings(&item.tags) &&
      r.Double(&item.price) && r.Bool(&item.available) &&
      r.Map(&item.attributes) && r.Signed(&item.updated_at_ms);
  if (absl::Status s = r.Done("item"); !s.ok()) return s;
  return item;
}

std::string EncodeUserAttributes(const core::UserAttributes& user) {
  Writer w(kFormatV1);
  w.String(user.user_id);
  w.Map(user.attributes);
  w.Signed(user.updated_at_ms);
  return std::move(w).Finish();
}

absl::StatusOr<core::UserAttributes> DecodeUserAttributes(
    std::string_view bytes) {
  Reader r(bytes);
  core::UserAttributes user;
  r.Format(kFormatV1) && r.String(&user.user_id) && r.Map(&user.attributes) &&
      r.Signed(&user.updated_at_ms);
  if (absl::Status s = r.Done("user attributes"); !s.ok()) return s;
  return user;
}

std::string UserAttributesKey(std::string_view user_id) {
  std::string key(kUserAttributesPrefix);
  key.append(user_id);
  return key;
}

std::string EncodeUserRecord(const UserRecord& record) {
  Writer w(kFormatV1);
  w.Signed(record.first_seen_ms);
  w.Signed(record.last_seen_ms);
  w.Varint(record.counts.size());
  for (int64_t c : record.counts) w.Signed(c);
  return std::move(w).Finish();
}

absl::StatusOr<UserRecord> DecodeUserRecord(std::string_view bytes) {
  Reader r(bytes);
  UserRecord record;
  uint64_t n = 0;
  bool ok = r.Format(kFormatV1) && r.Signed(&record.first_seen_ms) &&
            r.Signed(&record.last_seen_ms) && r.Count(&n);
  if (ok && n > record.counts.size()) {
    return absl::DataLossError(
        absl::StrCat("malformed user record (", n, " event types)"));
  }
  for (uint64_t i = 0; ok && i < n; ++i) ok = r.Signed(&record.counts[i]);
  if (absl::Status s = r.Done("user"); !s.ok()) return s;
  return record;
}

UserRecord UserRecordOf(const core::Event& e) {
  UserRecord one;
  one.first_seen_ms = one.last_seen_ms = e.timestamp_ms;
  one.counts[static_cast<size_t>(e.type)] = 1;
  return one;
}

UserRecord CombineUserRecords(const UserRecord& a, const UserRecord& b) {
  UserRecord out;
  out.first_seen_ms = std::min(a.first_seen_ms, b.first_seen_ms);
  out.last_seen_ms = std::max(a.last_seen_ms, b.last_seen_ms);
  // Added modulo 2^64: a corrupt operand (any bytes that decode) must not
  // make the merge undefined behaviour, and wrapping, unlike saturating,
  // keeps it associative. Real counts are far from the limit.
  for (size_t i = 0; i < out.counts.size(); ++i) {
    out.counts[i] = static_cast<int64_t>(static_cast<uint64_t>(a.counts[i]) +
                                         static_cast<uint64_t>(b.counts[i]));
  }
  return out;
}

std::string EncodeStoredModel(const StoredModel& model) {
  const core::ModelMetadata& m = model.metadata;
  Writer w(kFormatV1);
  w.String(m.version);
  w.Signed(m.trained_at_ms);
  w.Signed(m.factors);
  w.Signed(m.users);
  w.Signed(m.items);
  w.Signed(m.interactions);
  w.Map(m.metrics);
  w.Map(m.parameters);
  w.Signed(model.blob_bytes);
  return std::move(w).Finish();
}

absl::StatusOr<StoredModel> DecodeStoredModel(std::string_view bytes) {
  Reader r(bytes);
  StoredModel model;
  core::ModelMetadata& m = model.metadata;
  r.Format(kFormatV1) && r.String(&m.version) && r.Signed(&m.trained_at_ms) &&
      r.Int(&m.factors) && r.Signed(&m.users) && r.Signed(&m.items) &&
      r.Signed(&m.interactions) && r.Map(&m.metrics) && r.Map(&m.parameters) &&
      r.Signed(&model.blob_bytes);
  if (absl::Status s = r.Done("model metadata"); !s.ok()) return s;
  return model;
}

std::string EncodeIdempotencyRecord(const IdempotencyRecord& record) {
  Writer w(kFormatV2);
  w.String(record.user_id);
  w.Signed(record.timestamp_ms);
  w.Signed(record.stored_at_ms);
  return std::move(w).Finish();
}

absl::StatusOr<IdempotencyRecord> DecodeIdempotencyRecord(
    std::string_view bytes) {
  const bool v1 = !bytes.empty() && static_cast<uint8_t>(bytes[0]) == kFormatV1;
  Reader r(bytes);
  IdempotencyRecord record;
  r.Format(v1 ? kFormatV1 : kFormatV2) && r.String(&record.user_id) &&
      r.Signed(&record.timestamp_ms) && (v1 || r.Signed(&record.stored_at_ms));
  if (absl::Status s = r.Done("idempotency key"); !s.ok()) return s;
  return record;
}

std::string EventKey(std::string_view user_id, int64_t timestamp_ms,
                     uint64_t sequence) {
  std::string key = UserKeyPrefix(user_id);
  key.reserve(key.size() + 16);
  PutBigEndian64(static_cast<uint64_t>(timestamp_ms) ^ (uint64_t{1} << 63),
                 &key);
  PutBigEndian64(sequence, &key);
  return key;
}

std::optional<int64_t> EventKeyTimestamp(std::string_view key) {
  const size_t nul = key.find('\0');
  if (nul == std::string_view::npos || key.size() != nul + 1 + 16) {
    return std::nullopt;
  }
  uint64_t ts = 0;
  for (size_t i = nul + 1; i < nul + 9; ++i) {
    ts = (ts << 8) | static_cast<unsigned char>(key[i]);
  }
  return static_cast<int64_t>(ts ^ (uint64_t{1} << 63));
}

std::optional<uint64_t> EventKeySequence(std::string_view key) {
  if (!EventKeyTimestamp(key).has_value()) return std::nullopt;
  uint64_t seq = 0;
  for (size_t i = key.size() - 8; i < key.size(); ++i) {
    seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  }
  return seq;
}

std::string EncodeLogRefValue(const LogRefValue& value) {
  std::string out = value.kind;
  for (const std::string& alias : value.aliases) {
    out.push_back('\0');
    out.append(alias);
  }
  return out;
}

LogRefValue DecodeLogRefValue(std::string_view bytes) {
  LogRefValue value;
  size_t end = bytes.find('\0');
  value.kind = std::string(bytes.substr(0, end));
  while (end != std::string_view::npos) {
    const size_t start = end + 1;
    end = bytes.find('\0', start);
    value.aliases.emplace_back(bytes.substr(start, end - start));
  }
  return value;
}

std::string LogRefKey(std::string_view user_id, uint64_t log_sequence) {
  std::string key = UserKeyPrefix(user_id);
  PutBigEndian64(log_sequence, &key);
  return key;
}

std::optional<uint64_t> LogRefSequence(std::string_view key) {
  if (key.size() < 9 || key[key.size() - 9] != '\0') return std::nullopt;
  uint64_t seq = 0;
  for (size_t i = key.size() - 8; i < key.size(); ++i) {
    seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  }
  return seq;
}

std::string EventLogKey(uint64_t sequence) {
  std::string key(kEventLogPrefix);
  PutBigEndian64(sequence, &key);
  return key;
}

std::string SnapshotPieceKey(uint64_t generation, uint32_t index) {
  std::string key(kSnapshotPiecePrefix);
  PutBigEndian64(generation, &key);
  for (int shift = 24; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((index >> shift) & 0xFF));
  }
  return key;
}

std::string EncodeSnapshotManifest(const SnapshotManifest& manifest) {
  Writer w(kFormatV1);
  w.Varint(manifest.generation);
  w.Varint(manifest.pieces);
  w.Varint(manifest.bytes);
  w.Varint(manifest.position.event_sequence);
  w.Varint(manifest.position.log_sequence);
  w.Signed(manifest.written_at_ms);
  return std::move(w).Finish();
}

absl::StatusOr<SnapshotManifest> DecodeSnapshotManifest(
    std::string_view bytes) {
  Reader r(bytes);
  SnapshotManifest m;
  uint64_t pieces = 0;
  r.Format(kFormatV1) && r.Varint(&m.generation) && r.Varint(&pieces) &&
      r.Varint(&m.bytes) && r.Varint(&m.position.event_sequence) &&
      r.Varint(&m.position.log_sequence) && r.Signed(&m.written_at_ms);
  if (absl::Status s = r.Done("snapshot manifest"); !s.ok()) return s;
  if (pieces > UINT32_MAX) {
    return absl::DataLossError("snapshot manifest: too many pieces");
  }
  m.pieces = static_cast<uint32_t>(pieces);
  return m;
}

std::string UserKeyPrefix(std::string_view user_id) {
  std::string prefix;
  prefix.reserve(user_id.size() + 1);
  prefix.append(user_id);
  prefix.push_back('\0');
  return prefix;
}

std::string ModelMetaKey(std::string_view version) {
  std::string key(kModelMetaPrefix);
  key.append(version);
  return key;
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty()) {
    if (static_cast<uint8_t>(out.back()) != 0xff) {
      out.back() = static_cast<char>(static_cast<uint8_t>(out.back()) + 1);
      return out;
    }
    out.pop_back();
  }
  return out;
}

}  // namespace aisle::storage
