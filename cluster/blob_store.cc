// BlobStore's whole-blob calls, in terms of the chunked ones.
#include "cluster/blob_store.h"

#include <cstring>

namespace aisle::cluster {

absl::StatusOr<BlobInfo> BlobStore::Put(std::string_view name,
                                        std::string_view bytes) {
  return PutFrom(name, bytes.size(),
                 [bytes](uint64_t offset, size_t n, char* out) {
                   std::memcpy(out, bytes.data() + offset, n);
                   return absl::OkStatus();
                 });
}

absl::StatusOr<std::string> BlobStore::Get(std::string_view name) {
  std::string bytes;
  absl::StatusOr<BlobInfo> info = GetTo(name, [&](std::string_view part) {
    bytes.append(part);
    return absl::OkStatus();
  });
  if (!info.ok()) return info.status();
  return bytes;
}

}  // namespace aisle::cluster
