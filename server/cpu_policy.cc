#include "server/cpu_policy.h"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace aisle::server {

namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The path of this process's cgroup in `hierarchy` ("" for v2's unified
// one, else a v1 controller such as "cpu"), from /proc/self/cgroup.
std::optional<std::string> OwnCgroup(absl::string_view controller) {
  std::optional<std::string> text = ReadFile("/proc/self/cgroup");
  if (!text) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    // "ID:CONTROLLERS:PATH"; v2 is "0::PATH".
    std::vector<absl::string_view> parts = absl::StrSplit(line, ':');
    if (parts.size() != 3) continue;
    if (controller.empty()
            ? parts[1].empty()
            : absl::StrContains(absl::StrCat(",", parts[1], ","),
                                absl::StrCat(",", controller, ","))) {
      return std::string(parts[2]);
    }
  }
  return std::nullopt;
}

// The cgroup's CPU limit in cores; nullopt when there is none or it cannot
// be read.
std::optional<double> CgroupCpuLimit() {
  if (std::optional<std::string> path = OwnCgroup("")) {
    for (const std::string& file :
         {absl::StrCat("/sys/fs/cgroup", *path, "/cpu.max"),
          std::string("/sys/fs/cgroup/cpu.max")}) {
      if (std::optional<std::string> text = ReadFile(file)) {
        return CpuMaxLimit(*text);
      }
    }
  }
  if (std::optional<std::string> path = OwnCgroup("cpu")) {
    for (const std::string& dir : {absl::StrCat("/sys/fs/cgroup/cpu", *path),
                                   std::string("/sys/fs/cgroup/cpu")}) {
      std::optional<std::string> quota = ReadFile(dir + "/cpu.cfs_quota_us");
      std::optional<std::string> period = ReadFile(dir + "/cpu.cfs_period_us");
      if (!quota || !period) continue;
      return CpuMaxLimit(absl::StrCat(absl::StripAsciiWhitespace(*quota), " ",
                                      absl::StripAsciiWhitespace(*period)));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> CpuMaxLimit(std::string_view cpu_max) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(
                         absl::string_view(cpu_max.data(), cpu_max.size())),
                     ' ', absl::SkipEmpty());
  if (parts.size() != 2) return std::nullopt;
  double quota = 0;
  double period = 0;
  // "max", and v1's -1, mean no limit.
  if (!absl::SimpleAtod(parts[0], &quota) ||
      !absl::SimpleAtod(parts[1], &period) || quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return quota / period;
}

int UsableCores() {
  int cores =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
    cores = CPU_COUNT(&set);
  }
  if (std::optional<double> limit = CgroupCpuLimit()) {
    cores = std::min(cores, static_cast<int>(std::ceil(*limit)));
  }
  return std::max(1, cores);
}

absl::Status DemoteThisThread(CpuPolicy policy) {
  if (policy != CpuPolicy::kNormal) {
    const sched_param param{};
    if (sched_setscheduler(0, SCHED_IDLE, &param) != 0) {
      return absl::ErrnoToStatus(errno, "sched_setscheduler(SCHED_IDLE)");
    }
    return absl::OkStatus();
  }
  // Never below the thread's own nice value (that would need privilege).
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, tid);
  if (errno != 0) return absl::ErrnoToStatus(errno, "getpriority");
  if (nice >= 10) return absl::OkStatus();
  if (setpriority(PRIO_PROCESS, tid, 10) != 0) {
    return absl::ErrnoToStatus(errno, "setpriority(10)");
  }
  return absl::OkStatus();
}

const char* CpuPolicyName(CpuPolicy policy) {
  switch (policy) {
    case CpuPolicy::kAdaptive:
      return "adaptive";
    case CpuPolicy::kBatch:
      return "batch";
    case CpuPolicy::kNormal:
      break;
  }
  return "normal";
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
