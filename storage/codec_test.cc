// Codec round trips, rejection of malformed records, and key ordering.
#include "storage/codec.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::core::Event;
using ::aisle::core::EventType;
using ::aisle::core::Item;
using ::aisle::testing::StatusIs;
using ::testing::_;

std::vector<Event> SampleEvents() {
  Event plain;
  plain.event_id = "e1";
  plain.user_id = "alice";
  plain.item_id = "sku-1";
  plain.type = EventType::kPurchase;
  plain.value = 2.5;
  plain.timestamp_ms = 1732500000000;
  plain.recommendation_id = "rec-9";

  Event empty_optional;  // empty item and recommendation ids, zero value
  empty_optional.event_id = "e2";
  empty_optional.user_id = "bob";
  empty_optional.type = EventType::kView;

  Event extremes;
  extremes.event_id = std::string("bin\xff\x00\x01", 6);
  extremes.user_id = "\xc3\xa9t\xc3\xa9";    // UTF-8
  extremes.item_id = std::string(300, 'x');  // multi-byte length varint
  extremes.type = EventType::kImpression;
  extremes.value = -std::numeric_limits<double>::infinity();
  extremes.timestamp_ms = std::numeric_limits<int64_t>::min();

  Event max_ts = plain;
  max_ts.timestamp_ms = std::numeric_limits<int64_t>::max();
  max_ts.value = std::numeric_limits<double>::denorm_min();

  Event search;  // no item, a query
  search.event_id = "e5";
  search.user_id = "carol";
  search.type = EventType::kSearch;
  search.query = "caf\xc3\xa9 jazz";
  return {plain, empty_optional, extremes, max_ts, search};
}

void ExpectEventEq(const Event& a, const Event& b) {
  EXPECT_EQ(a.event_id, b.event_id);
  EXPECT_EQ(a.user_id, b.user_id);
  EXPECT_EQ(a.item_id, b.item_id);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.timestamp_ms, b.timestamp_ms);
  EXPECT_EQ(a.recommendation_id, b.recommendation_id);
  EXPECT_EQ(a.query, b.query);
}

Item SampleItem() {
  Item item;
  item.item_id = "sku-42";
  item.title = "Blue mug";
  item.categories = {"kitchen/mugs", "gifts"};
  item.tags = {"blue", "ceramic", ""};
  item.price = 12.99;
  item.available = false;
  item.attributes = {{"color", "blue"}, {"size", "350ml"}, {"", "empty key"}};
  item.updated_at_ms = -5;
  return item;
}

core::ModelMetadata SampleMetadata() {
  core::ModelMetadata m;
  m.version = "20261125T101500Z-3f2a";
  m.trained_at_ms = 1732529700000;
  m.factors = 64;
  m.users = 6040;
  m.items = 3706;
  m.interactions = 1000209;
  m.metrics = {{"ndcg@10", 0.48}, {"recall@20", 0.31}};
  m.parameters = {{"alpha", "10"}, {"lambda", "0.05"}};
  return m;
}

TEST(StorageCodecTest, EventRoundTrip) {
  for (const Event& e : SampleEvents()) {
    SCOPED_TRACE(e.event_id);
    absl::StatusOr<Event> decoded = DecodeEvent(EncodeEvent(e));
    ASSERT_OK(decoded);
    ExpectEventEq(*decoded, e);
  }
}

TEST(StorageCodecTest, EventWithoutQueryKeepsTheEncodingOfEarlierBuilds) {
  // Records written before queries existed are format 1 and still decode;
  // a query makes the record format 2, which must carry one.
  const Event plain = SampleEvents()[0];
  Event with_query = plain;
  with_query.query = "jazz";
  const std::string old_bytes = EncodeEvent(plain);
  const std::string new_bytes = EncodeEvent(with_query);
  EXPECT_EQ(old_bytes[0], static_cast<char>(kFormatV1));
  EXPECT_EQ(new_bytes[0], static_cast<char>(kFormatV2));
  EXPECT_EQ(new_bytes.substr(1, old_bytes.size() - 1), old_bytes.substr(1));
  ASSERT_OK_AND_ASSIGN(Event decoded, DecodeEvent(old_bytes));
  EXPECT_EQ(decoded.query, "");
  // Format 2 with an empty query is not canonical: refused.
  std::string empty_query = old_bytes + std::string(1, '\0');
  empty_query[0] = static_cast<char>(kFormatV2);
  EXPECT_THAT(DecodeEvent(empty_query),
              StatusIs(absl::StatusCode::kDataLoss, _));
}

TEST(StorageCodecTest, EventKeepsNaNValue) {
  Event e = SampleEvents()[0];
  e.value = std::numeric_limits<double>::quiet_NaN();
  absl::StatusOr<Event> decoded = DecodeEvent(EncodeEvent(e));
  ASSERT_OK(decoded);
  EXPECT_TRUE(std::isnan(decoded->value));
}

TEST(StorageCodecTest, ItemRoundTrip) {
  for (const Item& item : {SampleItem(), Item{}}) {
    absl::StatusOr<Item> decoded = DecodeItem(EncodeItem(item));
    ASSERT_OK(decoded);
    EXPECT_EQ(decoded->item_id, item.item_id);
    EXPECT_EQ(decoded->title, item.title);
    EXPECT_EQ(decoded->categories, item.categories);
    EXPECT_EQ(decoded->tags, item.tags);
    EXPECT_EQ(decoded->price, item.price);
    EXPECT_EQ(decoded->available, item.available);
    EXPECT_EQ(decoded->attributes, item.attributes);
    EXPECT_EQ(decoded->updated_at_ms, item.updated_at_ms);
  }
}

TEST(StorageCodecTest, UserRecordRoundTripAndCombine) {
  UserRecord a;
  a.first_seen_ms = 100;
  a.last_seen_ms = 200;
  a.counts[static_cast<size_t>(EventType::kView)] = 3;
  a.counts[static_cast<size_t>(EventType::kPurchase)] = 1;
  absl::StatusOr<UserRecord> decoded = DecodeUserRecord(EncodeUserRecord(a));
  ASSERT_OK(decoded);
  EXPECT_EQ(decoded->first_seen_ms, 100);
  EXPECT_EQ(decoded->last_seen_ms, 200);
  EXPECT_EQ(decoded->counts, a.counts);

  UserRecord b;
  b.first_seen_ms = 50;
  b.last_seen_ms = 150;
  b.counts[static_cast<size_t>(EventType::kView)] = 2;
  const UserRecord c = CombineUserRecords(a, b);
  EXPECT_EQ(c.first_seen_ms, 50);
  EXPECT_EQ(c.last_seen_ms, 200);
  EXPECT_EQ(c.counts[static_cast<size_t>(EventType::kView)], 5);
  EXPECT_EQ(c.counts[static_cast<size_t>(EventType::kPurchase)], 1);
  const UserRecord d = CombineUserRecords(b, a);
  EXPECT_EQ(d.first_seen_ms, c.first_seen_ms);
  EXPECT_EQ(d.last_seen_ms, c.last_seen_ms);
  EXPECT_EQ(d.counts, c.counts);
}

TEST(StorageCodecTest, StoredModelRoundTrip) {
  StoredModel model{SampleMetadata(), 123456789};
  absl::StatusOr<StoredModel> decoded =
      DecodeStoredModel(EncodeStoredModel(model));
  ASSERT_OK(decoded);
  EXPECT_EQ(decoded->metadata.version, model.metadata.version);
  EXPECT_EQ(decoded->metadata.trained_at_ms, model.metadata.trained_at_ms);
  EXPECT_EQ(decoded->metadata.factors, 64);
  EXPECT_EQ(decoded->metadata.users, 6040);
  EXPECT_EQ(decoded->metadata.items, 3706);
  EXPECT_EQ(decoded->metadata.interactions, 1000209);
  EXPECT_EQ(decoded->metadata.metrics, model.metadata.metrics);
  EXPECT_EQ(decoded->metadata.parameters, model.metadata.parameters);
  EXPECT_EQ(decoded->blob_bytes, 123456789);
}

TEST(StorageCodecTest, IdempotencyRecordReadsFormatOneWithoutStorageTime) {
  // Format 1, as earlier builds wrote it: user "bob", timestamp 9.
  absl::StatusOr<IdempotencyRecord> decoded =
      DecodeIdempotencyRecord(std::string("\x01\x03"
                                          "bob"
                                          "\x12",
                                          6));
  ASSERT_OK(decoded);
  EXPECT_EQ(decoded->user_id, "bob");
  EXPECT_EQ(decoded->timestamp_ms, 9);
  EXPECT_EQ(decoded->stored_at_ms, kStoredAtUnknown);
}

TEST(StorageCodecTest, IdempotencyRecordRoundTrip) {
  IdempotencyRecord r{"alice", -42, 1234};
  absl::StatusOr<IdempotencyRecord> decoded =
      DecodeIdempotencyRecord(EncodeIdempotencyRecord(r));
  ASSERT_OK(decoded);
  EXPECT_EQ(decoded->user_id, "alice");
  EXPECT_EQ(decoded->timestamp_ms, -42);
  EXPECT_EQ(decoded->stored_at_ms, 1234);
}

// Encodings of every record kind, with a decoder that reports only success.
struct Encoded {
  std::string name;
  std::string bytes;
  bool (*decodes)(std::string_view);
  // Whether the decoder knows `format` (the first byte): the one it writes,
  // and for idempotency records also kFormatV1.
  bool Knows(char format) const {
    return format == bytes[0] ||
           (name == "idempotency" && format == static_cast<char>(kFormatV1));
  }
};

std::vector<Encoded> AllEncodings() {
  std::vector<Encoded> out;
  for (const Event& e : SampleEvents()) {
    out.push_back({"event", EncodeEvent(e),
                   [](std::string_view b) { return DecodeEvent(b).ok(); }});
  }
  out.push_back({"item", EncodeItem(SampleItem()),
                 [](std::string_view b) { return DecodeItem(b).ok(); }});
  UserRecord u;
  u.counts[1] = 300;
  out.push_back({"user", EncodeUserRecord(u),
                 [](std::string_view b) { return DecodeUserRecord(b).ok(); }});
  out.push_back({"model", EncodeStoredModel({SampleMetadata(), 7}),
                 [](std::string_view b) { return DecodeStoredModel(b).ok(); }});
  out.push_back(
      {"idempotency", EncodeIdempotencyRecord({"bob", 9, 10}),
       [](std::string_view b) { return DecodeIdempotencyRecord(b).ok(); }});
  return out;
}

TEST(StorageCodecTest, RejectsEveryTruncation) {
  for (const Encoded& enc : AllEncodings()) {
    SCOPED_TRACE(enc.name);
    ASSERT_TRUE(enc.decodes(enc.bytes));
    for (size_t n = 0; n < enc.bytes.size(); ++n) {
      EXPECT_FALSE(enc.decodes(std::string_view(enc.bytes).substr(0, n)))
          << "prefix of " << n << " bytes decoded";
    }
  }
}

TEST(StorageCodecTest, RejectsTrailingBytesAndUnknownFormat) {
  for (const Encoded& enc : AllEncodings()) {
    SCOPED_TRACE(enc.name);
    EXPECT_FALSE(enc.decodes(enc.bytes + '\0'));
    std::string other_format = enc.bytes;
    other_format[0] = static_cast<char>(kFormatV2 + 1);
    EXPECT_FALSE(enc.decodes(other_format));
  }
}

TEST(StorageCodecTest, RejectsUnknownEventType) {
  std::string bytes = EncodeEvent(SampleEvents()[1]);
  // Layout: format, "e2" (1+2), "bob" (1+3), "" (1), type.
  const size_t type_offset = 1 + 3 + 4 + 1;
  ASSERT_EQ(bytes[type_offset], static_cast<char>(EventType::kView));
  bytes[type_offset] = static_cast<char>(core::kNumEventTypes);
  absl::StatusOr<Event> decoded = DecodeEvent(bytes);
  EXPECT_THAT(decoded, StatusIs(absl::StatusCode::kDataLoss, _));
}

TEST(StorageCodecTest, RejectsHugeCounts) {
  // An item whose category count claims 2^62 elements.
  std::string bytes;
  bytes.push_back(static_cast<char>(kFormatV1));
  bytes += std::string("\x00\x00", 2);  // empty id and title
  bytes += std::string("\xff\xff\xff\xff\xff\xff\xff\xff\x3f");
  EXPECT_FALSE(DecodeItem(bytes).ok());
}

TEST(StorageCodecTest, RandomBytesNeverCrash) {
  std::mt19937_64 rng(20261125);
  std::uniform_int_distribution<int> len(0, 64);
  std::uniform_int_distribution<int> byte(0, 255);
  const std::vector<Encoded> encodings = AllEncodings();
  for (int i = 0; i < 500; ++i) {
    std::string bytes(len(rng), '\0');
    for (char& c : bytes) c = static_cast<char>(byte(rng));
    // Half the inputs start with the right format byte so the decoders get
    // past the first check; the others must all be rejected.
    if (i % 2 == 0 && !bytes.empty()) bytes[0] = static_cast<char>(kFormatV1);
    for (const Encoded& enc : encodings) {
      const bool ok = enc.decodes(bytes);
      if (bytes.empty() || !enc.Knows(bytes[0])) {
        EXPECT_FALSE(ok) << enc.name;
      }
    }
  }
  // Mutations of valid encodings reach deeper into the decoders; a changed
  // format byte must still be rejected.
  for (const Encoded& enc : encodings) {
    for (int i = 0; i < 100; ++i) {
      std::string bytes = enc.bytes;
      const size_t pos = rng() % bytes.size();
      bytes[pos] = static_cast<char>(byte(rng));
      const bool ok = enc.decodes(bytes);
      if (!enc.Knows(bytes[0])) {
        EXPECT_FALSE(ok);
      }
    }
  }
}

TEST(StorageKeyTest, EventKeysSortByUserThenTimeThenSequence) {
  using Tuple = std::tuple<std::string, int64_t, uint64_t>;
  std::vector<Tuple> tuples = {
      {"a", 5, 1},
      {"a", 5, 2},
      {"a", -1, 9},
      {"a", std::numeric_limits<int64_t>::min(), 0},
      {"a", std::numeric_limits<int64_t>::max(), 0},
      {"a", 0, std::numeric_limits<uint64_t>::max()},
      {"a", 256, 0},
      {"a", 255, 1},
  };
  std::vector<std::pair<std::string, Tuple>> keyed;
  for (const Tuple& t : tuples) {
    keyed.emplace_back(EventKey(std::get<0>(t), std::get<1>(t), std::get<2>(t)),
                       t);
  }
  std::sort(keyed.begin(), keyed.end());
  std::sort(tuples.begin(), tuples.end());
  for (size_t i = 0; i < tuples.size(); ++i) {
    EXPECT_EQ(keyed[i].second, tuples[i]) << "position " << i;
  }
}

TEST(StorageKeyTest, UserPrefixIsNotSharedWithLongerIds) {
  const std::string prefix = UserKeyPrefix("u1");
  EXPECT_TRUE(EventKey("u1", 3, 4).starts_with(prefix));
  EXPECT_FALSE(EventKey("u10", 3, 4).starts_with(prefix));
  EXPECT_FALSE(EventKey("u", 3, 4).starts_with(prefix));
  // Keys of "u1" lie strictly between the prefix and its successor.
  const std::string upper = PrefixSuccessor(prefix);
  EXPECT_LT(prefix, EventKey("u1", std::numeric_limits<int64_t>::min(), 0));
  EXPECT_LT(EventKey("u1", std::numeric_limits<int64_t>::max(),
                     std::numeric_limits<uint64_t>::max()),
            upper);
  EXPECT_GE(EventKey("u10", 0, 0), upper);
}

TEST(StorageKeyTest, ModelMetaKeyIsPrefixed) {
  EXPECT_EQ(ModelMetaKey("v1"), "meta:v1");
  EXPECT_TRUE(ModelMetaKey("").starts_with(kModelMetaPrefix));
}

TEST(StorageKeyTest, PrefixSuccessor) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"abc", "abd"}, {std::string("a\0", 2), "a\x01"},
      {"a\xff", "b"}, {"\xff\xff", ""},
      {"", ""},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(PrefixSuccessor(in), want) << in;
  }
}

}  // namespace
}  // namespace aisle::storage
