// User records and idempotency keys, folded in the background. An append
// keeps each user's record delta (first/last seen, counts by type) and each
// event's idempotency key in memory instead of writing them to the users
// and event_ids column families: each was one more insert at a random
// place of a large memtable per event (x0.90 and x0.88 of a Feedback
// call's server CPU without them, scripts/ab_server.sh). A fold writes
// the keys, then merges every delta together with the arrival sequence
// they cover (meta key user_deltas), all sorted by key (neighbouring
// inserts, cheap): in the background once kFoldUsers users have deltas
// or kFoldIds keys are pending, before a snapshot prunes the event log,
// before retention and key pruning, and at close. pending_ids.cc has the
// keys' lookups.
//
// Nothing acknowledged depends on a fold: the deltas and keys are derived
// from the events, which are durable with the append, and the event log
// (snapshot column family) holds every event after the folded position
// until a snapshot prunes it, which folds first. So an open rebuilds them
// from the events logged after that position, when the last writer was
// one that kept deltas (the marker names its open generation). An older
// aisle merged per event and keeps no marker: its records are complete.
#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/string_view.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

// Users with deltas that start a background fold: about 20 MB of deltas
// and a write of about 10 MB. A fold costs about 1.4 us of CPU per user
// (the memtable's inserts, sorted but not in cache), so the more events
// each user's delta sums up first, the less folding costs per event.
constexpr size_t kFoldUsers = size_t{1} << 17;
// Unfolded idempotency keys that start one: up to about 30 MB in memory
// (the table's slots and the ids), a fold's write of about 8 MB
// (pending_ids.cc).
constexpr size_t kFoldIds = size_t{1} << 17;

struct DeltasMarker {
  uint64_t generation = 0;
  uint64_t folded_through = 0;
};

absl::StatusOr<DeltasMarker> DecodeMarker(std::string_view text,
                                          std::string_view dir) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(core::ToAbsl(text), ' ');
  DeltasMarker m;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &m.generation) ||
      !absl::SimpleAtoi(parts[1], &m.folded_through)) {
    return absl::DataLossError(absl::StrCat(
        "meta key ", kUserDeltasKey, " in ", core::ToAbsl(dir), " holds '",
        core::ToAbsl(text),
        "': restore from a backup (aisle restore) or move the directory "
        "aside"));
  }
  return m;
}

// Idempotency keys per write of a fold.
constexpr size_t kFoldIdsPerWrite = 16384;

// Calls add(batch, key, value) for `map`'s entries in key order, and
// write(batch) after every `per_write` of them and after the last (once
// with an empty batch if `map` is empty); stops at the first error.
template <typename Map, typename Add, typename WriteFn>
absl::Status WriteSorted(const Map& map, size_t per_write, const Add& add,
                         const WriteFn& write) {
  std::vector<std::pair<std::string_view, const typename Map::mapped_type*>>
      sorted;
  sorted.reserve(map.size());
  for (const auto& [key, value] : map) sorted.emplace_back(key, &value);
  std::sort(sorted.begin(), sorted.end());
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < sorted.size(); ++i) {
    add(batch, sorted[i].first, *sorted[i].second);
    if (batch.Count() >= per_write && i + 1 < sorted.size()) {
      if (absl::Status s = write(batch); !s.ok()) return s;
      batch.Clear();
    }
  }
  return write(batch);
}

void AddDelta(absl::flat_hash_map<std::string, UserRecord>* deltas,
              std::string_view user_id, const UserRecord& delta) {
  // Looked up first: most events are of users that have a delta already,
  // and their ids need no copy.
  auto it = deltas->find(core::ToAbsl(user_id));
  if (it == deltas->end()) {
    deltas->emplace(std::string(user_id), delta);
  } else {
    it->second = CombineUserRecords(it->second, delta);
  }
}

}  // namespace

absl::Status Store::Impl::LoadUnfolded(const Store& store) {
  absl::StatusOr<std::optional<std::string>> marker = GetMeta(kUserDeltasKey);
  if (!marker.ok()) return marker.status();
  // The open generation of the last writer before this open.
  uint64_t last_writer = 0;
  if (options.read_only) {
    absl::StatusOr<int64_t> stored = GetMetaInt(kOpenGenerationKey);
    if (!stored.ok()) return stored.status();
    last_writer = static_cast<uint64_t>(*stored);
  } else {
    last_writer = (next_sequence.load() >> kSequenceCounterBits) - 1;
  }
  {
    absl::MutexLock fold_lock(&fold_mu);
    folded_through = next_sequence.load() - 1;
    if (marker->has_value()) {
      absl::StatusOr<DeltasMarker> m = DecodeMarker(**marker, options.data_dir);
      if (!m.ok()) return m.status();
      if (m->generation == last_writer) {
        folded_through = m->folded_through;
        absl::flat_hash_map<std::string, UserRecord> rebuilt;
        IdMap ids;
        // When they were stored is not logged: now, which keeps them
        // longer than their retention, never shorter.
        const int64_t now_ms = NowMs();
        absl::Status scanned = store.ScanEventsAfter(
            m->folded_through, [&](std::span<const core::Event> events) {
              for (const core::Event& e : events) {
                AddDelta(&rebuilt, e.user_id, UserRecordOf(e));
                ids[e.event_id] = {e.user_id, e.timestamp_ms, now_ms};
              }
              return absl::OkStatus();
            });
        if (!scanned.ok()) return scanned;
        absl::MutexLock lock(&deltas_mu);
        user_deltas = std::move(rebuilt);
        pending_ids = std::move(ids);
      }
    }
  }
  if (options.read_only) return absl::OkStatus();
  // Folded at once: the marker then names this open, and the deltas start
  // empty.
  if (absl::Status f = FoldUnfolded(); !f.ok()) return f;
  folder = std::thread([this] {
    const auto due = [this]() ABSL_SHARED_LOCKS_REQUIRED(deltas_mu) {
      return stop_folder || user_deltas.size() >= kFoldUsers ||
             pending_ids.size() >= kFoldIds;
    };
    for (;;) {
      {
        absl::MutexLock lock(&deltas_mu);
        deltas_mu.Await(absl::Condition(&due));
        if (stop_folder) return;
      }
      if (!FoldUnfolded().ok()) {
        // The store's writes fail too (and say why); try again later.
        absl::MutexLock lock(&deltas_mu);
        const auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(deltas_mu) {
          return stop_folder;
        };
        deltas_mu.AwaitWithTimeout(absl::Condition(&stopped), absl::Seconds(1));
      }
    }
  });
  return absl::OkStatus();
}

void Store::Impl::AddUnfolded(std::span<const core::Event* const> events,
                              int64_t stored_at_ms) {
  absl::MutexLock lock(&deltas_mu);
  for (const core::Event* e : events) {
    AddDelta(&user_deltas, e->user_id, UserRecordOf(*e));
    pending_ids.insert_or_assign(
        e->event_id,
        IdempotencyRecord{e->user_id, e->timestamp_ms, stored_at_ms});
  }
}

absl::Status Store::Impl::FoldUnfolded() {
  absl::MutexLock fold_lock(&fold_mu);
  absl::flat_hash_map<std::string, UserRecord> taken;
  std::shared_ptr<const IdMap> ids;  // folding_ids
  uint64_t through = 0;
  {
    // No append is between its write and AddUnfolded.
    absl::MutexLock erase_lock(&erase_mu);
    absl::MutexLock lock(&deltas_mu);
    taken.swap(user_deltas);
    auto moved = std::make_shared<IdMap>();
    moved->swap(pending_ids);
    // Appends still find these keys (PendingIdOwners) until written.
    folding_ids = ids = std::move(moved);
    through = next_sequence.load() - 1;
  }
  // The keys first, in writes of kFoldIdsPerWrite (a Put written twice is
  // written once, so a crash before the marker costs nothing), so that
  // appends are not held up behind one large write; then the records'
  // merges (not repeatable: with the marker, in one write).
  absl::Status w = WriteSorted(
      *ids, kFoldIdsPerWrite,
      [&](rocksdb::WriteBatch& batch, std::string_view id,
          const IdempotencyRecord& r) {
        batch.Put(event_ids, ToSlice(id), EncodeIdempotencyRecord(r));
      },
      [&](rocksdb::WriteBatch& batch) {
        if (batch.Count() == 0) return absl::OkStatus();
        return Write(&batch, SyncEvents(), "folding idempotency keys");
      });
  if (w.ok()) {
    w = WriteSorted(
        taken, std::numeric_limits<size_t>::max(),
        [&](rocksdb::WriteBatch& batch, std::string_view user_id,
            const UserRecord& delta) {
          batch.Merge(users, ToSlice(user_id), EncodeUserRecord(delta));
        },
        [&](rocksdb::WriteBatch& batch) {
          batch.Put(meta, kUserDeltasKey,
                    absl::StrCat(next_sequence.load() >> kSequenceCounterBits,
                                 " ", through));
          return Write(&batch, SyncEvents(), "folding user records");
        });
  }
  absl::MutexLock lock(&deltas_mu);
  if (!w.ok()) {
    // Kept for the next fold; nothing read or changed them meanwhile
    // (fold_mu), and no append stored these ids again (it found them).
    for (const auto& [user_id, delta] : taken) {
      AddDelta(&user_deltas, user_id, delta);
    }
    pending_ids.insert(ids->begin(), ids->end());
  }
  folding_ids.reset();
  if (w.ok()) folded_through = through;
  return w;
}

void Store::Impl::StopFolder() {
  if (!folder.joinable()) return;
  {
    absl::MutexLock lock(&deltas_mu);
    stop_folder = true;
  }
  folder.join();
  // Best effort: what is not folded is rebuilt from the event log at the
  // next open.
  FoldUnfolded().IgnoreError();
}

std::optional<UserRecord> Store::Impl::UserDelta(
    std::string_view user_id) const {
  absl::MutexLock lock(&deltas_mu);
  auto it = user_deltas.find(core::ToAbsl(user_id));
  if (it == user_deltas.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Store::Impl::FindUserDelta(
    const std::function<bool(std::string_view user_id)>& match) const {
  absl::MutexLock lock(&deltas_mu);
  for (const auto& [user_id, delta] : user_deltas) {
    if (match(user_id)) return user_id;
  }
  return std::nullopt;
}

void Store::Impl::EraseUserDelta(std::string_view user_id) {
  absl::MutexLock lock(&deltas_mu);
  user_deltas.erase(core::ToAbsl(user_id));
}

void Store::Impl::MoveUserDelta(std::string_view from, std::string_view to) {
  absl::MutexLock lock(&deltas_mu);
  auto it = user_deltas.find(core::ToAbsl(from));
  if (it == user_deltas.end()) return;
  const UserRecord delta = it->second;
  user_deltas.erase(it);
  AddDelta(&user_deltas, to, delta);
}

}  // namespace aisle::storage
