// A directory's regular files (not its subdirectories) as one byte
// sequence, and back: how a node snapshot (a RocksDB checkpoint) travels
// through the cluster's snapshot bucket (cluster_snapshots.h). Both ways
// stream, so that a snapshot about the size of the store is never held in
// memory whole.
//
// Format: "aisle-snapshot 1\n", then per file, sorted by name: the name's
// length (4 bytes, little-endian), the name, the file's size (8 bytes,
// little-endian), its bytes.
//
// Thread safety: a PackedDirectory may be read concurrently (it holds no
// open file); a DirectoryUnpacker is used by one thread.
#ifndef AISLE_SERVER_DIRECTORY_PACK_H_
#define AISLE_SERVER_DIRECTORY_PACK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aisle::server {

// The packed form of a directory, read on demand from its files, which
// must not change meanwhile (a checkpoint's do not).
class PackedDirectory {
 public:
  // Lists `dir`'s regular files and their sizes. Unavailable when the
  // directory cannot be listed.
  static absl::StatusOr<PackedDirectory> Open(const std::string& dir);

  uint64_t size() const { return size_; }
  // Fills `out` with the `n` packed bytes at `offset` (offset + n <=
  // size()): a BlobReader. Unavailable when a file cannot be read or got
  // shorter.
  absl::Status Read(uint64_t offset, size_t n, char* out) const;

 private:
  // A header (bytes) or a file's contents (path, size), at `start`.
  struct Segment {
    uint64_t start = 0;
    uint64_t size = 0;
    std::string header;
    std::string path;
  };
  std::vector<Segment> segments_;
  uint64_t size_ = 0;
};

// Writes a packed directory given in parts, in order, into `dir` (created
// by the first Add; must not exist), each file fsynced once complete.
class DirectoryUnpacker {
 public:
  explicit DirectoryUnpacker(std::string dir);
  ~DirectoryUnpacker();
  DirectoryUnpacker(const DirectoryUnpacker&) = delete;
  DirectoryUnpacker& operator=(const DirectoryUnpacker&) = delete;

  // The next bytes. InvalidArgument for bytes a PackedDirectory does not
  // make (no header, a bad file name); FailedPrecondition when `dir`
  // exists; Unavailable on a file system error. After an error the
  // unpacker refuses everything.
  absl::Status Add(std::string_view bytes);
  // InvalidArgument when the bytes ended inside a header or a file.
  absl::Status Finish();

 private:
  enum class Expect { kMagic, kNameSize, kName, kFileSize, kContents };
  absl::Status Consume(std::string_view* bytes);
  absl::Status OpenFile();
  absl::Status CloseFile();

  const std::string dir_;
  absl::Status status_;
  Expect expect_ = Expect::kMagic;
  std::string pending_;  // the header field being assembled
  std::string name_;
  uint64_t left_ = 0;  // bytes of the current file still to come
  int fd_ = -1;
};

// The whole packed form of `dir` / unpacked into `dir`, in memory (small
// directories and tests). Errors: as above.
absl::StatusOr<std::string> PackDirectory(const std::string& dir);
absl::Status UnpackDirectory(std::string_view packed, const std::string& dir);

}  // namespace aisle::server

#endif  // AISLE_SERVER_DIRECTORY_PACK_H_
