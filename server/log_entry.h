// The entries of cluster mode's replicated log (proto/aisle/cluster/v1/
// log_entry.proto): one per write RPC, built by the node that took the
// write with every default already filled, so that every node applies the
// same thing. Shapes only: the writes were validated before (validation.h).
//
// Thread safety: pure functions.
#ifndef AISLE_SERVER_LOG_ENTRY_H_
#define AISLE_SERVER_LOG_ENTRY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aisle/cluster/v1/log_entry.pb.h"
#include "core/types.h"

namespace aisle::server {

// Serialized entries. `now_ms` is when the node took the write.
// `skip_id_conflicts`: Events.skip_id_conflicts (log_entry.proto).
std::string EventsEntry(const std::vector<core::Event>& events, int64_t now_ms,
                        bool skip_id_conflicts);
std::string UpsertItemsEntry(const std::vector<core::Item>& items,
                             int64_t now_ms);
std::string DeleteItemsEntry(const std::vector<std::string>& item_ids,
                             int64_t now_ms);
std::string UpsertUsersEntry(const std::vector<core::UserAttributes>& users,
                             int64_t now_ms);
// Holds UserDigest(user_id), not the id (delete_user_digest).
std::string DeleteUserEntry(const std::string& user_id, int64_t now_ms);
std::string MergeUsersEntry(const std::string& from, const std::string& to,
                            int64_t now_ms);
std::string ActivateModelEntry(const std::string& version, int64_t now_ms);

// The 32-byte SHA-256 of a domain tag and `user_id`: what a DeleteUser
// entry holds instead of the id. Anyone holding a candidate id can test
// it against a digest (ids are often guessable), so a digest says "this id
// was erased at this time" to whoever already knows the id, and nothing
// about the erased user's data, which is gone from the log and every node.
std::string UserDigest(std::string_view user_id);

// The de-duplication id of an entry that has no natural one (items, users'
// attributes, user erasure, model activation): unique per call. Retrying those
// writes through another node appends them again, which is harmless: applying
// them twice leaves the same state.
std::string UniqueEntryId();

// Parses an entry. DataLoss when the bytes are not an entry this version
// understands (e.g. written by a newer Aisle).
absl::StatusOr<cluster::v1::LogEntry> ParseLogEntry(std::string_view payload);

}  // namespace aisle::server

#endif  // AISLE_SERVER_LOG_ENTRY_H_
