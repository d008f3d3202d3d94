// Binary encoding of the records Aisle keeps in RocksDB, and the key layout.
// Hand-written so that storage depends on neither protobuf nor gRPC.
//
// Every value starts with a format byte (kFormatV1) so that a later release
// can change a layout and still read old records. Fields follow in a fixed
// order: strings and repeated fields are varint-length-prefixed, integers
// are zigzag varints, doubles are 8 little-endian bytes of their IEEE bits.
// Decoders reject unknown format bytes, truncated input, out-of-range enum
// values, lengths that run past the end, and trailing bytes; they never read
// out of bounds, whatever the input.
//
// Thread safety: all functions are pure and safe to call concurrently.
#ifndef AISLE_STORAGE_CODEC_H_
#define AISLE_STORAGE_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/types.h"
#include "storage/records.h"

namespace aisle::storage {

inline constexpr uint8_t kFormatV1 = 1;
// Idempotency records since they carry stored_at_ms; events with a query
// (SEARCH), which end with it.
inline constexpr uint8_t kFormatV2 = 2;

// Format 1 without a query, 2 with one (decodes both).
std::string EncodeEvent(const core::Event& event);
// DataLoss on malformed input.
absl::StatusOr<core::Event> DecodeEvent(std::string_view bytes);

std::string EncodeItem(const core::Item& item);
absl::StatusOr<core::Item> DecodeItem(std::string_view bytes);

std::string EncodeUserRecord(const UserRecord& record);
absl::StatusOr<UserRecord> DecodeUserRecord(std::string_view bytes);
// The merge of two records of the same user: earliest first_seen, latest
// last_seen, counts added. Associative and commutative, so RocksDB may fold
// merge operands in any grouping.
UserRecord CombineUserRecords(const UserRecord& a, const UserRecord& b);
// The record of one event: seen at its timestamp, one of its type.
UserRecord UserRecordOf(const core::Event& e);

// A user's own attributes (users column family, UserAttributesKey).
std::string EncodeUserAttributes(const core::UserAttributes& user);
absl::StatusOr<core::UserAttributes> DecodeUserAttributes(
    std::string_view bytes);

std::string EncodeStoredModel(const StoredModel& model);
absl::StatusOr<StoredModel> DecodeStoredModel(std::string_view bytes);

// Writes kFormatV2. Decodes kFormatV2 and kFormatV1 (which has no
// stored_at_ms: it decodes as kStoredAtUnknown).
std::string EncodeIdempotencyRecord(const IdempotencyRecord& record);
absl::StatusOr<IdempotencyRecord> DecodeIdempotencyRecord(
    std::string_view bytes);

// --- Keys -------------------------------------------------------------------
// Events key: user_id '\0' ts(8B) seq(8B), both big-endian so that byte
// order is (user, time, arrival) order. The timestamp's sign bit is flipped
// so negative timestamps sort before positive ones. REQUIRES: user_id has no
// '\0' (the server rejects NUL in ids), which makes "user_id\0" a prefix
// that no other user's keys share.
std::string EventKey(std::string_view user_id, int64_t timestamp_ms,
                     uint64_t sequence);
// The timestamp in an events key; nullopt if `key` is not one.
std::optional<int64_t> EventKeyTimestamp(std::string_view key);
// "user_id\0": every events key of the user starts with it.
std::string UserKeyPrefix(std::string_view user_id);
// Users column family: "\0a" user_id -> a user's attributes. A user id
// never contains '\0', so these keys never meet a UserRecord's (the bare
// user id) and all sort together, first, for the scan at start-up.
inline constexpr std::string_view kUserAttributesPrefix{"\0a", 2};
std::string UserAttributesKey(std::string_view user_id);
// The smallest key greater than every key starting with `prefix`, or "" if
// there is none (prefix of all 0xff bytes); for iterate_upper_bound.
std::string PrefixSuccessor(std::string_view prefix);

// The sequence number in an events key; nullopt if `key` is not one.
std::optional<uint64_t> EventKeySequence(std::string_view key);

// Snapshot column family: 'L' seq(8B big-endian) -> events key, one per
// event appended (the arrival-ordered log of events not yet in a
// snapshot); 'C' generation(8B) index(4B) -> a snapshot piece; 'M' -> the
// manifest of the current snapshot; 'G' -> the open generation of the last
// snapshot-aware writer (decimal).
std::string EventLogKey(uint64_t sequence);
inline constexpr std::string_view kEventLogPrefix = "L";
inline constexpr std::string_view kSnapshotPiecePrefix = "C";
inline constexpr std::string_view kSnapshotManifestKey = "M";
inline constexpr std::string_view kSnapshotGenerationKey = "G";
std::string SnapshotPieceKey(uint64_t generation, uint32_t index);
struct SnapshotManifest {
  uint64_t generation = 0;
  uint32_t pieces = 0;
  uint64_t bytes = 0;
  SnapshotPosition position;
  int64_t written_at_ms = 0;
};
std::string EncodeSnapshotManifest(const SnapshotManifest& manifest);
absl::StatusOr<SnapshotManifest> DecodeSnapshotManifest(std::string_view bytes);

// Log refs column family (cluster mode): user_id '\0' log_sequence (8B
// big-endian) -> kind ('\0' alias)*: the replicated-log entries that hold
// the user's data, so that erasing the user can erase them from the log
// too. The kind is "" for an events entry, kAttributesLogRef for a users'
// attributes entry, kMergeLogRef for the MergeUsers entry that merged
// another user into this one. The aliases are the other ids under which
// the entry holds this user's data: the ids of users merged into it.
inline constexpr std::string_view kAttributesLogRef = "u";
inline constexpr std::string_view kMergeLogRef = "m";
// A log ref's value, and back.
struct LogRefValue {
  std::string kind;
  std::vector<std::string> aliases;
};
std::string EncodeLogRefValue(const LogRefValue& value);
LogRefValue DecodeLogRefValue(std::string_view bytes);
std::string LogRefKey(std::string_view user_id, uint64_t log_sequence);
// The log sequence in a LogRefKey; nullopt if `key` is not one.
std::optional<uint64_t> LogRefSequence(std::string_view key);

// Models column family: the blob under the bare version, its StoredModel
// under "meta:" version. A version must therefore not start with "meta:".
inline constexpr std::string_view kModelMetaPrefix = "meta:";
std::string ModelMetaKey(std::string_view version);

// Meta column family keys. Values are decimal integers (schema version,
// open generation) or model versions.
inline constexpr char kSchemaVersionKey[] = "schema_version";
inline constexpr char kOpenGenerationKey[] = "open_generation";
inline constexpr char kActiveModelKey[] = "active_model";
// Cluster mode: the last replicated-log entry applied (decimal).
inline constexpr char kAppliedLogSequenceKey[] = "applied_log_sequence";
inline constexpr char kPreviousActiveModelKey[] = "previous_active_model";
// "generation folded_through" (decimal): user-record deltas of events up
// to arrival sequence folded_through are in the users column family,
// written by the open of that generation (storage/user_deltas.cc).
inline constexpr char kUserDeltasKey[] = "user_deltas";
// Unix ms of the last Store::PurgeDeleted (written to end it, purge.cc).
inline constexpr char kLastPurgeKey[] = "last_purge_ms";

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_CODEC_H_
