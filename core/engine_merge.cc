// Engine::MergeUsers: an anonymous visitor's state moved to the user id
// they logged in as (MergeUsers RPC).
#include <algorithm>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "core/engine_state.h"

namespace aisle::core {

void Engine::MergeUsers(std::string_view from, std::string_view to,
                        std::span<const Event> moved) {
  AISLE_DCHECK(from != to);
  // The caller (server/ingest.cc) lets no event write in between, so
  // nothing of `from` arrives after it is forgotten.
  EraseUser(from);
  std::vector<int32_t> touched;
  {
    absl::MutexLock lock(&state_->mu);
    for (Event e : moved) {
      e.user_id = std::string(to);
      state_->Apply(e, &touched, /*aggregates=*/false);
    }
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  state_->FoldUsers(touched);
}

}  // namespace aisle::core
