// Events: AppendEvents (idempotent, with the users' record deltas, all or
// nothing), ScanEvents and UserEvents.
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/string_view.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

// The store's own guard on an event: its id is the idempotency key (an
// empty key would make every later id-less event a duplicate, silently not
// stored), its user id must fit the key layout, and its type indexes
// UserRecord::counts and must decode again. Request rules are the caller's.
absl::Status CheckStorable(const core::Event& e) {
  if (e.event_id.empty()) return absl::InvalidArgumentError("empty event_id");
  if (absl::Status s = CheckUserIdKey(e.user_id); !s.ok()) return s;
  if (static_cast<int>(e.type) >= core::kNumEventTypes) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown event type ", static_cast<int>(e.type)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> Store::Impl::AllocateSequences(uint64_t n) {
  const uint64_t first = next_sequence.fetch_add(n);
  if (first + n > sequence_limit) {
    return absl::ResourceExhaustedError(
        "event sequence numbers of this process are used up (2^40 "
        "events); restart aisle to start a new generation");
  }
  return first;
}

// Adds one group's events that are not stored yet (in the store, per
// `lookup`, or earlier in `batch`, per `written`) to `batch`, and to
// `stored` for the users' records; fills its AppendResult (AppendEvents'
// rules).
struct Store::Impl::EventBatchBuilder {
  explicit EventBatchBuilder(Impl& store_impl)
      : impl(store_impl), stored_at_ms(store_impl.NowMs()) {}

  Impl& impl;
  const int64_t stored_at_ms;
  rocksdb::WriteBatch batch;
  // Event id -> user, for the ids the groups so far put in `batch`.
  absl::flat_hash_map<std::string_view, std::string_view> written;
  // The events put in `batch`, whose user records follow once it is written.
  std::vector<const core::Event*> stored;

  absl::StatusOr<AppendResult> Add(std::span<const core::Event> events,
                                   Store::OnIdConflict on_conflict,
                                   uint64_t log_ref) {
    if (log_ref != 0 && impl.log_refs != nullptr) {
      absl::flat_hash_set<std::string_view> users;
      for (const core::Event& e : events) {
        if (users.insert(e.user_id).second) {
          batch.Put(impl.log_refs, LogRefKey(e.user_id, log_ref), "");
        }
      }
    }
    AppendResult result;
    result.stored.assign(events.size(), false);
    const BatchIds ids = DistinctEventIds(events);
    absl::StatusOr<IdLookup> lookup = impl.LookUpEventIds(events, ids.first);
    if (!lookup.ok()) return lookup.status();
    // Each id belongs to the user it is stored for, else to the user of
    // its first occurrence in the batch (which is then stored).
    absl::flat_hash_map<std::string_view, std::string_view> owner;
    std::vector<size_t> fresh;
    for (size_t k = 0; k < ids.first.size(); ++k) {
      const core::Event& e = events[ids.first[k]];
      const std::optional<std::string>& stored = lookup->stored_owner[k];
      auto earlier = written.find(e.event_id);
      if (stored.has_value()) {
        owner[e.event_id] = *stored;
      } else if (earlier != written.end()) {
        owner[e.event_id] = earlier->second;
      } else {
        owner[e.event_id] = e.user_id;
        fresh.push_back(ids.first[k]);
      }
    }
    for (size_t i = 0; i < events.size(); ++i) {
      if (owner[events[i].event_id] != events[i].user_id) {
        result.conflicts.push_back(i);
      }
    }
    // A conflict in an all-or-nothing batch stores none of its events (the
    // log position is still recorded: the batch was applied, as a refusal).
    const bool refused = !result.conflicts.empty() &&
                         on_conflict == Store::OnIdConflict::kStoreNothing;
    if (refused) fresh.clear();
    if (!fresh.empty()) {
      absl::StatusOr<uint64_t> sequence = impl.AllocateSequences(fresh.size());
      if (!sequence.ok()) return sequence.status();
      uint64_t seq = *sequence;
      for (size_t i : fresh) {
        const core::Event& e = events[i];
        const std::string key = EventKey(e.user_id, e.timestamp_ms, seq);
        batch.Put(impl.events, key, EncodeEvent(e));
        // The arrival-ordered log a restart replays after the snapshot.
        // The idempotency key is written later, by a fold (AddUnfolded).
        batch.Put(impl.snapshot, EventLogKey(seq++), key);
        written[e.event_id] = e.user_id;
        stored.push_back(&e);
      }
    }
    for (size_t i : fresh) result.stored[i] = true;
    result.accepted = static_cast<int>(fresh.size());
    result.duplicates = refused
                            ? 0
                            : static_cast<int>(events.size() - fresh.size() -
                                               result.conflicts.size());
    return result;
  }
};

absl::StatusOr<AppendResult> Store::AppendEvents(
    std::span<const core::Event> events, uint64_t log_sequence,
    OnIdConflict on_conflict) {
  if (events.empty() && log_sequence == 0) {
    if (absl::Status s = impl_->CheckWritable(); !s.ok()) return s;
    return AppendResult{};
  }
  const EventGroup group{events, on_conflict, log_sequence};
  absl::StatusOr<std::vector<AppendResult>> results =
      AppendEventGroups(std::span<const EventGroup>(&group, 1), log_sequence);
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

absl::StatusOr<std::vector<AppendResult>> Store::AppendEventGroups(
    std::span<const EventGroup> groups, uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  std::vector<uint64_t> hashes;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::span<const core::Event> events = groups[g].events;
    for (size_t i = 0; i < events.size(); ++i) {
      if (absl::Status s = CheckStorable(events[i]); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            groups.size() == 1 ? "" : absl::StrCat("group ", g, ", "), "event ",
            i, ": ", s.message()));
      }
    }
    std::vector<uint64_t> h = DistinctEventIds(events).hashes;
    hashes.insert(hashes.end(), h.begin(), h.end());
  }
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
  ClaimGuard claim(&impl.claims, std::move(hashes));
  absl::ReaderMutexLock erase_lock(&impl.erase_mu);

  Impl::EventBatchBuilder builder(impl);
  std::vector<AppendResult> results;
  results.reserve(groups.size());
  for (const EventGroup& group : groups) {
    absl::StatusOr<AppendResult> r =
        builder.Add(group.events, group.on_conflict, group.log_ref);
    if (!r.ok()) return r.status();
    results.push_back(*std::move(r));
  }
  if (builder.batch.Count() == 0 && log_sequence == 0) return results;
  impl.RecordLogSequence(&builder.batch, log_sequence);
  if (absl::Status s =
          impl.Write(&builder.batch, impl.SyncEvents(),
                     builder.stored.empty() ? "recording the log position"
                                            : "appending events");
      !s.ok()) {
    return s;
  }
  // The users' records and the idempotency keys: folded later
  // (user_deltas.cc), still under erase_mu, so that a fold sees every
  // append that has written.
  impl.AddUnfolded(builder.stored, builder.stored_at_ms);
  return results;
}

absl::Status Store::ScanEvents(
    const std::function<absl::Status(std::span<const core::Event>)>& fn,
    size_t batch_size) const {
  const Impl& impl = *impl_;
  auto decode = [&](std::string_view /*key*/,
                    std::string_view value) -> absl::StatusOr<core::Event> {
    absl::StatusOr<core::Event> e = DecodeEvent(value);
    if (!e.ok()) {
      return absl::DataLossError(absl::StrCat(
          "event record in ", impl.options.data_dir, ": ", e.status().message(),
          ": restore from a backup (aisle restore)"));
    }
    return e;
  };
  return impl.ScanInBatches<core::Event>(impl.events, "scanning events", decode,
                                         fn, batch_size);
}

absl::StatusOr<std::vector<core::Event>> Store::UserEvents(
    std::string_view user_id, size_t limit) const {
  const Impl& impl = *impl_;
  if (absl::Status s = CheckUserIdKey(user_id); !s.ok()) return s;
  std::vector<core::Event> out;
  // With a limit, the newest `limit` events, read newest first.
  const ScanOrder order =
      limit == 0 ? ScanOrder::kForward : ScanOrder::kBackward;
  absl::Status s = impl.ForEachInPrefix(
      impl.events, UserKeyPrefix(user_id), rocksdb::ReadOptions(),
      "reading a user's events",
      [&](std::string_view /*key*/, std::string_view value) -> absl::Status {
        absl::StatusOr<core::Event> e = DecodeEvent(value);
        if (!e.ok()) {
          return absl::DataLossError(absl::StrCat(
              "event record of user ", core::ToAbsl(user_id), ": ",
              e.status().message(), ": restore from a backup (aisle restore)"));
        }
        out.push_back(*std::move(e));
        return absl::OkStatus();
      },
      order, limit);
  if (!s.ok()) return s;
  if (order == ScanOrder::kBackward) std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace aisle::storage
