#include "server/cpu_policy.h"

#include <dirent.h>
#include <sched.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace aisle::server {

const char* CpuPolicyName(CpuPolicy policy) {
  return policy == CpuPolicy::kBatch ? "batch" : "normal";
}

absl::Status ApplyCpuPolicy(CpuPolicy policy) {
  const int linux_policy =
      policy == CpuPolicy::kBatch ? SCHED_BATCH : SCHED_OTHER;
  const sched_param param{};  // priority 0: the only one these policies take
  // The calling thread first: even if the listing below fails, the threads
  // it creates from here on inherit the policy.
  if (sched_setscheduler(0, linux_policy, &param) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("sched_setscheduler(", CpuPolicyName(policy), ")"));
  }
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) {
    return absl::ErrnoToStatus(errno, "opendir(/proc/self/task)");
  }
  absl::Status status;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long tid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || tid <= 0) continue;  // . ..
    if (sched_setscheduler(static_cast<pid_t>(tid), linux_policy, &param) !=
            0 &&
        errno != ESRCH &&  // the thread exited meanwhile
        status.ok()) {
      status = absl::ErrnoToStatus(
          errno, absl::StrCat("sched_setscheduler(", CpuPolicyName(policy),
                              ") of thread ", tid));
    }
  }
  closedir(dir);
  return status;
}

}  // namespace aisle::server
