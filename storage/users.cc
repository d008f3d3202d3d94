// Users: GetUser, EraseUser (every record of a user, attributes included,
// in one batch) and the CountUserRecords audit. Attributes: user_attributes.cc.
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/string_view.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {

absl::StatusOr<UserRecord> Store::GetUser(std::string_view user_id) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  // The stored record plus the events' deltas not folded into it yet.
  absl::ReaderMutexLock fold_lock(&impl.fold_mu);
  const std::optional<UserRecord> delta = impl.UserDelta(user_id);
  rocksdb::PinnableSlice value;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.users,
                                   ToSlice(user_id), &value);
  if (s.IsNotFound()) {
    if (delta.has_value()) return *delta;
    return absl::NotFoundError(
        absl::StrCat("user '", core::ToAbsl(user_id), "' not found"));
  }
  if (!s.ok()) return impl.Error(s, "reading a user record");
  absl::StatusOr<UserRecord> record = DecodeUserRecord(ToView(value));
  if (!record.ok()) {
    return absl::DataLossError(absl::StrCat(
        "user record '", core::ToAbsl(user_id), "': ",
        record.status().message(), ": restore from a backup (aisle restore)"));
  }
  if (delta.has_value()) return CombineUserRecords(*record, *delta);
  return record;
}

absl::StatusOr<EraseResult> Store::EraseUser(std::string_view user_id,
                                             uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  // A snapshot being stored finishes first (it then holds no erased user;
  // the erasure below drops it).
  std::lock_guard<std::mutex> snapshot_lock(impl.snapshot_mu);
  // No fold writes the user's record back while it is erased.
  absl::ReaderMutexLock fold_lock(&impl.fold_mu);
  absl::MutexLock erase_lock(&impl.erase_mu);
  // Counted before anything is erased: a snapshot taken at the old count
  // is refused from now on (Store::PutSnapshot).
  ++impl.erasures;

  EraseResult result;
  rocksdb::WriteBatch batch;
  std::vector<std::string> event_ids;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  absl::Status scanned = impl.ForEachInPrefix(
      impl.events, UserKeyPrefix(user_id), ro, "reading a user's events",
      [&](std::string_view key, std::string_view value) {
        batch.Delete(impl.events, ToSlice(key));
        if (std::optional<uint64_t> seq = EventKeySequence(key)) {
          batch.Delete(impl.snapshot, EventLogKey(*seq));
        }
        ++result.events_deleted;
        // A record that does not decode is still deleted; only its
        // idempotency key cannot be found from it.
        absl::StatusOr<core::Event> e = DecodeEvent(value);
        if (e.ok()) event_ids.push_back(std::move(e->event_id));
        return absl::OkStatus();
      });
  if (!scanned.ok()) return scanned;

  absl::StatusOr<int64_t> keys =
      impl.DeleteIdempotencyKeys(user_id, event_ids, &batch);
  if (!keys.ok()) return keys.status();
  // And those not folded yet, dropped once the batch is written.
  result.idempotency_keys_deleted =
      *keys + impl.CountPendingIds(user_id, event_ids);
  absl::StatusOr<std::vector<uint64_t>> refs =
      impl.MoveUserLogRefs(user_id, "", &batch);
  if (!refs.ok()) return refs.status();
  result.log_refs = *std::move(refs);

  std::string record;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.users,
                                   ToSlice(user_id), &record);
  if (s.ok()) {
    result.profile_deleted = true;
  } else if (!s.IsNotFound()) {
    return impl.Error(s, "reading a user record");
  }
  batch.Delete(impl.users, ToSlice(user_id));
  if (impl.UserDelta(user_id).has_value()) result.profile_deleted = true;
  const std::string attributes_key = UserAttributesKey(user_id);
  s = impl.db->Get(rocksdb::ReadOptions(), impl.users, attributes_key, &record);
  if (s.ok()) {
    result.profile_deleted = true;
  } else if (!s.IsNotFound()) {
    return impl.Error(s, "reading user attributes");
  }
  batch.Delete(impl.users, attributes_key);
  // The stored engine snapshot may hold the user: it goes, and the server
  // writes a new one (without the user) later.
  impl.DropSnapshotInBatch(&batch);
  impl.RecordLogSequence(&batch, log_sequence);
  if (absl::Status w = impl.Write(&batch, /*sync=*/true, "erasing a user");
      !w.ok()) {
    return w;
  }
  impl.EraseUserDelta(user_id);
  impl.DropPendingIds(user_id, event_ids);
  if (absl::Status p = impl.PurgeUser(user_id, event_ids); !p.ok()) return p;
  return result;
}

absl::Status Store::Impl::PurgeUser(std::string_view user_id,
                                    const std::vector<std::string>& event_ids) {
  // Erasure means the bytes too, not just a tombstone over them: only the
  // files that hold the user's keys are rewritten.
  const std::string attributes_key = UserAttributesKey(user_id);
  std::vector<PurgeRange> ranges = {
      {events, UserKeyPrefix(user_id), PrefixSuccessor(UserKeyPrefix(user_id))},
      {users, std::string(user_id), std::string(user_id)},
      {users, attributes_key, attributes_key},
      {snapshot, "", ""}};
  if (log_refs != nullptr) {
    ranges.push_back({log_refs, UserKeyPrefix(user_id),
                      PrefixSuccessor(UserKeyPrefix(user_id))});
  }
  if (!event_ids.empty()) {
    auto [lowest, highest] =
        std::minmax_element(event_ids.begin(), event_ids.end());
    ranges.push_back({this->event_ids, *lowest, *highest});
  }
  return Purge(ranges);
}

absl::StatusOr<std::optional<std::string>> Store::FindUser(
    const std::function<bool(std::string_view user_id)>& match) const {
  const Impl& impl = *impl_;
  // Users whose records are all unfolded deltas so far count too.
  absl::ReaderMutexLock fold_lock(&impl.fold_mu);
  if (std::optional<std::string> id = impl.FindUserDelta(match)) return id;
  rocksdb::ManagedSnapshot snapshot(impl.db);
  std::optional<std::string> found;
  // Ids cannot hold '\0', so a key that starts with it is an attributes
  // key (kUserAttributesPrefix + id); every other key is a user record's.
  absl::Status s = impl.ForEachInPrefix(
      impl.users, "", Impl::BulkReadOptions(snapshot.snapshot()),
      "looking for a user",
      [&](std::string_view key, std::string_view) -> absl::Status {
        std::string_view id = key;
        if (id.starts_with(kUserAttributesPrefix)) {
          id.remove_prefix(kUserAttributesPrefix.size());
        } else if (id.starts_with('\0')) {
          return absl::OkStatus();
        }
        if (!match(id)) return absl::OkStatus();
        found = std::string(id);
        return absl::CancelledError("found");  // stops the scan
      });
  if (!s.ok() && !found.has_value()) return s;
  if (found.has_value() || impl.log_refs == nullptr) return found;
  // A user whose every event was refused (an id conflict) has log refs
  // (the entries hold its id) and nothing else: one seek per user there.
  rocksdb::ReadOptions ro = Impl::BulkReadOptions(snapshot.snapshot());
  std::unique_ptr<rocksdb::Iterator> it(
      impl.db->NewIterator(ro, impl.log_refs));
  for (it->SeekToFirst(); it->Valid();) {
    const std::string_view key = ToView(it->key());
    const std::string_view id = key.substr(0, key.find('\0'));
    if (match(id)) return std::optional<std::string>(std::string(id));
    it->Seek(PrefixSuccessor(UserKeyPrefix(id)));
  }
  if (!it->status().ok()) return impl.Error(it->status(), "looking for a user");
  return found;
}

absl::StatusOr<int64_t> Store::CountUserRecords(
    std::string_view user_id) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  const std::string prefix = UserKeyPrefix(user_id);
  const std::string attributes_key = UserAttributesKey(user_id);
  absl::ReaderMutexLock fold_lock(&impl.fold_mu);
  rocksdb::ManagedSnapshot snapshot(impl.db);
  int64_t count = 0;
  bool stored_record = false;
  for (rocksdb::ColumnFamilyHandle* cf : impl.handles) {
    // Every key, not just the prefix: event_ids keys are not the user's.
    absl::Status s = impl.ForEachInPrefix(
        cf, "", Impl::BulkReadOptions(snapshot.snapshot()),
        "auditing a user's records",
        [&](std::string_view key, std::string_view value) {
          bool mine =
              key.starts_with(prefix) ||
              (cf == impl.users && (key == user_id || key == attributes_key));
          if (!mine && cf == impl.event_ids) {
            absl::StatusOr<IdempotencyRecord> r =
                DecodeIdempotencyRecord(value);
            mine = r.ok() && r->user_id == user_id;
          }
          // The event log's values are the user's events keys.
          if (!mine && cf == impl.snapshot) mine = value.starts_with(prefix);
          if (!mine && cf == impl.events) {
            absl::StatusOr<core::Event> e = DecodeEvent(value);
            mine = e.ok() && e->user_id == user_id;
          }
          if (mine) ++count;
          if (cf == impl.users && key == user_id) stored_record = true;
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
  }
  // An unfolded delta is the user record it becomes at the next fold.
  if (!stored_record && impl.UserDelta(user_id).has_value()) ++count;
  count += impl.CountPendingIdsOf(user_id);
  return count;
}

}  // namespace aisle::storage
