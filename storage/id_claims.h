// Event-id claims: how concurrent AppendEvents calls that share an event_id
// store it once without serialising unrelated writers. The idempotency keys
// themselves (the event_ids column family: lookup, erasure, expiry) are
// handled by the Store::Impl methods in id_claims.cc. Private to storage/
// (not part of the API).
#ifndef AISLE_STORAGE_ID_CLAIMS_H_
#define AISLE_STORAGE_ID_CLAIMS_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "core/types.h"

namespace aisle::storage {

// Event ids being written right now. A writer claims all of its batch's ids
// at once (waiting while any is claimed by another writer), checks them
// against the event_ids column family, writes, and releases. This is lock
// striping with one stripe per 64-bit id hash: only writers sharing an id
// (or, rarely, a hash) wait for each other, so unrelated kMachine writers
// reach RocksDB together and share an fsync; claiming everything under one
// short mutex needs no lock ordering. A batch of 100 ids over a fixed
// stripe array of practical size would collide with most concurrent
// batches and serialise them. Thread-safe.
class EventIdClaims {
 public:
  // Blocks until no hash in `hashes` is claimed, then claims them all.
  void Acquire(const std::vector<uint64_t>& hashes);
  void Release(const std::vector<uint64_t>& hashes);

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<uint64_t> claimed_ ABSL_GUARDED_BY(mu_);
};

// Holds a claim for its lifetime.
class ClaimGuard {
 public:
  ClaimGuard(EventIdClaims* claims, std::vector<uint64_t> hashes)
      : claims_(claims), hashes_(std::move(hashes)) {
    claims_->Acquire(hashes_);
  }
  ~ClaimGuard() { claims_->Release(hashes_); }
  ClaimGuard(const ClaimGuard&) = delete;
  ClaimGuard& operator=(const ClaimGuard&) = delete;

 private:
  EventIdClaims* claims_;
  std::vector<uint64_t> hashes_;
};

// The distinct event ids of a batch.
struct BatchIds {
  // Index of each id's first occurrence, in batch order; a later
  // occurrence is a duplicate or a conflict whatever the store holds.
  std::vector<size_t> first;
  // What to claim: the ids' hashes, sorted, without repeats.
  std::vector<uint64_t> hashes;
};
BatchIds DistinctEventIds(std::span<const core::Event> events);

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_ID_CLAIMS_H_
