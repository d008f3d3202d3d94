// Deleting for good: purging deleted records from the files, and event
// retention.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {

absl::Status Store::Impl::Purge(std::span<const PurgeRange> ranges) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  // Every column family, so that no WAL file is kept for one of them.
  rocksdb::FlushOptions flush;
  flush.wait = true;
  rocksdb::Status s = db->Flush(flush, handles);
  if (!s.ok()) return Error(s, "flushing before a purge");
  rocksdb::CompactRangeOptions compact;
  // Also the last level, where the deleted values usually are.
  compact.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  for (const PurgeRange& range : ranges) {
    const rocksdb::Slice begin = ToSlice(range.begin);
    const rocksdb::Slice end = ToSlice(range.end);
    s = db->CompactRange(compact, range.cf,
                         range.begin.empty() ? nullptr : &begin,
                         range.end.empty() ? nullptr : &end);
    if (!s.ok()) return Error(s, "compacting deleted records away");
  }
  // One more file-set change starts a MANIFEST that lists only the files
  // written by the compactions above (column_families.cc).
  rocksdb::WriteBatch marker;
  marker.Put(meta, kLastPurgeKey,
             absl::StrCat(absl::ToUnixMillis(absl::Now())));
  if (absl::Status w = Write(&marker, /*sync=*/true, "marking a purge");
      !w.ok()) {
    return w;
  }
  s = db->Flush(flush, meta);
  if (!s.ok()) return Error(s, "flushing after a purge");
  return absl::OkStatus();
}

absl::Status Store::PurgeDeleted() {
  Impl& impl = *impl_;
  const Impl::PurgeRange all[] = {
      {impl.events, "", ""}, {impl.event_ids, "", ""}, {impl.users, "", ""},
      {impl.models, "", ""}, {impl.snapshot, "", ""},  {impl.log_refs, "", ""}};
  return impl.Purge(all);
}

absl::StatusOr<int64_t> Store::Impl::DeleteExpired(
    rocksdb::ColumnFamilyHandle* cf, std::string_view scan_what,
    std::string_view write_what,
    const std::function<absl::StatusOr<bool>(std::string_view key,
                                             std::string_view value)>& expired,
    const Store::Pace& pace) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  rocksdb::ManagedSnapshot snapshot(db);
  rocksdb::WriteBatch batch;
  int64_t deleted = 0;
  size_t read = 0;
  bool stopped = false;
  auto flush = [&]() -> absl::Status {
    if (batch.Count() == 0) return absl::OkStatus();
    absl::Status s = Write(&batch, SyncEvents(), write_what);
    batch.Clear();
    return s;
  };
  absl::Status scanned = ForEachInPrefix(
      cf, "", BulkReadOptions(snapshot.snapshot()), scan_what,
      [&](std::string_view key, std::string_view value) -> absl::Status {
        absl::StatusOr<bool> gone = expired(key, value);
        if (!gone.ok()) return gone.status();
        if (*gone) {
          batch.Delete(cf, ToSlice(key));
          ++deleted;
        }
        if (++read % kBackgroundDeleteBatch != 0) return absl::OkStatus();
        if (absl::Status s = flush(); !s.ok()) return s;
        if (pace && !pace()) {
          stopped = true;
          return absl::CancelledError();
        }
        return absl::OkStatus();
      });
  if (!scanned.ok() && !stopped) return scanned;
  if (absl::Status s = flush(); !s.ok()) return s;
  return deleted;
}

absl::StatusOr<int64_t> Store::DeleteEventsBefore(int64_t cutoff_ms,
                                                  const Pace& pace) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  // Only events whose user records and idempotency keys are folded go: an
  // unfolded one's are rebuilt from the event at the next open
  // (user_deltas.cc). Later ones go at the next run.
  if (absl::Status f = impl.FoldUnfolded(); !f.ok()) return f;
  uint64_t folded_through = 0;
  {
    absl::ReaderMutexLock fold_lock(&impl.fold_mu);
    folded_through = impl.folded_through;
  }
  return impl.DeleteExpired(
      impl.events, "scanning events for retention", "deleting old events",
      [cutoff_ms, folded_through](std::string_view key,
                                  std::string_view) -> absl::StatusOr<bool> {
        std::optional<int64_t> ts = EventKeyTimestamp(key);
        std::optional<uint64_t> seq = EventKeySequence(key);
        return ts.has_value() && *ts < cutoff_ms &&
               (!seq.has_value() || *seq <= folded_through);
      },
      pace);
}

}  // namespace aisle::storage
