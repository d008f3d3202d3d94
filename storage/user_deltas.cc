// User records, folded in the background. An append keeps each user's
// record delta (first/last seen, counts by type) in memory instead of
// merging it into the users column family: that merge was one more insert
// at a random place of a large memtable per event, x0.90 of a Feedback
// call's server CPU without it (scripts/ab_server.sh). A fold merges every
// delta, sorted by user id (neighbouring inserts, cheap), together with
// the arrival sequence they cover (meta key user_deltas), in one write:
// in the background once kFoldUsers users have deltas, before a snapshot
// prunes the event log, before retention, and at close.
//
// Nothing acknowledged depends on a fold: the deltas are derived from the
// events, which are durable with the append, and the event log (snapshot
// column family) holds every event after the folded position until a
// snapshot prunes it, which folds first. So an open rebuilds the deltas
// from the events logged after that position, when the last writer was
// one that kept deltas (the marker names its open generation). An older
// aisle merged per event and keeps no marker: its records are complete.
#include <algorithm>
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

absl::Status Store::Impl::LoadUserDeltas(const Store& store) {
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
        absl::Status scanned = store.ScanEventsAfter(
            m->folded_through, [&](std::span<const core::Event> events) {
              for (const core::Event& e : events) {
                AddDelta(&rebuilt, e.user_id, UserRecordOf(e));
              }
              return absl::OkStatus();
            });
        if (!scanned.ok()) return scanned;
        absl::MutexLock lock(&deltas_mu);
        user_deltas = std::move(rebuilt);
      }
    }
  }
  if (options.read_only) return absl::OkStatus();
  // Folded at once: the marker then names this open, and the deltas start
  // empty.
  if (absl::Status f = FoldUserDeltas(); !f.ok()) return f;
  folder = std::thread([this] {
    const auto due = [this]() ABSL_SHARED_LOCKS_REQUIRED(deltas_mu) {
      return stop_folder || user_deltas.size() >= kFoldUsers;
    };
    for (;;) {
      {
        absl::MutexLock lock(&deltas_mu);
        deltas_mu.Await(absl::Condition(&due));
        if (stop_folder) return;
      }
      if (!FoldUserDeltas().ok()) {
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

void Store::Impl::AddUserDeltas(std::span<const core::Event* const> events) {
  absl::MutexLock lock(&deltas_mu);
  for (const core::Event* e : events) {
    AddDelta(&user_deltas, e->user_id, UserRecordOf(*e));
  }
}

absl::Status Store::Impl::FoldUserDeltas() {
  absl::MutexLock fold_lock(&fold_mu);
  absl::flat_hash_map<std::string, UserRecord> taken;
  uint64_t through = 0;
  {
    // No append is between its write and AddUserDeltas.
    absl::MutexLock erase_lock(&erase_mu);
    absl::MutexLock lock(&deltas_mu);
    taken.swap(user_deltas);
    through = next_sequence.load() - 1;
  }
  std::vector<std::pair<std::string_view, const UserRecord*>> sorted;
  sorted.reserve(taken.size());
  for (const auto& [user_id, delta] : taken) {
    sorted.emplace_back(user_id, &delta);
  }
  std::sort(sorted.begin(), sorted.end());
  rocksdb::WriteBatch batch;
  for (const auto& [user_id, delta] : sorted) {
    batch.Merge(users, ToSlice(user_id), EncodeUserRecord(*delta));
  }
  batch.Put(
      meta, kUserDeltasKey,
      absl::StrCat(next_sequence.load() >> kSequenceCounterBits, " ", through));
  if (absl::Status w = Write(&batch, SyncEvents(), "folding user records");
      !w.ok()) {
    // Kept for the next fold; nothing read them meanwhile (fold_mu).
    absl::MutexLock lock(&deltas_mu);
    for (const auto& [user_id, delta] : taken) {
      AddDelta(&user_deltas, user_id, delta);
    }
    return w;
  }
  folded_through = through;
  return absl::OkStatus();
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
  FoldUserDeltas().IgnoreError();
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
