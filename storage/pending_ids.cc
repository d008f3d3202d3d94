// The idempotency keys of the events stored since the last fold, kept in
// memory (Store::Impl::pending_ids) until user_deltas.cc's fold writes them
// into the event_ids column family, sorted. A key at a random place of a
// large memtable was a Feedback call's dearest insert (x0.88 of its server
// CPU without it, scripts/ab_server.sh). Here: the lookups an append makes
// before the column family, and what an erasure or a merge does to the
// keys of the user's events.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/string_view.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

// The unfolded key of `id` owned by `user_id`, if any (const or not, as
// `map` is).
template <typename Map>
auto* Owned(Map& map, std::string_view id, std::string_view user_id) {
  auto it = map.find(core::ToAbsl(id));
  return it == map.end() || it->second.user_id != user_id ? nullptr
                                                          : &it->second;
}

}  // namespace

std::vector<std::optional<std::string>> Store::Impl::PendingIdOwners(
    std::span<const std::string_view> ids) const {
  std::vector<std::optional<std::string>> owners(ids.size());
  absl::MutexLock lock(&deltas_mu);
  if (pending_ids.empty() && folding_ids == nullptr) return owners;
  for (size_t k = 0; k < ids.size(); ++k) {
    for (const IdMap* map : {&pending_ids, folding_ids.get()}) {
      if (map == nullptr) continue;
      if (auto it = map->find(core::ToAbsl(ids[k])); it != map->end()) {
        owners[k] = it->second.user_id;
        break;
      }
    }
  }
  return owners;
}

int64_t Store::Impl::CountPendingIds(std::string_view user_id,
                                     std::span<const std::string> ids) const {
  absl::MutexLock lock(&deltas_mu);
  int64_t n = 0;
  for (const std::string& id : ids) {
    if (Owned(pending_ids, id, user_id) != nullptr) ++n;
  }
  return n;
}

void Store::Impl::MovePendingIds(std::string_view from, std::string_view to,
                                 std::span<const std::string> ids) {
  absl::MutexLock lock(&deltas_mu);
  for (const std::string& id : ids) {
    if (IdempotencyRecord* r = Owned(pending_ids, id, from)) {
      r->user_id = std::string(to);
    }
  }
}

void Store::Impl::DropPendingIds(std::string_view user_id,
                                 std::span<const std::string> ids) {
  absl::MutexLock lock(&deltas_mu);
  for (const std::string& id : ids) {
    if (Owned(pending_ids, id, user_id) != nullptr) pending_ids.erase(id);
  }
}

int64_t Store::Impl::CountPendingIdsOf(std::string_view user_id) const {
  absl::MutexLock lock(&deltas_mu);
  int64_t n = 0;
  for (const IdMap* map : {&pending_ids, folding_ids.get()}) {
    if (map == nullptr) continue;
    for (const auto& [id, r] : *map) n += r.user_id == user_id ? 1 : 0;
  }
  return n;
}

}  // namespace aisle::storage
