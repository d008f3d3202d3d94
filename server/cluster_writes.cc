#include "server/cluster_writes.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "server/log_entry.h"

namespace aisle::server {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

ClusterWrites::ClusterWrites(cluster::EventLog* log, LogApplier* applier,
                             const ModelManager* models,
                             ClusterModels* cluster_models, Metrics* metrics,
                             absl::Duration apply_timeout)
    : log_(log),
      applier_(applier),
      models_(models),
      cluster_models_(cluster_models),
      metrics_(metrics),
      apply_timeout_(apply_timeout) {}

absl::StatusOr<ClusterWrites::Logged> ClusterWrites::AppendAndApply(
    const std::string& id, const std::string& payload) {
  const int64_t start = core::SteadyNanos();
  absl::StatusOr<cluster::Appended> appended = log_->Append(id, payload);
  metrics_->ObserveLogAppend(core::SecondsSinceNanos(start), appended.ok());
  if (!appended.ok()) return appended.status();
  Logged logged;
  logged.sequence = appended->sequence;
  logged.duplicate = appended->duplicate;
  const absl::Time deadline = absl::Now() + apply_timeout_;
  absl::Status status;
  if (logged.duplicate) {
    // Applied already or soon; its result went to the first attempt.
    if (!applier_->WaitApplied(logged.sequence, deadline)) {
      status = absl::DeadlineExceededError("");
    }
  } else {
    absl::StatusOr<ApplyResult> result =
        applier_->WaitResult(logged.sequence, deadline);
    if (result.ok()) {
      logged.result = *std::move(result);
      status = logged.result.status;
    } else if (absl::IsNotFound(result.status())) {
      // Applied, but so long ago its result was dropped: report it as a
      // duplicate would be (nothing is known to have been rejected).
      logged.duplicate = true;
    } else {
      status = result.status();
    }
  }
  if (absl::IsDeadlineExceeded(status)) {
    return absl::UnavailableError(absl::StrCat(
        "the write is logged at position ", logged.sequence,
        " but this node has not applied it within ",
        absl::FormatDuration(apply_timeout_),
        "; it will be applied, and retrying is safe (a duplicate)"));
  }
  if (!status.ok()) return status;
  return logged;
}

absl::StatusOr<EventsStored> ClusterWrites::AddEvents(
    std::vector<core::Event> events, int64_t now_ms,
    storage::Store::OnIdConflict on_conflict) {
  FillEventDefaults(events, now_ms);
  absl::StatusOr<Logged> logged = AppendAndApply(
      EventBatchId(events),
      EventsEntry(events, now_ms,
                  on_conflict == storage::Store::OnIdConflict::kSkipConflicts));
  if (!logged.ok()) return logged.status();
  EventsStored stored = logged->result.events;
  if (logged->duplicate) {
    stored.accepted = 0;
    stored.duplicates = static_cast<int>(events.size());
  }
  stored.log_position = logged->sequence;
  return stored;
}

absl::Status ClusterWrites::UpsertItems(std::vector<core::Item> items,
                                        int64_t now_ms) {
  return AppendAndApply(UniqueEntryId(), UpsertItemsEntry(items, now_ms))
      .status();
}

absl::StatusOr<int> ClusterWrites::DeleteItems(
    const std::vector<std::string>& item_ids) {
  absl::StatusOr<Logged> logged =
      AppendAndApply(UniqueEntryId(), DeleteItemsEntry(item_ids, NowMs()));
  if (!logged.ok()) return logged.status();
  return logged->result.items_deleted;
}

absl::Status ClusterWrites::UpsertUsers(std::vector<core::UserAttributes> users,
                                        int64_t now_ms) {
  return AppendAndApply(UniqueEntryId(), UpsertUsersEntry(users, now_ms))
      .status();
}

absl::StatusOr<UserErasure> ClusterWrites::EraseUser(
    const std::string& user_id) {
  absl::StatusOr<Logged> logged =
      AppendAndApply(UniqueEntryId(), DeleteUserEntry(user_id, NowMs()));
  if (!logged.ok()) return logged.status();
  return logged->result.erasure;
}

absl::StatusOr<UserMerge> ClusterWrites::MergeUsers(const std::string& from,
                                                    const std::string& to) {
  absl::StatusOr<Logged> logged =
      AppendAndApply(UniqueEntryId(), MergeUsersEntry(from, to, NowMs()));
  if (!logged.ok()) return logged.status();
  return logged->result.merge;
}

absl::StatusOr<core::ModelMetadata> ClusterWrites::ActivateModel(
    const std::string& requested, bool rollback) {
  absl::StatusOr<std::string> resolved =
      models_->ResolveVersion(requested, rollback);
  if (!resolved.ok()) return resolved.status();
  const std::string& version = *resolved;
  if (absl::Status s = cluster_models_->Publish(version); !s.ok()) return s;
  absl::StatusOr<Logged> logged =
      AppendAndApply(UniqueEntryId(), ActivateModelEntry(version, NowMs()));
  if (!logged.ok()) return logged.status();
  return logged->result.model;
}

}  // namespace aisle::server
