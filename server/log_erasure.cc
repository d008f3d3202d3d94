#include "server/log_erasure.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "server/ingest.h"
#include "server/log_entry.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

// The de-duplication id of the replacement of entry `replaced` holding
// `events`: the same on every node that computes it, so that concurrent
// nodes append it once (within JetStream's duplicate window; after it the
// replaced entry is gone and nobody computes it again).
std::string ReplacementId(
    uint64_t replaced,
    const google::protobuf::RepeatedPtrField<v1::Event>& events) {
  std::vector<core::Event> core_events;
  core_events.reserve(events.size());
  for (const v1::Event& e : events) core_events.push_back(ToCoreEvent(e));
  return absl::StrCat("r1-", replaced, "-", EventBatchId(core_events));
}

}  // namespace

LogErasure::LogErasure(cluster::EventLog* log, storage::Store* store)
    : log_(log), store_(store) {}

absl::StatusOr<LogErasureStats> LogErasure::EraseUserEntries(
    const std::string& user_id) {
  LogErasureStats stats;
  absl::StatusOr<std::vector<uint64_t>> refs = store_->LogRefs(user_id);
  if (!refs.ok()) return refs.status();
  for (const uint64_t sequence : *refs) {
    absl::StatusOr<std::optional<cluster::LogEntry>> stored =
        log_->Get(sequence);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      ++stats.entries_gone;
      continue;
    }
    absl::StatusOr<cluster::v1::LogEntry> entry =
        ParseLogEntry((*stored)->payload);
    if (!entry.ok() || entry->kind_case() != cluster::v1::LogEntry::kEvents) {
      // Refs are only recorded for events entries; whatever else sits at
      // this position holds the user's id no more than any entry does.
      continue;
    }
    cluster::v1::LogEntry rest = *entry;
    rest.mutable_events()->clear_events();
    for (const v1::Event& e : entry->events().events()) {
      if (e.user_id() != user_id) *rest.mutable_events()->add_events() = e;
    }
    if (rest.events().events_size() > 0) {
      if (rest.events().events_size() == entry->events().events_size()) {
        continue;  // the ref outlived a merge; nothing of the user here
      }
      rest.mutable_events()->set_replaces(sequence);
      absl::StatusOr<cluster::Appended> appended =
          log_->Append(ReplacementId(sequence, rest.events().events()),
                       rest.SerializeAsString());
      if (!appended.ok()) return appended.status();
      ++stats.entries_rewritten;
    } else {
      ++stats.entries_erased;
    }
    if (absl::Status s = log_->Erase(sequence); !s.ok()) return s;
  }
  if (stats.entries_erased + stats.entries_rewritten > 0) {
    // No user id in the log: the counts say what was done.
    spdlog::info(
        "cluster: erased a user's events from {} log entries ({} of them "
        "re-appended without them first)",
        stats.entries_erased + stats.entries_rewritten,
        stats.entries_rewritten);
  }
  return stats;
}

absl::StatusOr<bool> LogErasure::ApplyReplacement(
    const cluster::v1::LogEntry& entry, uint64_t sequence) {
  const uint64_t replaced = entry.events().replaces();
  std::set<std::string> users;
  for (const v1::Event& e : entry.events().events()) users.insert(e.user_id());
  bool applied_replaced = false;
  for (const std::string& user : users) {
    absl::StatusOr<bool> has = store_->HasLogRef(user, replaced);
    if (!has.ok()) return has.status();
    if (*has) {
      applied_replaced = true;
      break;
    }
  }
  if (!applied_replaced) return false;
  const std::vector<std::string> list(users.begin(), users.end());
  absl::StatusOr<int> moved =
      store_->MoveLogRefs(list, replaced, sequence, sequence);
  if (!moved.ok()) return moved.status();
  return true;
}

}  // namespace aisle::server
