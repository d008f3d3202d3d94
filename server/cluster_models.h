// ClusterModels: model versions in cluster mode travel through the
// cluster, not a shared filesystem (docs/cluster.md, "Models through the
// cluster"). A version is published as a verified blob in the cluster's
// model bucket (cluster/blob_store.h: chunked, SHA-256 checked) before
// its activation is logged; a node applying an activation of a version it
// does not store fetches it from the bucket first. So every node that
// applies the entry serves the same bytes, and none serves a partial one.
//
//   ClusterModels models(&blobs, &store, &model_manager, &metrics, {});
//   RETURN_IF_ERROR(models.Publish("v2"));      // before logging "activate"
//   RETURN_IF_ERROR(models.EnsureStored("v2")); // when applying it
//
// Thread safety: all methods may be called concurrently (the bucket, store
// and manager are).
#ifndef AISLE_SERVER_CLUSTER_MODELS_H_
#define AISLE_SERVER_CLUSTER_MODELS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cluster/blob_store.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "storage/store.h"

namespace aisle::server {

struct ClusterModelsOptions {
  // Fetch attempts per EnsureStored call while the bucket is unreachable
  // (the log applier calls it again after that). Default: 3.
  int fetch_attempts = 3;
  // Wait before the second attempt; doubled for each further one.
  // Default: 500 ms.
  absl::Duration retry_wait = absl::Milliseconds(500);
};

// The model bucket of the cluster whose log is the stream `stream`:
// "<stream>_MODELS" (clusters sharing NATS with different streams do not
// share models).
std::string ModelBucketName(const std::string& stream);

class ClusterModels {
 public:
  // Borrowed pointers; all must outlive this.
  ClusterModels(cluster::BlobStore* blobs, storage::Store* store,
                ModelManager* models, Metrics* metrics,
                ClusterModelsOptions options = {});

  // Makes `version` available to every node: OK when the bucket holds it;
  // else uploads this node's stored blob. NotFound when neither holds it;
  // Unavailable when the bucket cannot be reached (nothing is logged then:
  // the caller answers the RPC with it).
  absl::Status Publish(const std::string& version);

  // Makes sure this node stores `version` (not activated): OK at once when
  // it does; else fetches it from the bucket (logged, metric
  // aisle_cluster_model_fetches_total), with up to fetch_attempts tries
  // while the bucket is unreachable, and stores it. Errors every node
  // meets alike: NotFound (not in the bucket), FailedPrecondition (a
  // damaged or partial chunk set, or a blob that does not load: refused,
  // the serving version is unchanged). Unavailable after the attempts
  // (this node's trouble: the applier retries the entry).
  absl::Status EnsureStored(const std::string& version);

 private:
  // Whether this node's store holds `version`.
  absl::StatusOr<bool> StoredHere(const std::string& version) const;

  cluster::BlobStore* const blobs_;
  storage::Store* const store_;
  ModelManager* const models_;
  Metrics* const metrics_;
  const ClusterModelsOptions options_;
};

}  // namespace aisle::server

#endif  // AISLE_SERVER_CLUSTER_MODELS_H_
