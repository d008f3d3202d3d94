// Store's life cycle and write path: Open (data dir checks, RocksDB open,
// format markers), close, the shared write/meta helpers of Store::Impl,
// Flush and Stats. The record-specific methods are in events.cc, items.cc,
// users.cc, model_versions.cc, checkpoint.cc and id_claims.cc.
#include "storage/store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/string_view.h"
#include "storage/codec.h"
#include "storage/column_families.h"
#include "storage/data_dir.h"
#include "storage/rocksdb_status.h"
#include "storage/store_impl.h"

namespace aisle::storage {

absl::Status CheckUserIdKey(std::string_view user_id) {
  if (user_id.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("user_id contains a NUL byte");
  }
  return absl::OkStatus();
}

// --- Store::Impl
// --------------------------------------------------------------

Store::Impl::~Impl() { Close(); }

void Store::Impl::Close() {
  if (db == nullptr) return;
  StopFolder();
  if (!options.read_only) {
    // Best effort: a failure here leaves the data in the WAL, which the
    // next open replays.
    rocksdb::FlushOptions flush;
    flush.wait = true;
    db->Flush(flush, handles).PermitUncheckedError();
    db->SyncWAL().PermitUncheckedError();
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  db->Close().PermitUncheckedError();
  delete db;
  db = nullptr;
}

absl::Status Store::Impl::Error(const rocksdb::Status& s,
                                std::string_view what) const {
  return ToStatus(s, what, options.data_dir);
}

int64_t Store::Impl::NowMs() const {
  return options.now_ms ? options.now_ms() : absl::ToUnixMillis(absl::Now());
}

absl::Status Store::Impl::CheckWritable() const {
  if (options.read_only) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", options.data_dir, " is open read-only"));
  }
  return absl::OkStatus();
}

absl::Status Store::Impl::Write(rocksdb::WriteBatch* batch, bool sync,
                                std::string_view what) {
  if (write_failed.load(std::memory_order_relaxed)) {
    rocksdb::Status resumed = db->Resume();
    if (resumed.IsBusy()) {
      // RocksDB's own recovery (it polls for free space) is under way.
      absl::MutexLock lock(&write_error_mu);
      return absl::UnavailableError(absl::StrCat(
          core::ToAbsl(what), " in ", options.data_dir,
          ": an earlier write failed (", write_error,
          ") and the store is recovering: free space if the disk is full, "
          "then retry; no acknowledged data was lost"));
    }
    if (!resumed.ok()) return Error(resumed, what);
    write_failed.store(false, std::memory_order_relaxed);
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status s = db->Write(wo, batch);
  if (!s.ok()) {
    absl::Status error = Error(s, what);
    {
      absl::MutexLock lock(&write_error_mu);
      write_error = std::string(error.message());
    }
    write_failed.store(true, std::memory_order_relaxed);
    return error;
  }
  return absl::OkStatus();
}

void Store::Impl::RecordLogSequence(rocksdb::WriteBatch* batch,
                                    uint64_t log_sequence) const {
  if (log_sequence == 0) return;
  batch->Put(meta, kAppliedLogSequenceKey, absl::StrCat(log_sequence));
}

absl::StatusOr<std::optional<std::string>> Store::Impl::GetMeta(
    std::string_view key) const {
  std::string value;
  rocksdb::Status s =
      db->Get(rocksdb::ReadOptions(), meta, ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return Error(s, absl::StrCat("reading ", core::ToAbsl(key)));
  return value;
}

rocksdb::ReadOptions Store::Impl::BulkReadOptions(
    const rocksdb::Snapshot* snapshot) {
  constexpr size_t kScanReadaheadBytes = 2 << 20;
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.fill_cache = false;
  ro.readahead_size = kScanReadaheadBytes;
  return ro;
}

// --- Store
// ----------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const StoreOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("empty data dir path");
  }
  if (options.models_to_keep < 1) {
    return absl::InvalidArgumentError("models_to_keep must be at least 1");
  }
  const std::string& dir = options.data_dir;
  if (absl::Status s = CheckDataDir(dir, options.read_only); !s.ok()) {
    return s;
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.read_only) {
    absl::StatusOr<std::unique_ptr<WritableDirClaim>> claim =
        WritableDirClaim::Acquire(dir);
    if (!claim.ok()) return claim.status();
    impl->dir_claim = *std::move(claim);
  }
  impl->cache = rocksdb::NewLRUCache(options.block_cache_bytes);

  const rocksdb::DBOptions db_options = MakeDbOptions(options.read_only);
  absl::StatusOr<std::vector<rocksdb::ColumnFamilyDescriptor>> descriptors =
      ColumnFamiliesToOpen(db_options, dir, options.read_only, impl->cache);
  if (!descriptors.ok()) return descriptors.status();
  rocksdb::Status s;
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, dir, *descriptors,
                                     &impl->handles, &impl->db);
  } else {
    s = rocksdb::DB::Open(db_options, dir, *descriptors, &impl->handles,
                          &impl->db);
  }
  if (!s.ok()) return ToStatus(s, "opening the store", dir);
  impl->items = impl->handles[kItemsCf];
  impl->events = impl->handles[kEventsCf];
  impl->event_ids = impl->handles[kEventIdsCf];
  impl->users = impl->handles[kUsersCf];
  impl->models = impl->handles[kModelsCf];
  impl->meta = impl->handles[kMetaCf];
  // By name: absent when opened read-only on a store written before
  // snapshots or log refs (column_families.cc).
  for (rocksdb::ColumnFamilyHandle* h : impl->handles) {
    if (h->GetName() == kColumnFamilyNames[kSnapshotCf]) impl->snapshot = h;
    if (h->GetName() == kColumnFamilyNames[kLogRefsCf]) impl->log_refs = h;
  }

  if (absl::Status m = impl->CheckAndWriteMarkers(); !m.ok()) return m;
  if (absl::Status g = impl->CheckSnapshotGeneration(); !g.ok()) return g;
  std::unique_ptr<Store> store(new Store(std::move(impl)));
  if (absl::Status d = store->impl_->LoadUnfolded(*store); !d.ok()) return d;
  return store;
}

absl::Status Store::Flush() {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (absl::Status f = impl.FoldUnfolded(); !f.ok()) return f;
  rocksdb::FlushOptions flush;
  flush.wait = true;
  rocksdb::Status s = impl.db->Flush(flush, impl.handles);
  if (!s.ok()) return impl.Error(s, "flushing memtables");
  s = impl.db->SyncWAL();
  if (!s.ok()) return impl.Error(s, "syncing the WAL");
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Store::AppliedLogSequence() const {
  absl::StatusOr<int64_t> sequence = impl_->GetMetaInt(kAppliedLogSequenceKey);
  if (!sequence.ok()) return sequence.status();
  return static_cast<uint64_t>(*sequence);
}

absl::Status Store::SetAppliedLogSequence(uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  rocksdb::WriteBatch batch;
  impl.RecordLogSequence(&batch, log_sequence);
  return impl.Write(&batch, /*sync=*/true, "recording the log position");
}

StoreStats Store::Stats() const {
  const Impl& impl = *impl_;
  auto property = [&](rocksdb::ColumnFamilyHandle* cf, const char* name) {
    uint64_t v = 0;
    return impl.db->GetIntProperty(cf, name, &v) ? static_cast<int64_t>(v) : 0;
  };
  StoreStats stats;
  stats.items = property(impl.items, "rocksdb.estimate-num-keys");
  stats.events = property(impl.events, "rocksdb.estimate-num-keys");
  stats.users = property(impl.users, "rocksdb.estimate-num-keys");
  for (rocksdb::ColumnFamilyHandle* cf : impl.handles) {
    stats.live_data_bytes += property(cf, "rocksdb.estimate-live-data-size");
    stats.pending_compaction_bytes +=
        property(cf, "rocksdb.estimate-pending-compaction-bytes");
    stats.memtable_bytes += property(cf, "rocksdb.cur-size-all-mem-tables");
  }
  return stats;
}

}  // namespace aisle::storage
