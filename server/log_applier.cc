#include "server/log_applier.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/convert.h"
#include "server/log_entry.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

// How long one read waits for an entry: bounds how long Stop takes.
constexpr absl::Duration kReadTimeout = absl::Milliseconds(200);
// How often the distance to the log's end is refreshed for the metric,
// and the log probed (LogApplierOptions::on_log_answering).
constexpr absl::Duration kBehindRefresh = absl::Seconds(1);
constexpr absl::Duration kProbeTimeout = absl::Seconds(2);

// Errors every node meets in the same way for the same entry: recorded as
// the entry's result and skipped. Anything else is this node's trouble
// (I/O, disk full, corruption) and is retried.
bool SameOnEveryNode(const absl::Status& status) {
  return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ||
         absl::IsFailedPrecondition(status) || absl::IsOutOfRange(status);
}

}  // namespace

LogApplier::LogApplier(cluster::EventLog* log, Ingest* ingest,
                       ModelManager* models, storage::Store* store,
                       Metrics* metrics, LogApplierOptions options)
    : log_(log),
      ingest_(ingest),
      models_(models),
      store_(store),
      metrics_(metrics),
      options_(options),
      erasure_(log, store) {}

LogApplier::~LogApplier() { Stop(); }

absl::Status LogApplier::Start() {
  absl::StatusOr<uint64_t> applied = store_->AppliedLogSequence();
  if (!applied.ok()) return applied.status();
  {
    absl::MutexLock lock(&mu_);
    applied_ = *applied;
  }
  metrics_->LogEntryApplied(*applied, std::nullopt);
  spdlog::info("cluster: applying the log from position {}", *applied + 1);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void LogApplier::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t LogApplier::applied() const {
  absl::MutexLock lock(&mu_);
  return applied_;
}

bool LogApplier::WaitApplied(uint64_t sequence, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, sequence]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return applied_ >= sequence;
  };
  mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
  return applied_ >= sequence;
}

absl::StatusOr<ApplyResult> LogApplier::WaitResult(uint64_t sequence,
                                                   absl::Time deadline) {
  if (!WaitApplied(sequence, deadline)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "log entry ", sequence, " is not applied on this node yet"));
  }
  absl::MutexLock lock(&mu_);
  auto it = results_.find(sequence);
  if (it == results_.end()) {
    return absl::NotFoundError(
        absl::StrCat("the result of log entry ", sequence,
                     " is no longer kept (applied long ago)"));
  }
  return it->second;
}

absl::Status LogApplier::CatchUp(absl::Time deadline) {
  absl::StatusOr<uint64_t> last = log_->LastSequence();
  if (!last.ok()) return last.status();
  {
    absl::MutexLock lock(&mu_);
    const uint64_t target = *last;
    auto done = [this, target]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return applied_ >= target || !gap_.ok();
    };
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    if (!gap_.ok()) return gap_;
    if (applied_ >= target) return absl::OkStatus();
  }
  return absl::DeadlineExceededError(
      absl::StrCat("applied ", applied(), " of ", *last, " log entries"));
}

bool LogApplier::WaitToRetry() {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.retry_wait);
  return !stopping_;
}

void LogApplier::Run() {
  std::unique_ptr<cluster::LogReader> reader;
  // An entry received but not applied yet (it ended a run of events
  // entries).
  std::optional<cluster::LogEntry> next;
  absl::Time next_behind_refresh = absl::Now();
  bool answering = true;  // what on_log_answering was last told
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (absl::Now() >= next_behind_refresh) {
      absl::StatusOr<uint64_t> last = log_->LastSequence();
      if (last.ok()) metrics_->SetLogEnd(*last);
      // Connected but unanswered: the NATS server this node talks to has
      // lost the quorum (appends would time out).
      if (options_.on_log_answering && log_->connected()) {
        const absl::Status probe = log_->Probe(kProbeTimeout);
        const bool now_answering = probe.ok();
        if (now_answering != answering) {
          answering = now_answering;
          if (!answering) {
            spdlog::warn(
                "cluster: the log does not answer ({}); writes answer "
                "UNAVAILABLE until it does",
                probe.ToString());
          } else {
            spdlog::info("cluster: the log answers again");
          }
          if (options_.on_log_answering) options_.on_log_answering(answering);
        }
      }
      next_behind_refresh = absl::Now() + kBehindRefresh;
    }
    if (reader == nullptr) {
      absl::StatusOr<std::unique_ptr<cluster::LogReader>> opened =
          log_->OpenReader(applied() + 1);
      if (absl::IsOutOfRange(opened.status())) {
        // Retention deleted entries this node has not applied: nothing it
        // reads from here on would be right. Only a snapshot can help
        // (docs/cluster.md "Snapshots and joining").
        bool first = false;
        {
          absl::MutexLock lock(&mu_);
          first = gap_.ok();
          gap_ = absl::OutOfRangeError(absl::StrCat(
              "this node applied the log up to entry ", applied_, ", but ",
              opened.status().message(),
              ": it cannot catch up from the log. Restart it: at start it "
              "replaces its store with the newest snapshot and reads the "
              "log's tail from there"));
          if (first) spdlog::error("cluster: {}", std::string(gap_.message()));
        }
        if (!WaitToRetry()) return;
        continue;
      }
      if (!opened.ok()) {
        spdlog::debug("cluster: cannot read the log yet: {}",
                      opened.status().ToString());
        if (!WaitToRetry()) return;
        continue;
      }
      reader = *std::move(opened);
    }
    if (!next.has_value()) {
      absl::StatusOr<std::optional<cluster::LogEntry>> entry =
          reader->Next(kReadTimeout);
      if (!entry.ok()) {
        spdlog::warn("cluster: reading the log: {}; re-opening",
                     entry.status().ToString());
        reader.reset();
        continue;
      }
      if (!entry->has_value()) continue;
      next = *std::move(*entry);
    }
    if (next->sequence <= applied()) {  // applied before a restart
      next.reset();
      continue;
    }
    // Consecutive events entries that have already arrived are applied
    // together: one store write (with the last one's position) and one
    // engine update for the run, which is what lets a node keep up with
    // many concurrent writers. Nothing waits for more entries to arrive.
    std::vector<EventsRunEntry> run;
    size_t run_events = 0;
    while (next.has_value() && run.size() < options_.max_run_entries &&
           run_events < options_.max_run_events) {
      absl::StatusOr<cluster::v1::LogEntry> parsed =
          ParseLogEntry(next->payload);
      // A replacement (log_erasure.h) is applied on its own.
      if (!parsed.ok() ||
          parsed->kind_case() != cluster::v1::LogEntry::kEvents ||
          parsed->events().replaces() != 0) {
        break;
      }
      run_events += static_cast<size_t>(parsed->events().events_size());
      run.push_back({*std::move(next), *std::move(parsed)});
      next.reset();
      absl::StatusOr<std::optional<cluster::LogEntry>> more =
          reader->Next(absl::ZeroDuration());
      if (!more.ok()) {
        reader.reset();  // re-opened after what the run applies
        break;
      }
      if (more->has_value()) next = *std::move(*more);
    }
    if (!run.empty()) {
      if (!ApplyEventsRun(run)) return;
      continue;
    }
    if (!ApplyWithRetry(*next)) return;
    next.reset();
  }
}

bool LogApplier::ApplyEventsRun(std::vector<EventsRunEntry>& run) {
  if (run.size() > 1) {
    std::vector<Ingest::EventsInput> inputs;
    inputs.reserve(run.size());
    for (const EventsRunEntry& e : run) {
      Ingest::EventsInput& in = inputs.emplace_back();
      for (const v1::Event& event : e.parsed.events().events()) {
        in.events.push_back(ToCoreEvent(event));
      }
      in.now_ms = e.parsed.written_at_ms();
      in.log_ref = e.raw.sequence;
      in.on_conflict = e.parsed.events().skip_id_conflicts()
                           ? storage::Store::OnIdConflict::kSkipConflicts
                           : storage::Store::OnIdConflict::kStoreNothing;
    }
    absl::StatusOr<std::vector<EventsStored>> stored =
        ingest_->AddEventGroups(std::move(inputs), run.back().raw.sequence);
    if (stored.ok()) {
      const absl::Time now = absl::Now();
      std::vector<std::pair<uint64_t, ApplyResult>> results;
      results.reserve(run.size());
      for (size_t i = 0; i < run.size(); ++i) {
        metrics_->LogEntryApplied(
            run[i].raw.sequence,
            absl::ToDoubleSeconds(now - run[i].raw.stored_at));
        ApplyResult& r =
            results.emplace_back(run[i].raw.sequence, ApplyResult{}).second;
        r.events = std::move((*stored)[i]);
        r.events.log_position = run[i].raw.sequence;
      }
      Applied(std::move(results));
      return true;
    }
    // Nothing of the run was stored: one entry at a time, so that an
    // entry's own error (the same on every node) stays its own and this
    // node's failures are retried entry by entry.
    spdlog::debug(
        "cluster: applying {} entries together failed ({}); one "
        "at a time",
        run.size(), stored.status().ToString());
  }
  for (const EventsRunEntry& e : run) {
    if (!ApplyWithRetry(e.raw)) return false;
  }
  return true;
}

bool LogApplier::ApplyWithRetry(const cluster::LogEntry& entry) {
  while (true) {
    ApplyResult result = Apply(entry);
    if (!result.status.ok() && SameOnEveryNode(result.status)) {
      spdlog::warn("cluster: log entry {} not applied: {}", entry.sequence,
                   result.status.ToString());
      // The entry wrote nothing; its position still has to be recorded
      // (a failure to do so is this node's, and retried).
      if (absl::Status s = store_->SetAppliedLogSequence(entry.sequence);
          !s.ok()) {
        result.status = s;
      }
    }
    if (result.status.ok() || SameOnEveryNode(result.status)) {
      const double lag = absl::ToDoubleSeconds(absl::Now() - entry.stored_at);
      metrics_->LogEntryApplied(entry.sequence, lag);
      Applied(entry.sequence, std::move(result));
      return true;
    }
    spdlog::error("cluster: applying log entry {} failed, retrying: {}",
                  entry.sequence, result.status.ToString());
    if (!WaitToRetry()) return false;
  }
}

ApplyResult LogApplier::Apply(const cluster::LogEntry& log_entry) {
  ApplyResult result;
  const uint64_t seq = log_entry.sequence;
  absl::StatusOr<cluster::v1::LogEntry> parsed =
      ParseLogEntry(log_entry.payload);
  if (!parsed.ok()) {
    // Every node parses the same bytes the same way.
    result.status = absl::FailedPreconditionError(parsed.status().message());
    return result;
  }
  const cluster::v1::LogEntry& entry = *parsed;
  switch (entry.kind_case()) {
    case cluster::v1::LogEntry::kEvents: {
      if (entry.events().replaces() != 0) {
        absl::StatusOr<bool> handled = erasure_.ApplyReplacement(entry, seq);
        if (!handled.ok()) {
          result.status = handled.status();
          break;
        }
        if (*handled) {
          result.events.duplicates = entry.events().events_size();
          result.events.log_position = seq;
          break;
        }
      }
      std::vector<core::Event> events;
      events.reserve(entry.events().events_size());
      for (const v1::Event& e : entry.events().events()) {
        events.push_back(ToCoreEvent(e));
      }
      absl::StatusOr<EventsStored> stored =
          ingest_->AddEvents(std::move(events), entry.written_at_ms(), seq,
                             entry.events().skip_id_conflicts()
                                 ? storage::Store::OnIdConflict::kSkipConflicts
                                 : storage::Store::OnIdConflict::kStoreNothing);
      if (stored.ok()) result.events = *stored;
      result.status = stored.status();
      break;
    }
    case cluster::v1::LogEntry::kUpsertItems: {
      std::vector<core::Item> items;
      for (const v1::Item& item : entry.upsert_items().items()) {
        items.push_back(ToCoreItem(item));
      }
      result.status =
          ingest_->UpsertItems(std::move(items), entry.written_at_ms(), seq);
      break;
    }
    case cluster::v1::LogEntry::kUpsertUsers: {
      std::vector<core::UserAttributes> users;
      if (entry.upsert_users().replaces() != 0) {
        absl::StatusOr<bool> handled = erasure_.ApplyReplacement(entry, seq);
        if (!handled.ok()) {
          result.status = handled.status();
          break;
        }
        if (*handled) break;
        absl::StatusOr<std::vector<core::UserAttributes>> due =
            erasure_.UsersStillDue(entry);
        if (!due.ok()) {
          result.status = due.status();
          break;
        }
        users = *std::move(due);
      } else {
        for (const v1::User& user : entry.upsert_users().users()) {
          users.push_back(ToCoreUser(user));
        }
      }
      result.status =
          ingest_->UpsertUsers(std::move(users), entry.written_at_ms(), seq);
      break;
    }
    case cluster::v1::LogEntry::kDeleteItems: {
      const std::vector<std::string> ids(
          entry.delete_items().item_ids().begin(),
          entry.delete_items().item_ids().end());
      absl::StatusOr<int> deleted = ingest_->DeleteItems(ids, seq);
      if (deleted.ok()) result.items_deleted = *deleted;
      result.status = deleted.status();
      break;
    }
    case cluster::v1::LogEntry::kDeleteUser:
      result = EraseUser(entry.delete_user(), seq);
      break;
    case cluster::v1::LogEntry::kDeleteUserDigest: {
      // Every node stores the same users at this position, so every node
      // finds the same one, or none (then nothing is stored to erase).
      const std::string& digest = entry.delete_user_digest();
      absl::StatusOr<std::optional<std::string>> user = store_->FindUser(
          [&](std::string_view id) { return UserDigest(id) == digest; });
      if (!user.ok()) {
        result.status = user.status();
      } else if (user->has_value()) {
        result = EraseUser(**user, seq);
      } else {
        result.status = store_->SetAppliedLogSequence(seq);
      }
      break;
    }
    case cluster::v1::LogEntry::kMergeUsers: {
      // The node that took the write validated it; the store refuses
      // equal ids and NUL in an id, whoever wrote the entry.
      const auto& m = entry.merge_users();
      absl::StatusOr<UserMerge> merged =
          ingest_->MergeUsers(m.from_user_id(), m.to_user_id(), seq);
      if (merged.ok()) result.merge = *merged;
      result.status = merged.status();
      break;
    }
    case cluster::v1::LogEntry::kActivateModel: {
      // Activation is idempotent, so recording the position after it (not
      // in the same batch) is enough: a crash in between re-activates.
      if (options_.ensure_model) {
        result.status = options_.ensure_model(entry.activate_model());
        if (!result.status.ok()) break;
      }
      // The index is built in the background: a large model's build would
      // hold this thread, and so every node's writes, for its duration.
      absl::StatusOr<core::ModelMetadata> model =
          models_->Activate(entry.activate_model(), /*rollback=*/false,
                            IndexBuild::kInBackground);
      if (model.ok()) {
        result.model = *model;
        result.status = store_->SetAppliedLogSequence(seq);
      } else {
        result.status = model.status();
      }
      break;
    }
    case cluster::v1::LogEntry::KIND_NOT_SET:
      result.status = absl::FailedPreconditionError("empty log entry");
      break;
  }
  return result;
}

ApplyResult LogApplier::EraseUser(const std::string& user_id, uint64_t seq) {
  ApplyResult result;
  // The log first, while this node's refs still say where the user's
  // events are; the store's erasure then deletes the refs. A failure
  // (NATS unreachable) retries the whole entry.
  absl::StatusOr<LogErasureStats> from_log = erasure_.EraseUserEntries(user_id);
  if (!from_log.ok()) {
    result.status = from_log.status();
    return result;
  }
  result.log_erased = *from_log;
  absl::StatusOr<UserErasure> erased = ingest_->EraseUser(user_id, seq);
  if (erased.ok()) result.erasure = *erased;
  result.status = erased.status();
  if (erased.ok() && options_.on_user_erased) options_.on_user_erased(seq);
  return result;
}

void LogApplier::Applied(uint64_t sequence, ApplyResult result) {
  std::vector<std::pair<uint64_t, ApplyResult>> one;
  one.emplace_back(sequence, std::move(result));
  Applied(std::move(one));
}

void LogApplier::Applied(
    std::vector<std::pair<uint64_t, ApplyResult>> results) {
  absl::MutexLock lock(&mu_);
  for (auto& [sequence, result] : results) {
    applied_ = sequence;
    results_[sequence] = std::move(result);
  }
  while (results_.size() > options_.results_kept) {
    results_.erase(results_.begin());
  }
}

}  // namespace aisle::server
