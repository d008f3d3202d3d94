// Users: MergeUsers (an anonymous visitor's records moved to the user id
// they logged in as, then the visitor erased), in one batch.
#include <algorithm>
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

absl::StatusOr<MergeResult> Store::MergeUsers(std::string_view from,
                                              std::string_view to,
                                              uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status s = CheckUserIdKey(from); !s.ok()) return s;
  if (absl::Status s = CheckUserIdKey(to); !s.ok()) return s;
  if (from == to) {
    return absl::InvalidArgumentError("cannot merge a user into itself");
  }
  // As EraseUser: a snapshot being stored finishes first, appends wait, and
  // a snapshot taken before (which holds `from`) is refused from now on.
  std::lock_guard<std::mutex> snapshot_lock(impl.snapshot_mu);
  absl::ReaderMutexLock fold_lock(&impl.fold_mu);
  absl::MutexLock erase_lock(&impl.erase_mu);
  ++impl.erasures;

  MergeResult result;
  rocksdb::WriteBatch batch;
  std::vector<std::string> event_ids;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  absl::Status scanned = impl.ForEachInPrefix(
      impl.events, UserKeyPrefix(from), ro, "reading a user's events",
      [&](std::string_view key, std::string_view value) -> absl::Status {
        absl::StatusOr<core::Event> e = DecodeEvent(value);
        const std::optional<int64_t> ts = EventKeyTimestamp(key);
        const std::optional<uint64_t> seq = EventKeySequence(key);
        if (!e.ok() || !ts.has_value() || !seq.has_value()) {
          return absl::DataLossError(absl::StrCat(
              "merging users: an event record of the source does not "
              "decode (",
              e.ok() ? "its key" : e.status().message(),
              "); nothing was merged: restore from a backup (aisle restore)"));
        }
        e->user_id = std::string(to);
        const std::string new_key = EventKey(to, *ts, *seq);
        batch.Delete(impl.events, ToSlice(key));
        batch.Put(impl.events, new_key, EncodeEvent(*e));
        // The event log points at events keys: it follows the move.
        batch.Put(impl.snapshot, EventLogKey(*seq), new_key);
        event_ids.push_back(e->event_id);
        result.moved.push_back(*std::move(e));
        return absl::OkStatus();
      });
  if (!scanned.ok()) return scanned;

  // Idempotency keys: the same ids, now `to`'s (those re-used by someone
  // else after retention stay theirs).
  if (!event_ids.empty()) {
    std::vector<rocksdb::Slice> keys(event_ids.begin(), event_ids.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    impl.db->MultiGet(rocksdb::ReadOptions(), impl.event_ids, keys.size(),
                      keys.data(), values.data(), statuses.data());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;  // pruned already
      if (!statuses[i].ok()) {
        return impl.Error(statuses[i], "reading idempotency keys");
      }
      absl::StatusOr<IdempotencyRecord> r =
          DecodeIdempotencyRecord(ToView(values[i]));
      if (!r.ok() || r->user_id != from) continue;
      r->user_id = std::string(to);
      batch.Put(impl.event_ids, keys[i], EncodeIdempotencyRecord(*r));
      ++result.idempotency_keys_moved;
    }
  }

  std::string record;
  rocksdb::Status s =
      impl.db->Get(rocksdb::ReadOptions(), impl.users, ToSlice(from), &record);
  if (s.ok()) {
    absl::StatusOr<UserRecord> decoded = DecodeUserRecord(record);
    if (!decoded.ok()) {
      return absl::DataLossError(absl::StrCat(
          "merging users: the source's user record: ",
          decoded.status().message(),
          "; nothing was merged: restore from a backup (aisle restore)"));
    }
    // The users column family merges records (CombineUserRecords).
    batch.Merge(impl.users, ToSlice(to), EncodeUserRecord(*decoded));
    batch.Delete(impl.users, ToSlice(from));
    result.profile_merged = true;
  } else if (!s.IsNotFound()) {
    return impl.Error(s, "reading a user record");
  }
  // Its unfolded delta and keys move too (below, once the batch is
  // written).
  if (impl.UserDelta(from).has_value()) result.profile_merged = true;
  result.idempotency_keys_moved += impl.CountPendingIds(from, event_ids);
  // The entries that held `from`'s events are now `to`'s refs, with
  // `from` as an alias: the entries themselves keep `from`'s id, and
  // erasing `to` removes it from them (docs/cluster.md).
  absl::StatusOr<std::vector<uint64_t>> refs =
      impl.MoveUserLogRefs(from, to, &batch);
  if (!refs.ok()) return refs.status();
  // The merge entry names both ids: erasing `to` erases it too.
  if (log_sequence != 0 && impl.log_refs != nullptr &&
      (!refs->empty() || !result.moved.empty() || result.profile_merged)) {
    batch.Put(impl.log_refs, LogRefKey(to, log_sequence),
              ToSlice(kMergeLogRef));
  }
  if (result.moved.empty() && !result.profile_merged) {
    // Nothing of `from` is stored: a repeated merge. Still record the log
    // position, so a cluster node does not apply the entry again.
    if (log_sequence == 0) return result;
  } else {
    impl.DropSnapshotInBatch(&batch);
  }
  impl.RecordLogSequence(&batch, log_sequence);
  if (absl::Status w = impl.Write(&batch, /*sync=*/true, "merging users");
      !w.ok()) {
    return w;
  }
  if (result.moved.empty() && !result.profile_merged) return result;
  impl.MoveUserDelta(from, to);
  impl.MovePendingIds(from, to, event_ids);
  // The source is erased: its old keys leave the files too (EraseUser).
  if (absl::Status p = impl.PurgeUser(from, event_ids); !p.ok()) return p;
  return result;
}

}  // namespace aisle::storage
