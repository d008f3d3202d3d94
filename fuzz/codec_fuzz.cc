// The storage codec on arbitrary bytes: the first byte picks the record
// type (event, item, user record, stored model metadata, idempotency
// record: every value the store writes), the events key parser, or the
// users column family's merge (two user records as RocksDB's merge
// operator combines them); the rest is the encoded record. Every
// decoder must answer DataLoss instead of crashing, reading out of bounds
// or looping; what decodes must encode to bytes that decode again to the
// same encoding (the codec is the only reader of what it writes); the merge
// is commutative and associative (RocksDB may group operands any way).
//
// AISLE_FUZZ_WRITE_SEEDS=DIR: writes one valid record of each type into
// DIR (how fuzz/corpus/codec/ was made) and exits.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>

#include "storage/codec.h"

namespace aisle::storage {
namespace {

template <typename Decode, typename Encode>
void RoundTrip(std::string_view bytes, Decode decode, Encode encode) {
  auto decoded = decode(bytes);
  if (!decoded.ok()) return;
  const std::string once = encode(*decoded);
  auto again = decode(once);
  if (!again.ok() || encode(*again) != once) std::abort();
}

void WriteSeed(const std::string& dir, const std::string& name, char kind,
               const std::string& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary) << kind << bytes;
}

void WriteSeeds(const std::string& dir) {
  core::Event e;
  e.event_id = "e1";
  e.user_id = "u1";
  e.item_id = "i1";
  e.type = core::EventType::kPurchase;
  e.value = 2;
  e.timestamp_ms = 1'700'000'000'000;
  e.recommendation_id = "r2-1-default-1-0123456789abcdef-u-00";
  WriteSeed(dir, "event", 0, EncodeEvent(e));
  core::Item item;
  item.item_id = "i1";
  item.title = "Shoe";
  item.categories = {"fashion/shoes"};
  item.tags = {"red"};
  item.price = 59.5;
  item.available = true;
  item.attributes = {{"brand", "x"}};
  WriteSeed(dir, "item", 1, EncodeItem(item));
  UserRecord user;
  user.first_seen_ms = 1;
  user.last_seen_ms = 2;
  WriteSeed(dir, "user", 2, EncodeUserRecord(user));
  StoredModel model;
  model.metadata.version = "v1";
  model.metadata.factors = 8;
  model.metadata.parameters = {{"alpha", "1"}};
  model.blob_bytes = 100;
  WriteSeed(dir, "stored_model", 3, EncodeStoredModel(model));
  IdempotencyRecord id;
  id.user_id = "u1";
  id.timestamp_ms = 5;
  WriteSeed(dir, "idempotency", 4, EncodeIdempotencyRecord(id));
  WriteSeed(dir, "event_key", 5, EventKey("u1", 1'700'000'000'000, 7));
  user.counts[1] = 3;
  const std::string first = EncodeUserRecord(user);
  WriteSeed(dir, "merge", 6,
            std::string(1, static_cast<char>(first.size())) + first +
                EncodeUserRecord(user));
  // Counts whose sum overflows int64 (a corrupt record meeting a large
  // one): the merge must stay defined, commutative and associative.
  user.counts[1] = std::numeric_limits<int64_t>::max();
  const std::string big = EncodeUserRecord(user);
  WriteSeed(dir, "merge_overflow", 6,
            std::string(1, static_cast<char>(big.size())) + big + big);
}

// Input: one byte n, then two encoded user records, the first n bytes long.
void Merge(std::string_view bytes) {
  if (bytes.empty()) return;
  const size_t n =
      std::min<size_t>(static_cast<uint8_t>(bytes[0]), bytes.size() - 1);
  auto a = DecodeUserRecord(bytes.substr(1, n));
  auto b = DecodeUserRecord(bytes.substr(1 + n));
  if (!a.ok() || !b.ok()) return;
  const std::string ab = EncodeUserRecord(CombineUserRecords(*a, *b));
  if (ab != EncodeUserRecord(CombineUserRecords(*b, *a))) std::abort();
  const UserRecord left = CombineUserRecords(CombineUserRecords(*a, *b), *a);
  const UserRecord right = CombineUserRecords(*a, CombineUserRecords(*b, *a));
  if (EncodeUserRecord(left) != EncodeUserRecord(right)) std::abort();
}

}  // namespace
}  // namespace aisle::storage

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("AISLE_FUZZ_WRITE_SEEDS")) {
    aisle::storage::WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aisle::storage;
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  switch (data[0] % 7) {
    case 0:
      RoundTrip(bytes, DecodeEvent, EncodeEvent);
      break;
    case 1:
      RoundTrip(bytes, DecodeItem, EncodeItem);
      break;
    case 2:
      RoundTrip(bytes, DecodeUserRecord, EncodeUserRecord);
      break;
    case 3:
      RoundTrip(bytes, DecodeStoredModel, EncodeStoredModel);
      break;
    case 4:
      RoundTrip(bytes, DecodeIdempotencyRecord, EncodeIdempotencyRecord);
      break;
    case 5:
      (void)EventKeyTimestamp(bytes);
      // A log ref's value: every byte string is one, and comes back whole.
      if (EncodeLogRefValue(DecodeLogRefValue(bytes)) != bytes) std::abort();
      break;
    case 6:
      Merge(bytes);
      break;
  }
  return 0;
}
