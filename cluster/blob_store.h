// BlobStore: named, immutable blobs shared by every node of a cluster
// without a shared filesystem (cluster mode's model versions,
// docs/cluster.md "Models through the cluster"). Like EventLog it knows
// nothing of what a blob means. The implementation is a JetStream
// key-value bucket (ConnectJetStreamBlobs): a blob is cut into chunks of
// at most chunk_bytes (one KV value each, below NATS's max_payload) and a
// manifest (size, chunk count, SHA-256 of the whole blob) written after
// every chunk. A reader gets the manifest, then the chunks, and returns
// the blob only when its size and SHA-256 match: a node never sees a
// partial or damaged blob.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> blobs,
//                    ConnectJetStreamBlobs(options));
//   ASSIGN_OR_RETURN(BlobInfo info, blobs->Put("v1", bytes));
//   ASSIGN_OR_RETURN(std::string same, blobs->Get("v1"));
//
// Why a KV bucket: the Debian NATS C client (libnats 3.4) has JetStream
// key-value buckets but not the object store (added in 3.12); the bucket
// is a file-backed stream with the same replicas as the log.
//
// Thread safety: all methods may be called concurrently.
#ifndef AISLE_CLUSTER_BLOB_STORE_H_
#define AISLE_CLUSTER_BLOB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aisle::cluster {

struct BlobStoreOptions {
  // NATS server URLs; at least one (as LogOptions::servers).
  std::vector<std::string> servers;
  // The key-value bucket, created if missing (file storage). Default:
  // AISLE_MODELS.
  std::string bucket = "AISLE_MODELS";
  // Bucket replicas when it is created; 0 = min(3, servers.size()).
  int replicas = 0;
  // Largest chunk. Must stay below the NATS servers' max_payload (1 MiB
  // by default) minus a few hundred bytes of headers. Default: 512 KiB.
  int64_t chunk_bytes = 512 << 10;
  // Bound of each NATS request (one chunk's put or get). Default: 10 s.
  absl::Duration request_timeout = absl::Seconds(10);
  // Shown in NATS's connection list. Default: "aisle-blobs".
  std::string connection_name = "aisle-blobs";
  // The bucket's description when it is created.
  std::string description = "Aisle model versions, chunked (docs/cluster.md)";
};

// What a stored blob's manifest says.
struct BlobInfo {
  int64_t size = 0;
  int64_t chunks = 0;
  std::string sha256;  // lower-case hex
};

// Fills `out` with the `n` bytes of a blob at `offset` (PutFrom reads
// each byte twice: once for the SHA-256, once to store it).
using BlobReader =
    std::function<absl::Status(uint64_t offset, size_t n, char* out)>;
// Receives a blob's bytes in order, one chunk at a time (GetTo).
using BlobWriter = std::function<absl::Status(std::string_view bytes)>;

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores `bytes` as `name` (any non-empty string up to 200 bytes), chunks
  // first and the manifest last. Blobs are immutable: putting the same
  // bytes again is a no-op (OK); other bytes under a stored name are
  // AlreadyExists. Errors: InvalidArgument for a bad name; Unavailable
  // when NATS cannot be reached (nothing readable was stored: retry).
  absl::StatusOr<BlobInfo> Put(std::string_view name, std::string_view bytes);

  // As Put, for a blob of `size` bytes read through `read` when needed:
  // at most one chunk is in memory (a node snapshot is about the size of
  // the store). Errors: Put's, and `read`'s.
  virtual absl::StatusOr<BlobInfo> PutFrom(std::string_view name, uint64_t size,
                                           const BlobReader& read) = 0;

  // The manifest of `name`; nullopt when no complete blob of that name is
  // stored. Unavailable when NATS cannot be reached.
  virtual absl::StatusOr<std::optional<BlobInfo>> Stat(
      std::string_view name) = 0;

  // The whole blob, verified. NotFound when it has no manifest (never
  // published, or deleted); DataLoss when a chunk is missing or the
  // size or SHA-256 do not match (a partial or damaged chunk set: nothing
  // is returned); Unavailable when NATS cannot be reached.
  absl::StatusOr<std::string> Get(std::string_view name);

  // As Get, handing the blob to `write` chunk by chunk instead of
  // returning it: at most one chunk is in memory. `write` sees the bytes
  // before they are verified: when the size or SHA-256 turn out wrong
  // (DataLoss, after the last chunk) the caller drops what it was given.
  // Returns the manifest. Errors: Get's, and `write`'s.
  virtual absl::StatusOr<BlobInfo> GetTo(std::string_view name,
                                         const BlobWriter& write) = 0;

  // Removes the blob (manifest first, so readers stop seeing it, then its
  // chunks). OK when it was not stored.
  virtual absl::Status Delete(std::string_view name) = 0;

  // The names of the stored blobs (those with a manifest), sorted. Chunks
  // left without a manifest (an interrupted Put or Delete) are not listed.
  // Unavailable when NATS cannot be reached.
  virtual absl::StatusOr<std::vector<std::string>> List() = 0;
};

// Connects to NATS and opens (or creates) options.bucket. Errors:
// InvalidArgument for bad options; Unavailable when no server answers
// within the request timeout.
absl::StatusOr<std::unique_ptr<BlobStore>> ConnectJetStreamBlobs(
    const BlobStoreOptions& options);

// The KV key prefix of blob `name` (its characters outside [A-Za-z0-9_-]
// escaped as "=XX"): its manifest is "<prefix>.manifest", chunk i
// "<prefix>.chunk.<i>". Exposed for tests that damage a chunk.
std::string BlobKeyPrefix(std::string_view name);
// The blob name of a key prefix (BlobKeyPrefix's inverse); nullopt when
// `prefix` is not one BlobKeyPrefix makes.
std::optional<std::string> BlobNameOfPrefix(std::string_view prefix);

}  // namespace aisle::cluster

#endif  // AISLE_CLUSTER_BLOB_STORE_H_
