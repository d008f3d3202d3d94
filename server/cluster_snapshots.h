// Node snapshots in cluster mode (docs/cluster.md "Snapshots and
// joining"): a node publishes a consistent copy of its store (RocksDB
// checkpoint: the data, the applied log position and the engine snapshot,
// all as of one moment) to the cluster's snapshot bucket, and a node that
// starts with an empty data directory joins from the newest one and then
// reads the log after its position. So a node never needs the whole log,
// and the log's retention can be bounded (--cluster-max-age).
//
// Blob names are "snapshot-<position>-<taken at, unix ms>" (zero-padded,
// so names sort by position); <position> is a lower bound of the applied
// position inside (read before the checkpoint). A snapshot is one blob
// (cluster/blob_store.h: chunked, SHA-256 checked; a joiner never restores
// a partial one) holding the checkpoint's files (directory_pack.h),
// streamed both ways: neither the publisher nor the joiner holds it in
// memory.
//
// Publishing (ClusterSnapshots::PublishIfDue, from the server's
// background thread): when the newest published snapshot is older than
// the interval, or older than a DeleteUser this node applied (so that the
// erased user's data leaves the bucket within one check), the node
// refreshes its engine snapshot, checkpoints, publishes, then deletes
// every older snapshot. Nodes race harmlessly: the first one's snapshot
// makes the others' check find nothing due.
//
// Thread safety: ClusterSnapshots' methods may be called concurrently;
// JoinFromSnapshot runs before the store is opened.
#ifndef AISLE_SERVER_CLUSTER_SNAPSHOTS_H_
#define AISLE_SERVER_CLUSTER_SNAPSHOTS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cluster/blob_store.h"
#include "server/directory_pack.h"
#include "storage/store.h"

namespace aisle::server {

// The snapshot bucket of the cluster whose log is `stream`.
std::string SnapshotBucketName(const std::string& stream);

struct SnapshotName {
  uint64_t position = 0;
  int64_t taken_ms = 0;
};
std::string SnapshotBlobName(const SnapshotName& name);
// nullopt for a name SnapshotBlobName does not make.
std::optional<SnapshotName> ParseSnapshotBlobName(std::string_view name);

struct SnapshotPublished {
  std::string name;
  uint64_t position = 0;
  int64_t bytes = 0;
  int deleted_older = 0;
  double seconds = 0;
};

class ClusterSnapshots {
 public:
  // Borrowed pointers; they must outlive this. `refresh_engine_snapshot`
  // stores the engine's current snapshot in the store (so that a joiner
  // does not replay every stored event); its error is logged, not fatal.
  // `data_dir` is the store's: the checkpoint is made inside it (same
  // file system: hard links).
  ClusterSnapshots(cluster::BlobStore* bucket, storage::Store* store,
                   std::string data_dir,
                   std::function<absl::Status()> refresh_engine_snapshot);

  // Publishes a snapshot if one is due (see the file comment). Returns
  // what was published, or nullopt when none was due. Errors: the
  // bucket's (Unavailable) or the store's; nothing older is deleted then.
  absl::StatusOr<std::optional<SnapshotPublished>> PublishIfDue(
      absl::Duration interval);
  // Publishes one now, then deletes the older ones.
  absl::StatusOr<SnapshotPublished> Publish();

  // This node applied a DeleteUser at log position `sequence`: snapshots
  // published before it hold the user, so one is due.
  void NoteErasure(uint64_t sequence);

 private:
  cluster::BlobStore* const bucket_;
  storage::Store* const store_;
  const std::string data_dir_;
  const std::function<absl::Status()> refresh_engine_snapshot_;
  std::atomic<uint64_t> erased_at_{0};
  std::mutex publish_mu_;  // one Publish at a time
};

struct SnapshotJoined {
  std::string name;
  uint64_t position = 0;  // the name's (the store's own may be later)
  int64_t bytes = 0;
  double seconds = 0;
};

struct JoinOptions {
  // Also replace a store that `data_dir` holds (one the log has moved past:
  // retention deleted entries it has not applied). It is removed only once
  // a snapshot's bytes are in hand; an interruption from then on leaves a
  // dir that the next JoinFromSnapshot joins into.
  bool replace_store = false;
  // Only snapshots at a later position than this are used.
  uint64_t newer_than = 0;
};

// If `data_dir` holds no store (absent or empty, or an interrupted join
// of this function), or holds one and options.replace_store is set,
// restores the newest published snapshot into it. nullopt when there is a
// store (and no replace_store), or no snapshot newer than
// options.newer_than is published (the node then reads the log from its
// start, or from its store's position). A snapshot deleted or found
// damaged while being read is skipped for the next newest. Errors:
// Unavailable when the bucket cannot be reached (an empty node has
// nothing to serve: retry); the file system's.
absl::StatusOr<std::optional<SnapshotJoined>> JoinFromSnapshot(
    cluster::BlobStore& bucket, const std::string& data_dir,
    const JoinOptions& options = {});

}  // namespace aisle::server

#endif  // AISLE_SERVER_CLUSTER_SNAPSHOTS_H_
