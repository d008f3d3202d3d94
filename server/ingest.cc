#include "server/ingest.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "server/recommendation_id.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

// Stable 64-bit hash (FNV-1a with a splitmix64 finaliser). Unlike
// absl::Hash it is the same in every process and build, which derived
// event ids require.
class StableHasher {
 public:
  explicit StableHasher(uint64_t seed) : h_(0xcbf29ce484222325ULL ^ seed) {}
  void Add(std::string_view bytes) {
    AddInt(bytes.size());  // length prefix: ("ab","c") != ("a","bc")
    for (unsigned char c : bytes) Mix(c);
  }
  void AddInt(uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      Mix(static_cast<unsigned char>(value >> (8 * i)));
    }
  }
  uint64_t Finish() const {
    uint64_t z = h_ + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  void Mix(unsigned char c) {
    h_ ^= c;
    h_ *= 0x100000001b3ULL;
  }
  uint64_t h_;
};

}  // namespace

std::string DerivedEventId(const core::Event& event) {
  // Two independently seeded 64-bit hashes: 128 bits make accidental
  // collisions (which would drop a real event as a duplicate) negligible.
  std::string out = "h1-";
  for (uint64_t seed : {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL}) {
    StableHasher h(seed);
    h.Add(event.user_id);
    h.Add(event.item_id);
    h.AddInt(static_cast<uint64_t>(event.type));
    h.AddInt(static_cast<uint64_t>(event.timestamp_ms));
    // Only when set, so ids derived before SEARCH existed stay the same;
    // two searches in one millisecond are two events.
    if (!event.query.empty()) h.Add(event.query);
    absl::StrAppend(&out, absl::Hex(h.Finish(), absl::kZeroPad16));
  }
  return out;
}

std::string EventBatchId(const std::vector<core::Event>& events) {
  std::string out = "b1-";
  for (uint64_t seed : {0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL}) {
    StableHasher h(seed);
    h.AddInt(events.size());
    for (const core::Event& e : events) h.Add(e.event_id);
    absl::StrAppend(&out, absl::Hex(h.Finish(), absl::kZeroPad16));
  }
  return out;
}

Ingest::Ingest(core::Engine* engine, storage::Store* store, Metrics* metrics,
               AccessLog* access_log, const RecommendationIds* ids,
               const Experiments* experiments, ExperimentStats* stats,
               ItemActivity* activity)
    : engine_(engine),
      store_(store),
      metrics_(metrics),
      access_log_(access_log),
      ids_(ids),
      experiments_(experiments),
      experiment_stats_(stats),
      item_activity_(activity) {}

void FillEventDefaults(std::vector<core::Event>& events, int64_t now_ms) {
  for (core::Event& e : events) {
    if (e.timestamp_ms == 0) e.timestamp_ms = now_ms;
    if (e.event_id.empty()) e.event_id = DerivedEventId(e);
  }
}

absl::StatusOr<EventsStored> Ingest::AddEvents(
    std::vector<core::Event> events, int64_t now_ms, uint64_t log_sequence,
    storage::Store::OnIdConflict on_conflict) {
  std::vector<EventsInput> inputs(1);
  inputs[0] = {std::move(events), now_ms, on_conflict, log_sequence};
  absl::StatusOr<std::vector<EventsStored>> stored =
      AddEventGroups(std::move(inputs), log_sequence);
  if (!stored.ok()) return stored.status();
  return std::move(stored->front());
}

absl::StatusOr<std::vector<EventsStored>> Ingest::AddEventGroups(
    std::vector<EventsInput> inputs, uint64_t log_sequence) {
  std::vector<storage::Store::EventGroup> groups;
  groups.reserve(inputs.size());
  for (EventsInput& in : inputs) {
    FillEventDefaults(in.events, in.now_ms);
    groups.push_back({in.events, in.on_conflict, in.log_ref});
  }

  absl::ReaderMutexLock erase_lock(&erase_mu_);
  const int64_t write_start = core::SteadyNanos();
  absl::StatusOr<std::vector<storage::AppendResult>> results =
      store_->AppendEventGroups(groups, log_sequence);
  metrics_->ObserveStorageWrite(core::SecondsSinceNanos(write_start));
  if (!results.ok()) return results.status();

  // The newly stored events of every group, in order, and where each
  // group's start in `stored`.
  std::vector<core::Event> stored;
  std::vector<size_t> group_start;
  for (size_t g = 0; g < inputs.size(); ++g) {
    group_start.push_back(stored.size());
    const storage::AppendResult& r = (*results)[g];
    for (size_t i = 0; i < inputs[g].events.size(); ++i) {
      if (i < r.stored.size() && r.stored[i]) {
        stored.push_back(std::move(inputs[g].events[i]));
      }
    }
  }
  group_start.push_back(stored.size());
  if (!stored.empty()) {
    const int64_t apply_start = core::SteadyNanos();
    engine_->ApplyEvents(stored);
    metrics_->ObserveFoldIn(core::SecondsSinceNanos(apply_start));
  }

  std::vector<EventsStored> out(inputs.size());
  std::vector<storage::ExperimentCount> attributed;
  for (size_t g = 0; g < inputs.size(); ++g) {
    for (size_t i = group_start[g]; i < group_start[g + 1]; ++i) {
      CountStoredEvent(stored[i], inputs[g].now_ms, &attributed);
    }
    storage::AppendResult& r = (*results)[g];
    metrics_->EventsDuplicate(r.duplicates);
    out[g].accepted = r.accepted;
    out[g].duplicates = r.duplicates;
    out[g].log_position = log_sequence;
    out[g].conflicts = std::move(r.conflicts);
  }
  if (experiment_stats_ != nullptr && !attributed.empty()) {
    // The events are durable already: a failure to count them is logged,
    // never reported as a failure of the write.
    if (absl::Status s = experiment_stats_->Add(attributed); !s.ok()) {
      spdlog::warn("experiment counters not updated for {} events: {}",
                   attributed.size(), s.ToString());
    }
  }
  return out;
}

void Ingest::CountStoredEvent(
    const core::Event& e, int64_t now_ms,
    std::vector<storage::ExperimentCount>* attributed) {
  metrics_->EventStored(e.type);
  if (item_activity_ != nullptr) item_activity_->EventStored(e);
  if (e.recommendation_id.empty()) return;
  // A forged or expired id is stored with its event (it is the client's
  // data) but counts for no recommendation.
  RecommendationIds::Checked id =
      ids_->Check(e.recommendation_id, e.user_id, now_ms);
  if (!id.parts.has_value()) {
    metrics_->AttributionRejected(id.rejection);
    return;
  }
  // Only variants this server issues for the scenario count (an ended
  // experiment's ids do not), so label series stay bounded.
  const bool issued =
      experiments_ != nullptr
          ? experiments_->Issues(id.parts->scenario, id.parts->variant)
          : id.parts->variant == kDefaultVariant;
  if (!issued || !IsAttributedType(e.type)) return;
  metrics_->EventAttributed(id.parts->scenario, id.parts->variant, e.type);
  attributed->push_back(
      {id.parts->scenario, std::move(id.parts->variant), e.type, 1});
}

absl::Status Ingest::UpsertItems(std::vector<core::Item> items, int64_t now_ms,
                                 uint64_t log_sequence) {
  for (core::Item& item : items) item.updated_at_ms = now_ms;
  const int64_t write_start = core::SteadyNanos();
  absl::Status status = store_->PutItems(items, log_sequence);
  metrics_->ObserveStorageWrite(core::SecondsSinceNanos(write_start));
  if (!status.ok()) return status;
  engine_->UpsertItems(items);
  return absl::OkStatus();
}

absl::Status Ingest::UpsertUsers(std::vector<core::UserAttributes> users,
                                 int64_t now_ms, uint64_t log_sequence) {
  for (core::UserAttributes& user : users) user.updated_at_ms = now_ms;
  // Under the erasure lock, as events: an erasure never leaves attributes
  // stored before it in the engine, or lets them slip in between.
  absl::ReaderMutexLock erase_lock(&erase_mu_);
  const int64_t write_start = core::SteadyNanos();
  absl::Status status = store_->PutUsers(users, log_sequence);
  metrics_->ObserveStorageWrite(core::SecondsSinceNanos(write_start));
  if (!status.ok()) return status;
  engine_->UpsertUsers(users);
  return absl::OkStatus();
}

absl::StatusOr<int> Ingest::DeleteItems(
    const std::vector<std::string>& item_ids, uint64_t log_sequence) {
  const int64_t write_start = core::SteadyNanos();
  absl::StatusOr<int> deleted = store_->DeleteItems(item_ids, log_sequence);
  metrics_->ObserveStorageWrite(core::SecondsSinceNanos(write_start));
  if (!deleted.ok()) return deleted.status();
  engine_->DeleteItems(item_ids);
  return *deleted;
}

absl::StatusOr<UserErasure> Ingest::EraseUser(const std::string& user_id,
                                              uint64_t log_sequence) {
  absl::WriterMutexLock erase_lock(&erase_mu_);
  absl::StatusOr<storage::EraseResult> erased =
      store_->EraseUser(user_id, log_sequence);
  if (!erased.ok()) return erased.status();
  std::optional<core::UserProfile> profile = engine_->GetUser(user_id);
  engine_->EraseUser(user_id);
  UserErasure erasure;
  erasure.events_deleted = erased->events_deleted;
  erasure.idempotency_keys_deleted = erased->idempotency_keys_deleted;
  erasure.profile_deleted = erased->profile_deleted || profile.has_value();
  erasure.vector_deleted = profile.has_value() && profile->has_vector;
  spdlog::info("erased user {}: {} events, {} idempotency keys",
               access_log_->HashUserId(user_id), erasure.events_deleted,
               erasure.idempotency_keys_deleted);
  return erasure;
}

absl::StatusOr<UserMerge> Ingest::MergeUsers(const std::string& from,
                                             const std::string& to,
                                             uint64_t log_sequence) {
  absl::WriterMutexLock erase_lock(&erase_mu_);
  absl::StatusOr<storage::MergeResult> merged =
      store_->MergeUsers(from, to, log_sequence);
  if (!merged.ok()) return merged.status();
  engine_->MergeUsers(from, to, merged->moved);
  UserMerge result;
  result.events_moved = static_cast<int64_t>(merged->moved.size());
  result.idempotency_keys_moved = merged->idempotency_keys_moved;
  result.profile_merged = merged->profile_merged;
  spdlog::info("merged user {} into {}: {} events",
               access_log_->HashUserId(from), access_log_->HashUserId(to),
               result.events_moved);
  return result;
}

}  // namespace aisle::server
