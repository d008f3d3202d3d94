// Idempotency: claims on event ids being written, the lookup of ids already
// stored (duplicates, and conflicts: an id stored for another user),
// erasure of a user's idempotency keys, and their retention
// (PruneIdempotencyKeys), counted from when the key was stored.
#include "storage/id_claims.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {

void EventIdClaims::Acquire(const std::vector<uint64_t>& hashes) {
  auto free = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    for (uint64_t h : hashes) {
      if (claimed_.contains(h)) return false;
    }
    return true;
  };
  absl::MutexLock lock(&mu_, absl::Condition(&free));
  claimed_.insert(hashes.begin(), hashes.end());
}

void EventIdClaims::Release(const std::vector<uint64_t>& hashes) {
  absl::MutexLock lock(&mu_);
  for (uint64_t h : hashes) claimed_.erase(h);
}

BatchIds DistinctEventIds(std::span<const core::Event> events) {
  BatchIds ids;
  absl::flat_hash_set<std::string_view> seen;
  seen.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    if (seen.insert(events[i].event_id).second) {
      ids.first.push_back(i);
      ids.hashes.push_back(absl::Hash<std::string_view>{}(events[i].event_id));
    }
  }
  std::sort(ids.hashes.begin(), ids.hashes.end());
  ids.hashes.erase(std::unique(ids.hashes.begin(), ids.hashes.end()),
                   ids.hashes.end());
  return ids;
}

absl::StatusOr<Store::Impl::IdLookup> Store::Impl::LookUpEventIds(
    std::span<const core::Event> events,
    std::span<const size_t> candidates) const {
  std::vector<std::string_view> ids;
  ids.reserve(candidates.size());
  for (size_t i : candidates) ids.push_back(events[i].event_id);
  // The keys not folded yet, then the column family for the others.
  IdLookup lookup;
  lookup.stored_owner = PendingIdOwners(ids);
  std::vector<size_t> unfolded;  // indexes into ids
  std::vector<rocksdb::Slice> keys;
  for (size_t k = 0; k < ids.size(); ++k) {
    if (lookup.stored_owner[k].has_value()) continue;
    unfolded.push_back(k);
    keys.push_back(ToSlice(ids[k]));
  }
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  if (!keys.empty()) {
    db->MultiGet(rocksdb::ReadOptions(), event_ids, keys.size(), keys.data(),
                 values.data(), statuses.data());
  }
  for (size_t j = 0; j < keys.size(); ++j) {
    const size_t k = unfolded[j];
    if (statuses[j].IsNotFound()) continue;
    if (!statuses[j].ok()) return Error(statuses[j], "checking event ids");
    absl::StatusOr<IdempotencyRecord> record =
        DecodeIdempotencyRecord(ToView(values[j]));
    if (!record.ok()) {
      return absl::DataLossError(
          absl::StrCat("idempotency key in ", options.data_dir, ": ",
                       record.status().message(),
                       ": restore from a backup (aisle restore)"));
    }
    lookup.stored_owner[k] = std::move(record->user_id);
  }
  return lookup;
}

absl::StatusOr<int64_t> Store::Impl::DeleteIdempotencyKeys(
    std::string_view user_id, const std::vector<std::string>& ids,
    rocksdb::WriteBatch* batch) const {
  if (ids.empty()) return 0;
  std::vector<rocksdb::Slice> keys(ids.begin(), ids.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db->MultiGet(rocksdb::ReadOptions(), event_ids, keys.size(), keys.data(),
               values.data(), statuses.data());
  int64_t deleted = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;  // pruned already
    if (!statuses[i].ok()) {
      return Error(statuses[i], "reading idempotency keys");
    }
    // After retention expired the same id may have been stored again for
    // someone else; that key is theirs.
    absl::StatusOr<IdempotencyRecord> r =
        DecodeIdempotencyRecord(ToView(values[i]));
    if (r.ok() && r->user_id != user_id) continue;
    batch->Delete(event_ids, keys[i]);
    ++deleted;
  }
  return deleted;
}

absl::StatusOr<int64_t> Store::PruneIdempotencyKeys(int64_t now_ms,
                                                    const Pace& pace) {
  Impl& impl = *impl_;
  // The keys still in memory are in the column family from here on (a
  // quiet store may not fold for days).
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status f = impl.FoldUnfolded(); !f.ok()) return f;
  // By storage time: an event's own timestamp says nothing about when a
  // client may re-send it (a re-import of old history).
  const int64_t cutoff = now_ms - impl.options.idempotency_retention_ms;
  return impl.DeleteExpired(
      impl.event_ids, "scanning idempotency keys", "pruning idempotency keys",
      [&impl, cutoff](std::string_view,
                      std::string_view value) -> absl::StatusOr<bool> {
        absl::StatusOr<IdempotencyRecord> r = DecodeIdempotencyRecord(value);
        if (!r.ok()) {
          return absl::DataLossError(absl::StrCat(
              "idempotency key in ", impl.options.data_dir, ": ",
              r.status().message(), ": restore from a backup (aisle restore)"));
        }
        // Keys without a storage time cannot be told apart from keys
        // stored yesterday: kept.
        return r->stored_at_ms != kStoredAtUnknown && r->stored_at_ms < cutoff;
      },
      pace);
}

}  // namespace aisle::storage
