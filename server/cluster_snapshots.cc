#include "server/cluster_snapshots.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "server/directory_pack.h"
#include "spdlog/spdlog.h"

namespace aisle::server {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kNamePrefix = "snapshot-";
// Inside the data dir: the checkpoint being published, the snapshot being
// joined, and the marker that says a join into this (empty) dir started.
constexpr char kPublishDir[] = ".snapshot-publish";
constexpr char kJoinDir[] = ".snapshot-join";
constexpr char kJoinMarker[] = ".snapshot-joining";

// Creates the empty file `path` (which must not exist) and fsyncs it: the
// join marker.
absl::Status CreateMarker(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", path.string(), ": ", strerror(errno)));
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    return absl::UnavailableError(absl::StrCat("fsync ", path.string()));
  }
  return absl::OkStatus();
}

// Removes everything in `dir` but the entries named in `keep`.
void RemoveEntriesExcept(const fs::path& dir,
                         std::initializer_list<std::string_view> keep) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (std::find(keep.begin(), keep.end(), name) == keep.end()) {
      fs::remove_all(e.path(), ec);
    }
  }
}

absl::Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", dir.string(), ": ", strerror(errno)));
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return absl::UnavailableError("fsync " + dir.string());
  return absl::OkStatus();
}

bool HasStore(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "CURRENT", ec);
}

// Whether `dir` is absent or empty, or holds what an interrupted join
// left (the marker says this function owned it).
bool JoinableDir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  if (fs::is_empty(dir, ec)) return true;
  return fs::exists(dir / kJoinMarker, ec) && !HasStore(dir);
}

}  // namespace

std::string SnapshotBucketName(const std::string& stream) {
  return stream + "_SNAPSHOTS";
}

std::string SnapshotBlobName(const SnapshotName& name) {
  return absl::StrFormat("%s%020u-%013d", kNamePrefix, name.position,
                         name.taken_ms);
}

std::optional<SnapshotName> ParseSnapshotBlobName(std::string_view name) {
  if (!name.starts_with(kNamePrefix)) return std::nullopt;
  name.remove_prefix(kNamePrefix.size());
  const size_t dash = name.find('-');
  if (dash != 20 || name.size() != 20 + 1 + 13) return std::nullopt;
  SnapshotName out;
  if (!absl::SimpleAtoi(absl::string_view(name.data(), 20), &out.position) ||
      !absl::SimpleAtoi(absl::string_view(name.data() + 21, 13),
                        &out.taken_ms)) {
    return std::nullopt;
  }
  return out;
}

ClusterSnapshots::ClusterSnapshots(
    cluster::BlobStore* bucket, storage::Store* store, std::string data_dir,
    std::function<absl::Status()> refresh_engine_snapshot)
    : bucket_(bucket),
      store_(store),
      data_dir_(std::move(data_dir)),
      refresh_engine_snapshot_(std::move(refresh_engine_snapshot)) {}

void ClusterSnapshots::NoteErasure(uint64_t sequence) {
  uint64_t seen = erased_at_.load();
  while (seen < sequence && !erased_at_.compare_exchange_weak(seen, sequence)) {
  }
}

absl::StatusOr<std::optional<SnapshotPublished>> ClusterSnapshots::PublishIfDue(
    absl::Duration interval) {
  absl::StatusOr<std::vector<std::string>> names = bucket_->List();
  if (!names.ok()) return names.status();
  std::optional<SnapshotName> newest;
  for (const std::string& name : *names) {
    std::optional<SnapshotName> parsed = ParseSnapshotBlobName(name);
    if (parsed.has_value() &&
        (!newest.has_value() || parsed->position > newest->position)) {
      newest = parsed;
    }
  }
  absl::StatusOr<uint64_t> applied = store_->AppliedLogSequence();
  if (!applied.ok()) return applied.status();
  if (*applied == 0) return std::nullopt;  // nothing to publish
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  bool due = !newest.has_value();
  if (newest.has_value()) {
    const bool old =
        now_ms - newest->taken_ms >= absl::ToInt64Milliseconds(interval);
    // Only a node that got further publishes: a newer copy is not older.
    due = (old && *applied > newest->position) ||
          erased_at_.load() > newest->position;
  }
  if (!due) return std::nullopt;
  absl::StatusOr<SnapshotPublished> published = Publish();
  if (!published.ok()) return published.status();
  return *published;
}

absl::StatusOr<SnapshotPublished> ClusterSnapshots::Publish() {
  std::lock_guard<std::mutex> lock(publish_mu_);
  const auto start = core::SteadyClock::now();
  if (absl::Status s = refresh_engine_snapshot_(); !s.ok()) {
    spdlog::warn(
        "cluster snapshot: the engine snapshot was not refreshed ({}); a "
        "node joining from it replays the stored events after the older one",
        s.ToString());
  }
  absl::StatusOr<uint64_t> applied = store_->AppliedLogSequence();
  if (!applied.ok()) return applied.status();
  const fs::path dir = fs::path(data_dir_) / kPublishDir;
  std::error_code ec;
  fs::remove_all(dir, ec);  // left by an interrupted publish
  if (absl::Status s = store_->Checkpoint(dir.string()); !s.ok()) return s;
  // Streamed from the checkpoint's files (hard links, unchanged while
  // read): one chunk in memory, not the store's size.
  absl::StatusOr<PackedDirectory> packed = PackedDirectory::Open(dir.string());
  if (!packed.ok()) {
    fs::remove_all(dir, ec);
    return packed.status();
  }

  SnapshotPublished out;
  out.position = *applied;
  out.name = SnapshotBlobName({*applied, absl::ToUnixMillis(absl::Now())});
  out.bytes = static_cast<int64_t>(packed->size());
  absl::StatusOr<cluster::BlobInfo> put =
      bucket_->PutFrom(out.name, packed->size(),
                       [&packed](uint64_t offset, size_t n, char* bytes) {
                         return packed->Read(offset, n, bytes);
                       });
  fs::remove_all(dir, ec);
  if (!put.ok()) return put.status();
  // Older snapshots go: the newest is all a joiner needs, and an older one
  // may hold a user erased since. A failure here leaves them for the next
  // publish (this one is stored).
  absl::StatusOr<std::vector<std::string>> names = bucket_->List();
  if (!names.ok()) {
    spdlog::warn("cluster snapshot: older snapshots not deleted: {}",
                 names.status().ToString());
    names = std::vector<std::string>();
  }
  for (const std::string& name : *names) {
    std::optional<SnapshotName> parsed = ParseSnapshotBlobName(name);
    if (!parsed.has_value() || name == out.name ||
        parsed->position > out.position) {
      continue;
    }
    if (absl::Status s = bucket_->Delete(name); !s.ok()) {
      spdlog::warn("cluster snapshot: {} not deleted: {}", name, s.ToString());
      continue;
    }
    ++out.deleted_older;
  }
  out.seconds = core::SecondsSince(start);
  spdlog::info(
      "cluster snapshot: published {} ({:.1f} MB, log position {}) in "
      "{:.2f} s; {} older deleted",
      out.name, out.bytes / 1e6, out.position, out.seconds, out.deleted_older);
  return out;
}

absl::StatusOr<std::optional<SnapshotJoined>> JoinFromSnapshot(
    cluster::BlobStore& bucket, const std::string& data_dir,
    const JoinOptions& options) {
  const fs::path dir(data_dir);
  bool replacing = options.replace_store && HasStore(dir);
  if (!replacing && (HasStore(dir) || !JoinableDir(dir))) return std::nullopt;
  const auto start = core::SteadyClock::now();
  absl::StatusOr<std::vector<std::string>> names = bucket.List();
  if (!names.ok()) {
    return absl::UnavailableError(
        absl::StrCat(replacing ? "this node's store is behind the log"
                               : "this node's data dir is empty",
                     " and the cluster's snapshots cannot be listed (",
                     names.status().message(), "); retry when NATS is up"));
  }
  std::vector<std::pair<SnapshotName, std::string>> snapshots;
  for (const std::string& name : *names) {
    if (std::optional<SnapshotName> p = ParseSnapshotBlobName(name)) {
      snapshots.emplace_back(*p, name);
    }
  }
  std::sort(snapshots.begin(), snapshots.end(),
            [](const auto& a, const auto& b) {
              return a.first.position > b.first.position;
            });
  const fs::path staging = dir / kJoinDir;
  for (const auto& [parsed, name] : snapshots) {
    if (parsed.position <= options.newer_than) break;  // newest first
    std::error_code ec;
    if (!replacing) {
      // Empty, or an interrupted join's leftovers (JoinableDir checked the
      // marker): cleared, and marked as this function's.
      if (fs::exists(dir, ec)) RemoveEntriesExcept(dir, {});
      fs::create_directories(dir, ec);
      if (absl::Status s = CreateMarker(dir / kJoinMarker); !s.ok()) return s;
    }
    // Streamed into the staging directory as it arrives (one chunk in
    // memory); used only once the whole blob's SHA-256 matched. A store
    // being replaced stays as it is meanwhile (RocksDB ignores the
    // subdirectory).
    fs::remove_all(staging, ec);
    DirectoryUnpacker unpacker(staging.string());
    absl::StatusOr<cluster::BlobInfo> got =
        bucket.GetTo(name, [&](std::string_view part) {
          absl::Status s = unpacker.Add(part);
          // Bytes that do not unpack are a damaged snapshot.
          if (absl::IsInvalidArgument(s)) {
            return absl::DataLossError(s.message());
          }
          return s;
        });
    if (got.ok()) {
      if (absl::Status s = unpacker.Finish(); !s.ok()) {
        got = absl::DataLossError(s.message());
      }
    }
    if (absl::IsNotFound(got.status()) || absl::IsDataLoss(got.status())) {
      spdlog::warn(
          "cluster: snapshot {} cannot be used ({}); trying an older one", name,
          got.status().ToString());
      fs::remove_all(staging, ec);
      continue;
    }
    if (!got.ok()) {
      fs::remove_all(staging, ec);
      return got.status();
    }
    if (replacing) {
      // The old store goes only now that a verified snapshot is in hand.
      // The marker first, then CURRENT: from here on an interruption
      // leaves a dir that does not open as a store and that the next
      // start joins into again.
      if (!fs::exists(dir / kJoinMarker, ec)) {
        if (absl::Status s = CreateMarker(dir / kJoinMarker); !s.ok()) return s;
      }
      if (!fs::remove(dir / "CURRENT", ec) || ec) {
        return absl::UnavailableError(
            absl::StrCat("cannot remove ", (dir / "CURRENT").string(),
                         " to replace the store: ", ec.message()));
      }
      if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
      RemoveEntriesExcept(dir, {kJoinMarker, kJoinDir});
      replacing = false;
    }
    absl::Status adopted =
        storage::AdoptCheckpoint(staging.string(), dir.string(), {kJoinMarker});
    if (absl::IsDataLoss(adopted)) {
      spdlog::warn("cluster: snapshot {} is damaged ({}); trying an older one",
                   name, adopted.ToString());
      fs::remove_all(staging, ec);
      continue;
    }
    if (!adopted.ok()) return adopted;
    fs::remove(dir / kJoinMarker, ec);
    SnapshotJoined joined;
    joined.name = name;
    joined.position = parsed.position;
    joined.bytes = got->size;
    joined.seconds = core::SecondsSince(start);
    return joined;
  }
  std::error_code ec;
  if (fs::exists(dir / kJoinMarker, ec)) {  // every snapshot failed
    RemoveEntriesExcept(dir, {});
  }
  return std::nullopt;
}

}  // namespace aisle::server
