// The Linux scheduling policy `aisle serve` runs its threads under.
//
// Why: on a loaded core the threads of one server take turns. gRPC's I/O
// threads wake for every request that arrives; under the default policy
// (SCHED_OTHER) a waking thread preempts the one working on a Recommend,
// so a call is cut into pieces, each piece pays a context switch and finds
// the engine's data evicted from the cache, and each wake-up reads one
// request instead of the several that arrive meanwhile. SCHED_BATCH
// (sched(7)) keeps the fairness of SCHED_OTHER but does not preempt on
// wake-up: the worker finishes its call, then the I/O thread reads
// everything that arrived. Measured on one core, 100k items (README
// "Performance"): FOR_YOU +30-60% calls/s at the same CPU, and lower p99
// in the open loop; on an idle core a waking thread still runs at once.
//
// SCHED_BATCH needs no privilege. It does not change the nice value.
#ifndef AISLE_SERVER_CPU_POLICY_H_
#define AISLE_SERVER_CPU_POLICY_H_

#include "absl/status/status.h"

namespace aisle::server {

enum class CpuPolicy {
  kBatch,   // SCHED_BATCH: no preemption on wake-up (the default)
  kNormal,  // SCHED_OTHER: the kernel's default
};

// Puts every thread of this process under `policy`; threads created later
// inherit it from their creator. Call it early, before the threads that
// matter start, or at least from a thread whose children matter.
//
// Returns OK, or the first error of sched_setscheduler (e.g. a container
// whose seccomp profile forbids it) with the thread id; threads already
// changed stay changed. Thread safety: safe to call from any thread; the
// result is undefined only for threads that start or exit while it runs
// (they may keep their creator's policy).
absl::Status ApplyCpuPolicy(CpuPolicy policy);

// "batch" or "normal".
const char* CpuPolicyName(CpuPolicy policy);

}  // namespace aisle::server

#endif  // AISLE_SERVER_CPU_POLICY_H_
