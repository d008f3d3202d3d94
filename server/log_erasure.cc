#include "server/log_erasure.h"

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
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

// The same for a users' attributes entry: its sequence and the ids it
// keeps determine it.
std::string UsersReplacementId(
    uint64_t replaced,
    const google::protobuf::RepeatedPtrField<v1::User>& users) {
  std::string ids;
  for (const v1::User& u : users) absl::StrAppend(&ids, u.user_id(), "\n");
  const std::string digest = UserDigest(ids);
  return absl::StrCat("r1u-", replaced, "-",
                      absl::BytesToHexString(digest.substr(0, 12)));
}

// What erasing `user_id` makes of an entry that names it.
struct Rewritten {
  bool unchanged = false;  // nothing of the user's in it
  // The entry to re-append in its place (others' data kept), with its
  // de-duplication id; none when it held only the user's.
  std::optional<cluster::v1::LogEntry> rest;
  std::string rest_id;
};

// `ids`: the user's own id and its aliases (the ids of users merged into
// it). nullopt for a kind refs are not recorded for.
std::optional<Rewritten> Without(const cluster::v1::LogEntry& entry,
                                 const std::set<std::string>& ids,
                                 uint64_t sequence) {
  Rewritten out;
  cluster::v1::LogEntry rest = entry;
  int kept = 0;
  int total = 0;
  if (entry.kind_case() == cluster::v1::LogEntry::kEvents) {
    rest.mutable_events()->clear_events();
    for (const v1::Event& e : entry.events().events()) {
      if (!ids.contains(e.user_id())) *rest.mutable_events()->add_events() = e;
    }
    kept = rest.events().events_size();
    total = entry.events().events_size();
    rest.mutable_events()->set_replaces(sequence);
    out.rest_id = ReplacementId(sequence, rest.events().events());
  } else if (entry.kind_case() == cluster::v1::LogEntry::kUpsertUsers) {
    rest.mutable_upsert_users()->clear_users();
    for (const v1::User& u : entry.upsert_users().users()) {
      if (!ids.contains(u.user_id())) {
        *rest.mutable_upsert_users()->add_users() = u;
      }
    }
    kept = rest.upsert_users().users_size();
    total = entry.upsert_users().users_size();
    rest.mutable_upsert_users()->set_replaces(sequence);
    out.rest_id = UsersReplacementId(sequence, rest.upsert_users().users());
  } else if (entry.kind_case() == cluster::v1::LogEntry::kMergeUsers) {
    // The merge into the user: erased whole. A node that never applied it
    // never needs it: every entry that held the merged user's data
    // before it is erased or rewritten with the user's.
    total = 1;
  } else {
    return std::nullopt;
  }
  out.unchanged = kept == total;
  if (kept > 0) out.rest = std::move(rest);
  return out;
}

}  // namespace

LogErasure::LogErasure(cluster::EventLog* log, storage::Store* store)
    : log_(log), store_(store) {}

absl::StatusOr<LogErasureStats> LogErasure::EraseUserEntries(
    const std::string& user_id) {
  LogErasureStats stats;
  absl::StatusOr<std::vector<storage::LogRef>> refs =
      store_->UserLogRefs(user_id);
  if (!refs.ok()) return refs.status();
  for (const storage::LogRef& ref : *refs) {
    const uint64_t sequence = ref.sequence;
    std::set<std::string> ids(ref.aliases.begin(), ref.aliases.end());
    ids.insert(user_id);
    absl::StatusOr<std::optional<cluster::LogEntry>> stored =
        log_->Get(sequence);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      ++stats.entries_gone;
      continue;
    }
    absl::StatusOr<cluster::v1::LogEntry> entry =
        ParseLogEntry((*stored)->payload);
    // Refs are only recorded for events, users' attributes and merge
    // entries; whatever else sits at this position holds the user's id no
    // more than any entry does.
    if (!entry.ok()) continue;
    std::optional<Rewritten> rewritten = Without(*entry, ids, sequence);
    if (!rewritten.has_value() || rewritten->unchanged) continue;
    if (rewritten->rest.has_value()) {
      absl::StatusOr<cluster::Appended> appended = log_->Append(
          rewritten->rest_id, rewritten->rest->SerializeAsString());
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
        "cluster: erased a user's data from {} log entries ({} of them "
        "re-appended without it first)",
        stats.entries_erased + stats.entries_rewritten,
        stats.entries_rewritten);
  }
  return stats;
}

absl::StatusOr<bool> LogErasure::ApplyReplacement(
    const cluster::v1::LogEntry& entry, uint64_t sequence) {
  std::set<std::string> users;
  uint64_t replaced = 0;
  if (entry.kind_case() == cluster::v1::LogEntry::kUpsertUsers) {
    replaced = entry.upsert_users().replaces();
    for (const v1::User& u : entry.upsert_users().users()) {
      users.insert(u.user_id());
    }
  } else {
    replaced = entry.events().replaces();
    for (const v1::Event& e : entry.events().events()) {
      users.insert(e.user_id());
    }
  }
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

absl::StatusOr<std::vector<core::UserAttributes>> LogErasure::UsersStillDue(
    const cluster::v1::LogEntry& entry) const {
  std::vector<core::UserAttributes> due;
  for (const v1::User& user : entry.upsert_users().users()) {
    absl::StatusOr<bool> later = store_->HasAttributesRefAfter(
        user.user_id(), entry.upsert_users().replaces());
    if (!later.ok()) return later.status();
    if (!*later) due.push_back(ToCoreUser(user));
  }
  return due;
}

}  // namespace aisle::server
