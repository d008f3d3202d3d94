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
namespace {

// What a ref's value says its entry is (codec.h, log refs).
LogRef::Kind KindOf(const LogRefValue& value) {
  if (value.kind == kAttributesLogRef) return LogRef::Kind::kAttributes;
  if (value.kind == kMergeLogRef) return LogRef::Kind::kMerge;
  return LogRef::Kind::kEvents;
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> Store::Impl::MoveUserLogRefs(
    std::string_view from, std::string_view to,
    rocksdb::WriteBatch* batch) const {
  std::vector<uint64_t> sequences;
  if (log_refs == nullptr) return sequences;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  absl::Status scanned = ForEachInPrefix(
      log_refs, UserKeyPrefix(from), ro, "reading a user's log refs",
      [&](std::string_view key, std::string_view value) -> absl::Status {
        batch->Delete(log_refs, ToSlice(key));
        std::optional<uint64_t> seq = LogRefSequence(key);
        if (!seq.has_value()) return absl::OkStatus();
        sequences.push_back(*seq);
        if (to.empty()) return absl::OkStatus();
        // The entry holds `from`'s id (and its aliases'): `to`'s ref there
        // names them, next to what `to` may already have at that entry.
        LogRefValue moved = DecodeLogRefValue(value);
        moved.aliases.emplace_back(from);
        const std::string to_key = LogRefKey(to, *seq);
        std::string existing;
        rocksdb::Status s =
            db->Get(rocksdb::ReadOptions(), log_refs, to_key, &existing);
        if (s.ok()) {
          LogRefValue merged = DecodeLogRefValue(existing);
          for (std::string& alias : moved.aliases) {
            if (alias != to) merged.aliases.push_back(std::move(alias));
          }
          moved = std::move(merged);
        } else if (!s.IsNotFound()) {
          return Error(s, "reading a log ref");
        }
        batch->Put(log_refs, to_key, EncodeLogRefValue(moved));
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

absl::StatusOr<std::vector<LogRef>> Store::UserLogRefs(
    std::string_view user_id) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  std::vector<LogRef> refs;
  if (impl.log_refs == nullptr) return refs;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  absl::Status scanned = impl.ForEachInPrefix(
      impl.log_refs, UserKeyPrefix(user_id), ro, "reading a user's log refs",
      [&](std::string_view key, std::string_view bytes) -> absl::Status {
        std::optional<uint64_t> seq = LogRefSequence(key);
        if (!seq.has_value()) return absl::OkStatus();
        LogRefValue value = DecodeLogRefValue(bytes);
        LogRef ref;
        ref.sequence = *seq;
        ref.kind = KindOf(value);
        ref.aliases = std::move(value.aliases);
        refs.push_back(std::move(ref));
        return absl::OkStatus();
      });
  if (!scanned.ok()) return scanned;
  return refs;
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

absl::StatusOr<bool> Store::HasAttributesRefAfter(std::string_view user_id,
                                                  uint64_t log_sequence) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  if (impl.log_refs == nullptr) return false;
  bool found = false;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  // Newest first: a user's refs after log_sequence are few.
  absl::Status scanned = impl.ForEachInPrefix(
      impl.log_refs, UserKeyPrefix(user_id), ro, "reading a user's log refs",
      [&](std::string_view key, std::string_view kind) -> absl::Status {
        const std::optional<uint64_t> seq = LogRefSequence(key);
        if (!seq.has_value() || *seq <= log_sequence) {
          return absl::CancelledError("done");  // older from here on
        }
        if (KindOf(DecodeLogRefValue(kind)) == LogRef::Kind::kAttributes) {
          found = true;
          return absl::CancelledError("found");
        }
        return absl::OkStatus();
      },
      ScanOrder::kBackward);
  if (!scanned.ok() && !absl::IsCancelled(scanned)) return scanned;
  return found;
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
    std::string kind;
    rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.log_refs,
                                     LogRefKey(user, from), &kind);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return impl.Error(s, "reading a log ref");
    batch.Delete(impl.log_refs, LogRefKey(user, from));
    batch.Put(impl.log_refs, LogRefKey(user, to), kind);
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
