// Log refs (cluster mode): which entries of the replicated log hold a
// user's id, recorded with the events they brought (events.cc), moved by
// MergeUsers, deleted by EraseUser, so that erasing a user can erase those
// entries from the log too (docs/cluster.md, "Erasure in the stream").
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {

absl::StatusOr<std::vector<uint64_t>> Store::Impl::MoveUserLogRefs(
    std::string_view from, std::string_view to,
    rocksdb::WriteBatch* batch) const {
  std::vector<uint64_t> sequences;
  if (log_refs == nullptr) return sequences;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  absl::Status scanned = ForEachInPrefix(
      log_refs, UserKeyPrefix(from), ro, "reading a user's log refs",
      [&](std::string_view key, std::string_view) -> absl::Status {
        batch->Delete(log_refs, ToSlice(key));
        if (std::optional<uint64_t> seq = LogRefSequence(key)) {
          sequences.push_back(*seq);
          if (!to.empty()) batch->Put(log_refs, LogRefKey(to, *seq), "");
        }
        return absl::OkStatus();
      });
  if (!scanned.ok()) return scanned;
  return sequences;  // key order: ascending
}

absl::StatusOr<std::vector<uint64_t>> Store::LogRefs(
    std::string_view user_id) const {
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  rocksdb::WriteBatch unused;
  return impl_->MoveUserLogRefs(user_id, "", &unused);
}

absl::StatusOr<bool> Store::HasLogRef(std::string_view user_id,
                                      uint64_t log_sequence) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  if (impl.log_refs == nullptr) return false;
  std::string value;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.log_refs,
                                   LogRefKey(user_id, log_sequence), &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return impl.Error(s, "reading a log ref");
  return true;
}

absl::StatusOr<int> Store::MoveLogRefs(std::span<const std::string> users,
                                       uint64_t from, uint64_t to,
                                       uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  for (const std::string& user : users) {
    if (absl::Status s = CheckUserIdKey(user); !s.ok()) return s;
  }
  // As an append: an erasure of one of the users sees the refs before or
  // after the move, never half of it.
  absl::ReaderMutexLock erase_lock(&impl.erase_mu);
  rocksdb::WriteBatch batch;
  int moved = 0;
  for (const std::string& user : users) {
    absl::StatusOr<bool> has = HasLogRef(user, from);
    if (!has.ok()) return has.status();
    if (!*has) continue;
    batch.Delete(impl.log_refs, LogRefKey(user, from));
    batch.Put(impl.log_refs, LogRefKey(user, to), "");
    ++moved;
  }
  impl.RecordLogSequence(&batch, log_sequence);
  if (absl::Status w = impl.Write(&batch, impl.SyncEvents(), "moving log refs");
      !w.ok()) {
    return w;
  }
  return moved;
}

}  // namespace aisle::storage
