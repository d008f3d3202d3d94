#include "server/log_entry.h"

#include <openssl/sha.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/convert.h"

namespace aisle::server {
namespace {

std::string Serialize(cluster::v1::LogEntry& entry, int64_t now_ms) {
  entry.set_written_at_ms(now_ms);
  return entry.SerializeAsString();
}

}  // namespace

std::string EventsEntry(const std::vector<core::Event>& events, int64_t now_ms,
                        bool skip_id_conflicts) {
  cluster::v1::LogEntry entry;
  cluster::v1::Events* out = entry.mutable_events();
  out->set_skip_id_conflicts(skip_id_conflicts);
  for (const core::Event& e : events) ToProtoEvent(e, out->add_events());
  return Serialize(entry, now_ms);
}

std::string UpsertItemsEntry(const std::vector<core::Item>& items,
                             int64_t now_ms) {
  cluster::v1::LogEntry entry;
  cluster::v1::Items* out = entry.mutable_upsert_items();
  for (const core::Item& item : items) ToProtoItem(item, out->add_items());
  return Serialize(entry, now_ms);
}

std::string DeleteItemsEntry(const std::vector<std::string>& item_ids,
                             int64_t now_ms) {
  cluster::v1::LogEntry entry;
  for (const std::string& id : item_ids) {
    entry.mutable_delete_items()->add_item_ids(id);
  }
  return Serialize(entry, now_ms);
}

std::string UpsertUsersEntry(const std::vector<core::UserAttributes>& users,
                             int64_t now_ms) {
  cluster::v1::LogEntry entry;
  cluster::v1::Users* out = entry.mutable_upsert_users();
  for (const core::UserAttributes& user : users) {
    ToProtoUser(user, out->add_users());
  }
  return Serialize(entry, now_ms);
}

std::string DeleteUserEntry(const std::string& user_id, int64_t now_ms) {
  cluster::v1::LogEntry entry;
  entry.set_delete_user_digest(UserDigest(user_id));
  return Serialize(entry, now_ms);
}

std::string MergeUsersEntry(const std::string& from, const std::string& to,
                            int64_t now_ms) {
  cluster::v1::LogEntry entry;
  entry.mutable_merge_users()->set_from_user_id(from);
  entry.mutable_merge_users()->set_to_user_id(to);
  return Serialize(entry, now_ms);
}

std::string ActivateModelEntry(const std::string& version, int64_t now_ms) {
  cluster::v1::LogEntry entry;
  entry.set_activate_model(version);
  return Serialize(entry, now_ms);
}

std::string UserDigest(std::string_view user_id) {
  // The tag keeps these digests apart from any other SHA-256 of an id.
  std::string input("aisle.user-erasure.v1");
  input.push_back('\0');
  input.append(user_id);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string UniqueEntryId() {
  // 128 random bits: a clash with another entry's id inside the
  // de-duplication window is negligible. One generator per thread (BitGen
  // is not thread-safe).
  thread_local absl::BitGen gen;
  return absl::StrCat(
      "w1-", absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16),
      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

absl::StatusOr<cluster::v1::LogEntry> ParseLogEntry(std::string_view payload) {
  cluster::v1::LogEntry entry;
  if (!entry.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
      entry.kind_case() == cluster::v1::LogEntry::KIND_NOT_SET) {
    return absl::DataLossError(absl::StrCat(
        "a log entry of ", payload.size(),
        " bytes is not one this aisle understands (written by a newer "
        "version?): upgrade this node"));
  }
  return entry;
}

}  // namespace aisle::server
