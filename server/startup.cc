#include "server/startup.h"

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/demo_data.h"
#include "core/string_view.h"
#include "core/training.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(core::ToAbsl(context), ": ",
                                                  status.message()));
}

// "20261125T101500Z-demo": sortable by training time like the versions
// `aisle train` produces.
std::string DemoModelVersion() {
  return absl::StrCat(
      absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()),
      "-demo");
}

// Stores the demo catalog, users' attributes and events in batches and
// replays them.
absl::Status StoreDemoData(const core::DemoData& demo, storage::Store& store,
                           core::Engine& engine) {
  constexpr size_t kBatch = 1000;
  for (size_t i = 0; i < demo.items.size(); i += kBatch) {
    std::span<const core::Item> batch(demo.items.data() + i,
                                      std::min(kBatch, demo.items.size() - i));
    if (absl::Status s = store.PutItems(batch); !s.ok()) {
      return Annotate(s, "storing demo items");
    }
  }
  engine.UpsertItems(demo.items);
  for (size_t i = 0; i < demo.users.size(); i += kBatch) {
    std::span<const core::UserAttributes> batch(
        demo.users.data() + i, std::min(kBatch, demo.users.size() - i));
    if (absl::Status s = store.PutUsers(batch); !s.ok()) {
      return Annotate(s, "storing demo users");
    }
  }
  engine.UpsertUsers(demo.users);
  for (size_t i = 0; i < demo.events.size(); i += kBatch) {
    std::span<const core::Event> batch(
        demo.events.data() + i, std::min(kBatch, demo.events.size() - i));
    absl::StatusOr<storage::AppendResult> appended = store.AppendEvents(batch);
    if (!appended.ok()) {
      return Annotate(appended.status(), "storing demo events");
    }
    engine.ReplayEvents(batch);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadItems(const storage::Store& store, core::Engine& engine,
                       ReplayCounts* counts) {
  absl::Status status = store.ScanItems([&](std::span<const core::Item> batch) {
    engine.UpsertItems(batch);
    counts->items += static_cast<int64_t>(batch.size());
    return absl::OkStatus();
  });
  if (!status.ok()) return Annotate(status, "loading items");
  engine.BeginUserLoad();
  status = store.ScanUserAttributes(
      [&](std::span<const core::UserAttributes> batch) {
        engine.UpsertUsers(batch);
        counts->users += static_cast<int64_t>(batch.size());
        return absl::OkStatus();
      });
  engine.EndUserLoad();
  return Annotate(status, "loading user attributes");
}

absl::Status ReplayStore(const storage::Store& store, core::Engine& engine,
                         ReplayCounts* counts) {
  absl::Status status = LoadItems(store, engine, counts);
  if (!status.ok()) return status;
  auto last_log = core::SteadyClock::now();
  status = store.ScanEvents([&](std::span<const core::Event> batch) {
    engine.ReplayEvents(batch);
    counts->events += static_cast<int64_t>(batch.size());
    if (core::SecondsSince(last_log) >= 5) {
      spdlog::info("replaying events: {} so far", counts->events);
      last_log = core::SteadyClock::now();
    }
    return absl::OkStatus();
  });
  return Annotate(status, "loading events");
}

absl::Status GenerateDemo(storage::Store& store, core::Engine& engine,
                          ModelManager& models,
                          const core::ModelOptions& model_options,
                          int train_threads, int segments) {
  const auto start = core::SteadyClock::now();
  spdlog::info("--demo with an empty data dir: generating the demo store");
  core::DemoData demo = core::GenerateDemoData(core::DemoOptions{});
  if (absl::Status s = StoreDemoData(demo, store, engine); !s.ok()) return s;
  spdlog::info(
      "demo store: {} items, {} events ({:.1f} s); training the "
      "initial model",
      demo.items.size(), demo.events.size(), core::SecondsSince(start));

  core::TrainingOptions training;
  training.als.threads = train_threads;
  training.segments.k = segments;
  training.version = DemoModelVersion();
  training.extra_parameters = {{"source", "demo"}};
  const auto train_start = core::SteadyClock::now();
  absl::StatusOr<core::TrainedModel> trained = core::TrainModelVersion(
      engine.ExportTrainingData(), training, model_options,
      [](std::string_view phase, const core::AlsProgress& progress) {
        spdlog::info("training ({}): iteration {}/{} ({:.2f} s)", phase,
                     progress.iteration, progress.iterations, progress.seconds);
      });
  if (!trained.ok()) {
    return Annotate(trained.status(), "training the demo model");
  }
  std::shared_ptr<const core::FactorModel> model = std::move(trained->model);
  const core::ModelMetadata& metadata = model->metadata();
  if (absl::Status s = store.PutModel(metadata, model->Serialize()); !s.ok()) {
    return Annotate(s, "storing the demo model");
  }
  if (absl::Status s = store.SetActiveModel(metadata.version); !s.ok()) {
    return Annotate(s, "activating the demo model");
  }
  const auto ndcg = metadata.metrics.find("holdout_ndcg@10");
  spdlog::info("demo model {} trained in {:.1f} s (holdout nDCG@10 {:.4f})",
               metadata.version, core::SecondsSince(train_start),
               ndcg != metadata.metrics.end() ? ndcg->second : 0.0);
  models.Serve(std::move(model));
  return absl::OkStatus();
}

}  // namespace aisle::server
