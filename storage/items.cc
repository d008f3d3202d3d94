// Items: PutItems, DeleteItems, GetItem, ScanItems.
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/string_view.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

// DataLoss naming the item if its record does not decode.
absl::StatusOr<core::Item> DecodeStoredItem(std::string_view item_id,
                                            std::string_view value) {
  absl::StatusOr<core::Item> item = DecodeItem(value);
  if (!item.ok()) {
    return absl::DataLossError(absl::StrCat(
        "item '", core::ToAbsl(item_id), "': ", item.status().message(),
        ": restore from a backup (aisle restore)"));
  }
  return item;
}

}  // namespace

absl::Status Store::PutItems(std::span<const core::Item> items,
                             uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (items.empty() && log_sequence == 0) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  for (const core::Item& item : items) {
    batch.Put(impl.items, item.item_id, EncodeItem(item));
  }
  impl.RecordLogSequence(&batch, log_sequence);
  return impl.Write(&batch, impl.SyncEvents(), "storing items");
}

absl::StatusOr<int> Store::DeleteItems(std::span<const std::string> item_ids,
                                       uint64_t log_sequence) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  if (item_ids.empty() && log_sequence == 0) return 0;
  std::vector<rocksdb::Slice> keys;
  for (const std::string& id : item_ids) keys.emplace_back(id);
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  impl.db->MultiGet(rocksdb::ReadOptions(), impl.items, keys.size(),
                    keys.data(), values.data(), statuses.data());
  int existed = 0;
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].ok()) {
      ++existed;
    } else if (!statuses[i].IsNotFound()) {
      return impl.Error(statuses[i], "reading items");
    }
    batch.Delete(impl.items, keys[i]);
  }
  impl.RecordLogSequence(&batch, log_sequence);
  if (absl::Status s = impl.Write(&batch, impl.SyncEvents(), "deleting items");
      !s.ok()) {
    return s;
  }
  return existed;
}

absl::StatusOr<core::Item> Store::GetItem(std::string_view item_id) const {
  const Impl& impl = *impl_;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = impl.db->Get(rocksdb::ReadOptions(), impl.items,
                                   ToSlice(item_id), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("item '", core::ToAbsl(item_id), "' not found"));
  }
  if (!s.ok()) return impl.Error(s, "reading an item");
  return DecodeStoredItem(item_id, ToView(value));
}

absl::Status Store::ScanItems(
    const std::function<absl::Status(std::span<const core::Item>)>& fn,
    size_t batch_size) const {
  return impl_->ScanInBatches<core::Item>(impl_->items, "scanning items",
                                          DecodeStoredItem, fn, batch_size);
}

}  // namespace aisle::storage
