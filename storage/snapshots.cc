// Engine snapshots in the store: the stored snapshot (pieces under one
// generation, made visible by its manifest) and the arrival-ordered event
// log after it (storage/store.h, "Engine snapshots"; keys in codec.h).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

// Pieces are written in batches of about this many bytes (not fsynced:
// only the fsynced manifest written after them makes them visible).
constexpr size_t kPieceBatchBytes = 64 << 20;

}  // namespace

absl::StatusOr<std::optional<SnapshotManifest>>
Store::Impl::ReadSnapshotManifest() const {
  const Impl& impl = *this;
  if (impl.snapshot == nullptr) return std::nullopt;
  std::string value;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.snapshot,
                                   ToSlice(kSnapshotManifestKey), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return impl.Error(s, "reading the snapshot manifest");
  absl::StatusOr<SnapshotManifest> manifest = DecodeSnapshotManifest(value);
  if (!manifest.ok()) return manifest.status();
  return *manifest;
}

void Store::Impl::DropSnapshotInBatch(rocksdb::WriteBatch* batch) const {
  batch->DeleteRange(snapshot, ToSlice(kSnapshotPiecePrefix),
                     PrefixSuccessor(kSnapshotPiecePrefix));
  batch->Delete(snapshot, ToSlice(kSnapshotManifestKey));
}

absl::Status Store::Impl::CheckSnapshotGeneration() {
  if (options.read_only) return absl::OkStatus();
  const uint64_t generation = next_sequence.load() >> kSequenceCounterBits;
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), snapshot,
                              ToSlice(kSnapshotGenerationKey), &value);
  if (!s.ok() && !s.IsNotFound()) {
    return Error(s, "reading the snapshot generation");
  }
  uint64_t last = 0;
  const bool known = s.ok() && absl::SimpleAtoi(value, &last);
  rocksdb::WriteBatch batch;
  if (!known || last + 1 != generation) {
    // Another writer opened the store since the snapshot-aware one that
    // wrote the snapshot: its events are not in the event log, so neither
    // the snapshot nor the log can be trusted to cover them.
    DropSnapshotInBatch(&batch);
    batch.DeleteRange(snapshot, ToSlice(kEventLogPrefix),
                      PrefixSuccessor(kEventLogPrefix));
  }
  batch.Put(snapshot, ToSlice(kSnapshotGenerationKey),
            absl::StrCat(generation));
  return Write(&batch, /*sync=*/true, "recording the snapshot generation");
}

absl::StatusOr<SnapshotPosition> Store::SnapshotPositionNow() const {
  const Impl& impl = *impl_;
  absl::StatusOr<uint64_t> log = AppliedLogSequence();
  if (!log.ok()) return log.status();
  SnapshotPosition position;
  // The last sequence handed out (appends allocate before writing; none is
  // in flight, as the caller guarantees).
  position.event_sequence = impl.next_sequence.load() - 1;
  position.log_sequence = *log;
  position.erasures = impl.erasures.load();
  return position;
}

absl::Status Store::PutSnapshot(const SnapshotPosition& position,
                                std::span<const std::string> pieces) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(impl.snapshot_mu);
  // EraseUser holds snapshot_mu too: no erasure can happen from here on.
  if (impl.erasures.load() != position.erasures) {
    return absl::AbortedError(
        "a user was erased after the snapshot was taken; take a new one");
  }
  absl::StatusOr<std::optional<SnapshotManifest>> current =
      impl.ReadSnapshotManifest();
  if (!current.ok()) return current.status();
  SnapshotManifest manifest;
  manifest.generation = current->has_value() ? (*current)->generation + 1 : 1;
  manifest.pieces = static_cast<uint32_t>(pieces.size());
  manifest.position = position;
  manifest.written_at_ms = impl.NowMs();

  rocksdb::WriteBatch batch;
  for (uint32_t i = 0; i < pieces.size(); ++i) {
    manifest.bytes += pieces[i].size();
    batch.Put(impl.snapshot, SnapshotPieceKey(manifest.generation, i),
              ToSlice(pieces[i]));
    if (batch.GetDataSize() >= kPieceBatchBytes || i + 1 == pieces.size()) {
      if (absl::Status s =
              impl.Write(&batch, /*sync=*/false, "writing a snapshot");
          !s.ok()) {
        return s;
      }
      batch.Clear();
    }
  }
  // The user records and idempotency keys that the pruned part of the
  // event log feeds are folded first (user_deltas.cc).
  if (absl::Status f = impl.FoldUnfolded(); !f.ok()) return f;
  // One fsynced batch makes the new pieces the snapshot, drops every other
  // generation's (the previous one, any left by a crash) and the part of
  // the event log the snapshot covers.
  rocksdb::WriteBatch commit;
  commit.DeleteRange(impl.snapshot, ToSlice(kSnapshotPiecePrefix),
                     SnapshotPieceKey(manifest.generation, 0));
  commit.DeleteRange(impl.snapshot,
                     SnapshotPieceKey(manifest.generation, manifest.pieces),
                     PrefixSuccessor(kSnapshotPiecePrefix));
  commit.Put(impl.snapshot, ToSlice(kSnapshotManifestKey),
             EncodeSnapshotManifest(manifest));
  commit.DeleteRange(impl.snapshot, ToSlice(kEventLogPrefix),
                     EventLogKey(position.event_sequence + 1));
  return impl.Write(&commit, /*sync=*/true, "committing a snapshot");
}

absl::StatusOr<std::optional<StoredSnapshot>> Store::GetSnapshot() const {
  const Impl& impl = *impl_;
  absl::StatusOr<std::optional<SnapshotManifest>> manifest =
      impl.ReadSnapshotManifest();
  if (!manifest.ok()) return manifest.status();
  if (!manifest->has_value()) return std::nullopt;
  const SnapshotManifest& m = **manifest;
  StoredSnapshot out;
  out.position = m.position;
  out.position.erasures = 0;
  out.written_at_ms = m.written_at_ms;
  out.pieces.reserve(m.pieces);
  std::string prefix(kSnapshotPiecePrefix);
  {
    std::string generation = SnapshotPieceKey(m.generation, 0);
    prefix = generation.substr(0, generation.size() - 4);
  }
  uint64_t bytes = 0;
  absl::Status s = impl.ForEachInPrefix(
      impl.snapshot, prefix, Impl::BulkReadOptions(nullptr),
      "reading the snapshot",
      [&](std::string_view key, std::string_view value) -> absl::Status {
        if (key != SnapshotPieceKey(m.generation,
                                    static_cast<uint32_t>(out.pieces.size()))) {
          return absl::DataLossError("snapshot piece missing");
        }
        bytes += value.size();
        out.pieces.emplace_back(value);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  if (out.pieces.size() != m.pieces || bytes != m.bytes) {
    return absl::DataLossError(
        absl::StrCat("stored snapshot incomplete: ", out.pieces.size(), " of ",
                     m.pieces, " pieces, ", bytes, " of ", m.bytes, " bytes"));
  }
  return out;
}

absl::Status Store::DropSnapshot() {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(impl.snapshot_mu);
  rocksdb::WriteBatch batch;
  impl.DropSnapshotInBatch(&batch);
  return impl.Write(&batch, /*sync=*/true, "dropping the snapshot");
}

absl::Status Store::ScanEventsAfter(
    uint64_t event_sequence,
    const std::function<absl::Status(std::span<const core::Event>)>& fn,
    size_t batch_size) const {
  const Impl& impl = *impl_;
  if (impl.snapshot == nullptr || event_sequence == UINT64_MAX) {
    return absl::OkStatus();
  }
  batch_size = std::max<size_t>(batch_size, 1);
  rocksdb::ManagedSnapshot view(impl.db);
  const rocksdb::ReadOptions read = Impl::BulkReadOptions(view.snapshot());
  std::vector<std::string> keys;
  std::vector<core::Event> events;
  const auto deliver = [&]() -> absl::Status {
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), impl.events);
    std::vector<std::string> values;
    std::vector<rocksdb::Status> found =
        impl.db->MultiGet(read, cfs, slices, &values);
    events.clear();
    for (size_t i = 0; i < keys.size(); ++i) {
      if (found[i].IsNotFound()) continue;  // deleted since
      if (!found[i].ok()) return impl.Error(found[i], "reading logged events");
      absl::StatusOr<core::Event> e = DecodeEvent(values[i]);
      if (!e.ok()) {
        return absl::DataLossError(absl::StrCat(
            "event record in ", impl.options.data_dir, ": ",
            e.status().message(), ": restore from a backup (aisle restore)"));
      }
      events.push_back(*std::move(e));
    }
    keys.clear();
    return events.empty() ? absl::OkStatus() : fn(events);
  };
  // From the first sequence after the snapshot to the end of the log.
  const std::string first = EventLogKey(event_sequence + 1);
  const std::string end = PrefixSuccessor(kEventLogPrefix);
  const rocksdb::Slice end_slice(end);
  rocksdb::ReadOptions ro = read;
  ro.iterate_upper_bound = &end_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      impl.db->NewIterator(ro, impl.snapshot));
  for (it->Seek(first); it->Valid(); it->Next()) {
    keys.emplace_back(ToView(it->value()));
    if (keys.size() < batch_size) continue;
    if (absl::Status d = deliver(); !d.ok()) return d;
  }
  if (!it->status().ok())
    return impl.Error(it->status(), "reading the event log");
  return keys.empty() ? absl::OkStatus() : deliver();
}

}  // namespace aisle::storage
