// Folding users into the model and swapping models: solving users'
// vectors (after events, and for everyone after a swap), Engine::SwapModel
// with the binding of a model to engine item ids, and the work after a
// swap (a deferred ANN index first, then every user), in the background or
// before SwapModel returns (EngineOptions::refold_in_background).
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/als.h"
#include "core/clock.h"
#include "core/engine_state.h"
#include "core/session_ranker.h"
#include "core/vector_index.h"

namespace aisle::core {

Engine::State::FoldJob Engine::State::MakeFoldJob(int32_t u,
                                                  const Binding& b) const {
  const UserRec& user = users[u];
  FoldJob job{u, user.generation, {}, {}};
  for (const UserItem& ui : user.items) {
    const int32_t row = b.Row(ui.item);
    const float w = Weight(user, ui);
    if (row < 0 || w <= 0) continue;
    job.rows.push_back(row);
    job.weights.push_back(w);
  }
  return job;
}

// Solves outside the lock; a vector is stored only if the user did not
// change meanwhile (a later call stores the newer one) and the model is
// still the one it was solved against.
int64_t Engine::State::FoldUsers(const std::vector<int32_t>& users_to_fold,
                                 int threads) {
  const std::shared_ptr<const Binding> b = CurrentBinding();
  if (threads <= 0) {
    threads =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  constexpr size_t kChunk = 1024;
  int64_t stored = 0;
  for (size_t start = 0; start < users_to_fold.size(); start += kChunk) {
    // Swapped again (that swap re-folds), or shutting down.
    if (CurrentBinding() != b || cancel_background) break;
    const size_t end = std::min(users_to_fold.size(), start + kChunk);
    std::vector<FoldJob> jobs;
    {
      absl::ReaderMutexLock lock(&mu);
      for (size_t k = start; k < end; ++k) {
        const int32_t u = users_to_fold[k];
        if (static_cast<size_t>(u) >= users.size() || users[u].id.empty()) {
          continue;
        }
        if (b == nullptr) {
          jobs.push_back({u, users[u].generation, {}, {}});
        } else {
          jobs.push_back(MakeFoldJob(u, *b));
        }
      }
    }
    std::vector<std::vector<float>> vectors(jobs.size());
    if (b != nullptr) {
      const FactorModel& m = *b->model;
      auto solve = [&](size_t first, size_t step) {
        for (size_t j = first; j < jobs.size(); j += step) {
          if (jobs[j].rows.empty()) continue;
          const Eigen::VectorXf x = m.FoldIn(jobs[j].rows, jobs[j].weights);
          vectors[j].assign(x.data(), x.data() + x.size());
        }
      };
      const size_t workers =
          std::min(static_cast<size_t>(threads), jobs.size() / 64 + 1);
      std::vector<std::thread> pool;
      for (size_t t = 1; t < workers; ++t) pool.emplace_back(solve, t, workers);
      solve(0, workers);
      for (std::thread& t : pool) t.join();
    }
    absl::MutexLock lock(&mu);
    for (size_t j = 0; j < jobs.size(); ++j) {
      const int32_t u = jobs[j].user;
      if (static_cast<size_t>(u) >= users.size()) continue;
      UserRec& user = users[u];
      if (user.id.empty() || user.generation != jobs[j].generation) continue;
      user.vec = std::move(vectors[j]);
      user.vec_serial = b ? b->serial : 0;
      ++stored;
    }
  }
  return stored;
}

std::vector<int32_t> Engine::State::AllUsers() const {
  std::vector<int32_t> all;
  {
    absl::ReaderMutexLock lock(&mu);
    all.reserve(user_index.size());
    for (const auto& [id, u] : user_index) all.push_back(u);
  }
  std::sort(all.begin(), all.end());
  return all;
}

absl::StatusOr<std::unique_ptr<AnnIndex>> Engine::State::LoadCachedAnn(
    const FactorModel& model, const AnnOptions& ann_options) const {
  const std::string path = AnnCachePath(options.model, model.version());
  if (path.empty()) return absl::NotFoundError("no ANN cache");
  return AnnIndex::Load(path, model.item_factors(), ann_options);
}

void Engine::State::AfterSwap(int threads) {
  std::shared_ptr<const Binding> b = CurrentBinding();
  if (b != nullptr && b->Ann() == nullptr &&
      b->model->num_items() >= options.model.ann_min_items) {
    const auto ann_start = SteadyClock::now();
    AnnOptions ann_options = options.model.ann;
    ann_options.cancel = &cancel_background;
    // In the background, leave a core to serving as the re-fold does.
    if (ann_options.threads <= 0) ann_options.threads = threads;
    const std::string cached = AnnCachePath(options.model, b->model->version());
    // SwapModel loads a cached index before the swap; here when that
    // failed or the file appeared since (the version was swapped in again).
    absl::StatusOr<std::unique_ptr<AnnIndex>> ann =
        LoadCachedAnn(*b->model, ann_options);
    const bool loaded = ann.ok();
    if (!loaded && !absl::IsNotFound(ann.status()) &&
        options.on_background_done) {
      options.on_background_done(
          absl::StrCat("not using the stored ANN index (",
                       ann.status().message(), "); building it again"));
    }
    std::string save_error;
    if (!loaded) {
      ann = AnnIndex::Build(b->model->item_factors(), ann_options);
      if (ann.ok() && !cached.empty()) {
        if (absl::Status saved = (*ann)->Save(cached); !saved.ok()) {
          save_error = absl::StrCat(
              " (not kept for the next start: ", saved.message(), ")");
        }
      }
    }
    const double seconds = SecondsSince(ann_start);
    std::string message;
    if (ann.ok()) {
      auto with_ann = std::make_shared<Binding>(*b);
      with_ann->deferred_ann = *std::move(ann);
      absl::MutexLock lock(&model_mu);
      if (binding == b) {
        binding = with_ann;
        b = std::move(with_ann);
        const size_t vectors_mb = (b->model->item_factors().size() +
                                   b->model->user_factors().size()) *
                                      sizeof(float) >>
                                  20;
        message = absl::StrFormat(
            "%s the ANN index over %d items of model %s in %.2f s "
            "(index %d MB; item and user vectors %d MB)%s",
            loaded ? "loaded" : "built", b->model->num_items(),
            b->model->version(), seconds, b->Ann()->MemoryBytes() >> 20,
            vectors_mb, save_error);
      }
    } else if (!absl::IsCancelled(ann.status())) {
      message = absl::StrCat("cannot build the ANN index of model ",
                             b->model->version(),
                             ", searching exactly: ", ann.status().message());
    }
    if (!message.empty() && options.on_background_done) {
      options.on_background_done(message);
    }
  }
  const auto start = SteadyClock::now();
  const int64_t users = FoldUsers(AllUsers(), threads);
  const double seconds = SecondsSince(start);
  refold_users = users;
  refold_seconds = seconds;
  if (options.on_background_done && b != nullptr && !cancel_background &&
      CurrentBinding() == b) {
    options.on_background_done(absl::StrCat(
        "re-solved ", users, " user vectors against model ",
        b->model->version(), " in ", absl::StrFormat("%.2f", seconds), " s"));
  }
}

void Engine::RefreshUserVectors() {
  state_->FoldUsers(state_->AllUsers(), state_->options.refold_threads);
}

std::shared_ptr<const FactorModel> Engine::SwapModel(
    std::shared_ptr<const FactorModel> model, StoredIndex stored_index) {
  std::shared_ptr<State::Binding> b;
  if (model != nullptr) {
    b = std::make_shared<State::Binding>();
    // A deferred index kept from an earlier build is loaded now, before
    // the swap (seconds at 1M items, against minutes to build it), so the
    // version answers with its index from its first request; any other
    // outcome is AfterSwap's (which reports a damaged file and rebuilds).
    // Not under the engine's mutex: a swap while serving (the model inbox)
    // must not stall every request for that long.
    if (stored_index == StoredIndex::kLoadBeforeSwap &&
        model->ann() == nullptr &&
        model->num_items() >= state_->options.model.ann_min_items) {
      const auto start = SteadyClock::now();
      absl::StatusOr<std::unique_ptr<AnnIndex>> ann =
          state_->LoadCachedAnn(*model, state_->options.model.ann);
      if (ann.ok()) {
        b->deferred_ann = *std::move(ann);
        if (state_->options.on_background_done) {
          state_->options.on_background_done(absl::StrFormat(
              "loaded the stored ANN index over %d items of model %s in "
              "%.2f s (index %d MB), before the swap",
              model->num_items(), model->version(), SecondsSince(start),
              b->deferred_ann->MemoryBytes() >> 20));
        }
      }
    }
    const RowMatrix& y = model->item_factors();
    b->inv_norms.resize(model->num_items());
    for (int32_t r = 0; r < model->num_items(); ++r) {
      const float norm = y.row(r).norm();
      b->inv_norms[r] = norm > 0 ? 1.0f / norm : 0.0f;
    }
    b->model_to_engine.resize(model->num_items());
    absl::MutexLock lock(&state_->mu);
    for (int32_t r = 0; r < model->num_items(); ++r) {
      b->model_to_engine[r] = state_->InternItem(model->ItemId(r));
    }
    b->engine_to_model.assign(state_->items.size(), -1);
    b->in_model_bits.assign((state_->items.size() + 63) / 64, 0);
    for (int32_t r = 0; r < model->num_items(); ++r) {
      const int32_t i = b->model_to_engine[r];
      b->engine_to_model[i] = r;
      b->in_model_bits[static_cast<size_t>(i) / 64] |= uint64_t{1} << (i % 64);
    }
    const auto& parameters = model->metadata().parameters;
    if (auto it = parameters.find(std::string(kSessionRankerWeightsParameter));
        it != parameters.end()) {
      // Unreadable weights (a version from elsewhere): the hand blend.
      absl::StatusOr<std::vector<double>> weights =
          ParseSessionRankerWeights(it->second);
      if (weights.ok()) b->ranker_weights = *std::move(weights);
    }
    b->model = std::move(model);
  }
  std::shared_ptr<const FactorModel> previous;
  // Held across the swap so that swaps and their re-folds stay in order.
  absl::MutexLock refold_lock(&state_->refold_mu);
  {
    absl::MutexLock lock(&state_->model_mu);
    if (b != nullptr) b->serial = state_->next_serial++;
    if (state_->binding != nullptr) previous = state_->binding->model;
    state_->binding = std::move(b);
  }
  // A running background worker stops at its next chunk.
  if (state_->refold_thread.joinable()) {
    state_->cancel_background = true;
    state_->refold_thread.join();
    state_->cancel_background = false;
  }
  if (state_->options.refold_in_background) {
    int threads = state_->options.refold_threads;
    if (threads <= 0) {
      threads = static_cast<int>(
          std::max(2u, std::thread::hardware_concurrency()) - 1);
    }
    State* s = state_.get();
    const int nice = state_->options.background_nice;
    const bool idle = state_->options.background_idle;
    state_->refold_thread = std::thread([s, threads, nice, idle] {
      // Per thread on Linux, and inherited by the threads this one starts.
      // Best effort: without the permission the work runs as before.
      if (idle) {
        const sched_param param{};
        sched_setscheduler(0, SCHED_IDLE, &param);
      } else if (nice > 0) {
        setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)),
                    std::min(nice, 19));
      }
      s->AfterSwap(threads);
    });
  } else {
    state_->AfterSwap(state_->options.refold_threads);
  }
  return previous;
}

double Engine::WaitForRefold(int64_t* users) {
  absl::MutexLock lock(&state_->refold_mu);
  if (state_->refold_thread.joinable()) state_->refold_thread.join();
  if (users != nullptr) *users = state_->refold_users;
  return state_->refold_seconds;
}

}  // namespace aisle::core
