// The Linux scheduling policy `aisle serve` runs its threads under
// (--cpu-policy): a trade between throughput and latency while the
// server's own background work runs.
//
// On a loaded core the threads of one server take turns. gRPC's I/O
// threads wake for every request that arrives; under the kernel's default
// policy (SCHED_OTHER, kNormal) a waking thread preempts the one working
// on a Recommend, so a call is cut into pieces, each paying a context
// switch and a cold cache, and each wake-up reads one request instead of
// the several that arrive meanwhile. SCHED_BATCH (kBatch, sched(7)) keeps
// the fair share but never preempts on wake-up: more calls per core and a
// lower p99 near saturation. Under kBatch the engine's background work
// (re-solving user vectors after a start or a model swap, deferred index
// builds) runs under SCHED_IDLE, which a request preempts at once (else
// a request arriving while it holds the core would wait for the
// scheduler tick); that work then gets only the time requests leave. The
// other cost: past capacity the thread that reads arriving calls runs up
// to a time slice later. kAdaptive (the default) keeps batch's gain and
// bounds that cost: the gRPC threads that run RPCs are under SCHED_BATCH
// while the Recommend queue keeps up and under SCHED_OTHER from the first
// call it sheds for load until a second passes without one
// (CallQueueOptions::relax_readers in call_queue.h), and the engine's
// background work runs under SCHED_IDLE; the server's housekeeping, which
// writes to the store, runs at nice 10 and paces itself (server.cc);
// every other thread keeps the process's policy. Measured figures:
// README "Performance" and "Overload".
//
// SCHED_BATCH needs no privilege. Neither policy changes the nice value.
#ifndef AISLE_SERVER_CPU_POLICY_H_
#define AISLE_SERVER_CPU_POLICY_H_

#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace aisle::server {

enum class CpuPolicy {
  kAdaptive,  // the threads running Recommend switch (the default)
  kBatch,     // SCHED_BATCH: no preemption on wake-up
  kNormal,    // SCHED_OTHER: the kernel's default
};

// Puts every thread of this process under `policy` (kAdaptive: SCHED_OTHER;
// the Recommend queue switches its threads itself); threads created later
// inherit it from their creator. Call it early, before the threads that
// matter start, or at least from a thread whose children matter.
//
// Returns OK, or the first error of sched_setscheduler (e.g. a container
// whose seccomp profile forbids it) with the thread id; threads already
// changed stay changed. Thread safety: safe to call from any thread; the
// result is undefined only for threads that start or exit while it runs
// (they may keep their creator's policy).
absl::Status ApplyCpuPolicy(CpuPolicy policy);

// Puts the calling thread behind the requests, for long work that holds
// no lock a request waits for (work that writes to the store does: a
// starved thread inside RocksDB's write path held Feedback for seconds;
// the server's housekeeping asks for kNormal's nice 10 instead): under
// `policy` kAdaptive or kBatch, SCHED_IDLE, which a request's thread
// preempts as soon as it wakes (a SCHED_BATCH thread does not preempt a
// normal one, however low its nice value); under kNormal, nice 10. Linux
// keeps both per thread, and the threads the caller starts later inherit
// them. A thread cannot undo either without CAP_SYS_NICE, so give such
// work its own thread. Returns OK, or the error of sched_setscheduler or
// setpriority. Thread safety: affects the calling thread only.
absl::Status DemoteThisThread(CpuPolicy policy);

// "adaptive", "batch" or "normal".
const char* CpuPolicyName(CpuPolicy policy);

// The cores this process may use: its CPU affinity (a server pinned with
// taskset), capped by the CPU limit of its cgroup rounded up (a
// container's limit, which does not show in the affinity): cgroup v2
// cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us. At least 1.
// Thread safety: safe to call from any thread.
int UsableCores();

// The limit in cores that a cgroup v2 cpu.max file states ("200000 100000"
// -> 2.0); nullopt for "max ..." (no limit) or text that is not one.
std::optional<double> CpuMaxLimit(std::string_view cpu_max);

}  // namespace aisle::server

#endif  // AISLE_SERVER_CPU_POLICY_H_
