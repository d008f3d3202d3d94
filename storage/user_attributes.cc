// Users' own attributes (UpsertUsers): PutUsers, GetUserAttributes,
// ScanUserAttributes. They live in the users column family under
// UserAttributesKey (storage/codec.h); EraseUser deletes and purges them
// with the rest of the user (users.cc).
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/string_view.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

// DataLoss naming the record if it does not decode.
absl::StatusOr<core::UserAttributes> DecodeStoredUser(std::string_view key,
                                                      std::string_view value) {
  absl::StatusOr<core::UserAttributes> user = DecodeUserAttributes(value);
  if (!user.ok()) {
    return absl::DataLossError(absl::StrCat(
        "attributes of user '",
        core::ToAbsl(key.substr(kUserAttributesPrefix.size())), "': ",
        user.status().message(), ": restore from a backup (aisle restore)"));
  }
  return user;
}

}  // namespace

absl::Status Store::PutUsers(std::span<const core::UserAttributes> users,
                             uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  for (const core::UserAttributes& user : users) {
    if (absl::Status s = CheckUserIdKey(user.user_id); !s.ok()) return s;
  }
  if (users.empty() && log_sequence == 0) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  for (const core::UserAttributes& user : users) {
    const std::string key = UserAttributesKey(user.user_id);
    if (user.attributes.empty()) {
      batch.Delete(impl.users, key);
    } else {
      batch.Put(impl.users, key, EncodeUserAttributes(user));
    }
    if (log_sequence != 0 && impl.log_refs != nullptr) {
      batch.Put(impl.log_refs, LogRefKey(user.user_id, log_sequence),
                ToSlice(kAttributesLogRef));
    }
  }
  impl.RecordLogSequence(&batch, log_sequence);
  return impl.Write(&batch, impl.SyncEvents(), "storing user attributes");
}

absl::StatusOr<core::UserAttributes> Store::GetUserAttributes(
    std::string_view user_id) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  const std::string key = UserAttributesKey(user_id);
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      impl.db->Get(rocksdb::ReadOptions(), impl.users, key, &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("user '", core::ToAbsl(user_id), "' has no attributes"));
  }
  if (!s.ok()) return impl.Error(s, "reading user attributes");
  return DecodeStoredUser(key, ToView(value));
}

absl::Status Store::ScanUserAttributes(
    const std::function<absl::Status(std::span<const core::UserAttributes>)>&
        fn,
    size_t batch_size) const {
  const Impl& impl = *impl_;
  batch_size = std::max<size_t>(batch_size, 1);
  rocksdb::ManagedSnapshot snapshot(impl.db);
  std::vector<core::UserAttributes> batch;
  absl::Status s = impl.ForEachInPrefix(
      impl.users, kUserAttributesPrefix,
      Impl::BulkReadOptions(snapshot.snapshot()), "scanning user attributes",
      [&](std::string_view key, std::string_view value) -> absl::Status {
        absl::StatusOr<core::UserAttributes> user =
            DecodeStoredUser(key, value);
        if (!user.ok()) return user.status();
        batch.push_back(*std::move(user));
        if (batch.size() < batch_size) return absl::OkStatus();
        absl::Status status = fn(batch);
        batch.clear();
        return status;
      });
  if (!s.ok()) return s;
  return batch.empty() ? absl::OkStatus() : fn(batch);
}

}  // namespace aisle::storage
