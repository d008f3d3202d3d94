// Delimited records and their conversion to events and items.
#include "cli/readers.h"

#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ingest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<Record> ReadAll(const std::string& text, FileFormat format,
                            std::vector<std::string>* errors = nullptr) {
  std::istringstream in(text);
  DelimitedReader reader(&in, format);
  std::vector<Record> records;
  Record record;
  std::string error;
  while (reader.Next(&record, &error)) {
    records.push_back(record);
    if (errors != nullptr) errors->push_back(error);
  }
  EXPECT_EQ(reader.bytes_read(),
            static_cast<int64_t>(text.size()) +
                (text.empty() || text.back() == '\n' ? 0 : 1));
  return records;
}

TEST(DelimitedReaderTest, TsvSplitsOnTabsAndSkipsBlankLines) {
  auto records = ReadAll("a\tb\tc\n\n1\t\t3\r\n", FileFormat::kTsv);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].line, 1);
  EXPECT_THAT(records[0].fields, ElementsAre("a", "b", "c"));
  EXPECT_EQ(records[1].line, 3);
  EXPECT_THAT(records[1].fields, ElementsAre("1", "", "3"));
}

TEST(DelimitedReaderTest, WhitespaceSplitsOnRuns) {
  auto records = ReadAll("196\t242  3 881250949\n", FileFormat::kWhitespace);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_THAT(records[0].fields, ElementsAre("196", "242", "3", "881250949"));
}

TEST(DelimitedReaderTest, CsvHandlesQuoting) {
  std::vector<std::string> errors;
  auto records = ReadAll(
      "item_id,title,price\n"
      "i1,\"Shoes, red\",10\n"
      "i2,\"The \"\"Best\"\" Hat\",5\n"
      "i3,\"two\nlines\",7\n"
      "i4,,\n",
      FileFormat::kCsv, &errors);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_THAT(records[1].fields, ElementsAre("i1", "Shoes, red", "10"));
  EXPECT_THAT(records[2].fields, ElementsAre("i2", "The \"Best\" Hat", "5"));
  EXPECT_THAT(records[3].fields, ElementsAre("i3", "two\nlines", "7"));
  EXPECT_EQ(records[3].line, 4);
  // The record after a two-line field starts on line 6.
  EXPECT_EQ(records[4].line, 6);
  EXPECT_THAT(records[4].fields, ElementsAre("i4", "", ""));
  for (const std::string& e : errors) EXPECT_EQ(e, "");
}

TEST(DelimitedReaderTest, CsvReportsMalformedRecords) {
  std::vector<std::string> errors;
  auto records = ReadAll("a,b\"c\n\"open,x\n", FileFormat::kCsv, &errors);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_THAT(errors[0], HasSubstr("stray quote"));
  EXPECT_THAT(errors[1], HasSubstr("unterminated quoted field"));
  EXPECT_THAT(errors[1], HasSubstr("line 2"));
}

TEST(ReaderFormatTest, ByFlagThenExtension) {
  EXPECT_EQ(*ResolveFormat("", "x.csv"), FileFormat::kCsv);
  EXPECT_EQ(*ResolveFormat("", "x.CSV"), FileFormat::kCsv);
  EXPECT_EQ(*ResolveFormat("", "x.tsv"), FileFormat::kTsv);
  EXPECT_EQ(*ResolveFormat("", "x.data"), FileFormat::kTsv);
  EXPECT_EQ(*ResolveFormat("csv", "x.tsv"), FileFormat::kCsv);
  EXPECT_THAT(ResolveFormat("json", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--format: 'json' is not tsv or csv"));
}

TEST(ReaderEventHeaderTest, AcceptsAliasesInAnyOrder) {
  auto cols = MapEventHeader(
      {"Timestamp", "event_type", "USER", "item_id", "rating", "extra"},
      std::nullopt);
  ASSERT_OK(cols);
  EXPECT_EQ(cols->timestamp_s, 0);
  EXPECT_EQ(cols->type, 1);
  EXPECT_EQ(cols->user_id, 2);
  EXPECT_EQ(cols->item_id, 3);
  EXPECT_EQ(cols->value, 4);
  EXPECT_EQ(cols->timestamp_ms, -1);
  EXPECT_THAT(cols->ignored, ElementsAre("extra"));
}

TEST(ReaderEventHeaderTest, RejectsIncompleteOrAmbiguousHeaders) {
  struct Case {
    std::vector<std::string> header;
    std::optional<core::EventType> default_type;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"user_id", "item_id"}, std::nullopt, "missing column(s) type"},
      {{"item_id", "type"}, std::nullopt, "missing column(s) user_id"},
      {{"196", "242", "3", "881250949"},
       std::nullopt,
       "missing column(s) user_id, item_id, type"},
      {{"user_id", "user", "item_id", "type"}, std::nullopt, "given twice"},
      {{"user_id", "item_id", "timestamp", "timestamp_ms"},
       core::EventType::kView,
       "not both"},
  };
  for (const Case& c : cases) {
    auto cols = MapEventHeader(c.header, c.default_type);
    EXPECT_THAT(cols, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr(c.message)));
  }
  EXPECT_OK(MapEventHeader({"user_id", "item_id"}, core::EventType::kView));
}

Record Row(int64_t line, std::vector<std::string> fields) {
  return Record{line, std::move(fields)};
}

TEST(ReaderEventRowTest, ConvertsAValidRow) {
  auto cols = MapEventHeader(
      {"user_id", "item_id", "type", "value", "timestamp", "event_id"},
      std::nullopt);
  ASSERT_OK(cols);
  auto event = ParseEventRow(
      Row(2, {" u1 ", "i9", "PURCHASE", "2", "1700000000.5", "e-7"}), *cols,
      std::nullopt, 6);
  ASSERT_OK(event);
  EXPECT_EQ(event->user_id, "u1");
  EXPECT_EQ(event->item_id, "i9");
  EXPECT_EQ(event->type, core::EventType::kPurchase);
  EXPECT_DOUBLE_EQ(event->value, 2);
  EXPECT_EQ(event->timestamp_ms, 1700000000500);
  EXPECT_EQ(event->event_id, "e-7");
}

TEST(ReaderEventRowTest, DerivesStableIdsWhenAbsent) {
  auto cols = MapEventHeader({"user_id", "item_id", "timestamp_ms"},
                             core::EventType::kView);
  ASSERT_OK(cols);
  auto parse = [&](std::vector<std::string> fields) {
    auto e = ParseEventRow(Row(2, std::move(fields)), *cols,
                           core::EventType::kView, 3);
    EXPECT_OK(e);
    return e.ok() ? e->event_id : "";
  };
  const std::string a = parse({"u1", "i1", "1000"});
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(parse({"u1", "i1", "1000"}), a);
  EXPECT_NE(parse({"u1", "i1", "1001"}), a);
  EXPECT_NE(parse({"u2", "i1", "1000"}), a);
  EXPECT_NE(parse({"u1", "i2", "1000"}), a);
  // The same derivation as the server's for events sent without an id.
  core::Event e;
  e.user_id = "u1";
  e.item_id = "i1";
  e.type = core::EventType::kView;
  e.timestamp_ms = 1000;
  EXPECT_EQ(a, server::DerivedEventId(e));
}

TEST(ReaderEventRowTest, RejectsMalformedFields) {
  auto cols = MapEventHeader(
      {"user_id", "item_id", "type", "value", "timestamp_ms"}, std::nullopt);
  ASSERT_OK(cols);
  struct Case {
    std::vector<std::string> fields;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"u", "i", "view", "1"}, "expected 5 fields like the header, got 4"},
      {{"u", "i", "buy", "1", "5"}, "type: unknown event type 'buy'"},
      {{"u", "i", "", "1", "5"}, "type: empty"},
      {{"u", "i", "view", "x", "5"}, "value: 'x' is not a number"},
      {{"u", "i", "view", "1", "5.5"}, "timestamp_ms: '5.5' is not an integer"},
      {{"u", "i", "view", "1", "soon"}, "timestamp_ms: 'soon'"},
  };
  for (const Case& c : cases) {
    auto e = ParseEventRow(Row(3, c.fields), *cols, std::nullopt, 5);
    EXPECT_THAT(
        e, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

TEST(ReaderEventRowTest, SearchRowsCarryTheirQuery) {
  // CSV: a query may hold commas and quotes.
  const std::vector<Record> rows = ReadAll(
      "user_id,item_id,type,query,timestamp_ms\n"
      "u1,,search,\"garden chair, teak\",1000\n"
      "u1,i9,view,,1001\n"
      "u1,i9,search,\" \"\"xl\"\" lamp \",1002\n",
      FileFormat::kCsv);
  ASSERT_EQ(rows.size(), 4u);
  auto cols = MapEventHeader(rows[0].fields, std::nullopt);
  ASSERT_OK(cols);
  EXPECT_EQ(cols->query, 3);
  EXPECT_TRUE(cols->ignored.empty());
  auto search = ParseEventRow(rows[1], *cols, std::nullopt, 5);
  ASSERT_OK(search);
  EXPECT_EQ(search->type, core::EventType::kSearch);
  EXPECT_EQ(search->item_id, "");
  EXPECT_EQ(search->query, "garden chair, teak");
  auto view = ParseEventRow(rows[2], *cols, std::nullopt, 5);
  ASSERT_OK(view);
  EXPECT_EQ(view->query, "");
  auto on_page = ParseEventRow(rows[3], *cols, std::nullopt, 5);
  ASSERT_OK(on_page);
  EXPECT_EQ(on_page->item_id, "i9");
  EXPECT_EQ(on_page->query, "\"xl\" lamp");  // the ends trimmed

  // The derived id covers the query: two searches in one millisecond are
  // two events, and a re-read row is the same event.
  Record other = rows[1];
  other.fields[3] = "garden bench";
  auto other_search = ParseEventRow(other, *cols, std::nullopt, 5);
  ASSERT_OK(other_search);
  EXPECT_NE(other_search->event_id, search->event_id);
  EXPECT_EQ(ParseEventRow(rows[1], *cols, std::nullopt, 5)->event_id,
            search->event_id);
  EXPECT_EQ(search->event_id, server::DerivedEventId([&] {
              core::Event e = *search;
              e.event_id.clear();
              return e;
            }()));
}

TEST(ReaderEventHeaderTest, AFileOfSearchesNeedsNoItemColumn) {
  auto cols = MapEventHeader({"user_id", "query", "timestamp"},
                             core::EventType::kSearch);
  ASSERT_OK(cols);
  EXPECT_EQ(cols->item_id, -1);
  auto e = ParseEventRow(Row(2, {"u1", "jazz", "1700000000"}), *cols,
                         core::EventType::kSearch, 3);
  ASSERT_OK(e);
  EXPECT_EQ(e->item_id, "");
  EXPECT_EQ(e->query, "jazz");
  EXPECT_THAT(MapEventHeader({"user_id", "query", "Query"}, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("column 'query' given twice")));
  // Without a query column the item is still required.
  EXPECT_THAT(MapEventHeader({"user_id", "timestamp"}, core::EventType::kView),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing column(s) item_id")));
  EXPECT_THAT(
      ParseEventRow(Row(2, {"u1", "jazz", "1700000000"}), *cols, std::nullopt,
                    3),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("type: empty")));
}

TEST(ReaderEventRowTest, MovieLensRowsAreRatings) {
  auto e = ParseEventRow(Row(1, {"196", "242", "3", "881250949"}),
                         MovieLensColumns(), core::EventType::kRating, 4);
  ASSERT_OK(e);
  EXPECT_EQ(e->user_id, "196");
  EXPECT_EQ(e->item_id, "242");
  EXPECT_EQ(e->type, core::EventType::kRating);
  EXPECT_DOUBLE_EQ(e->value, 3);
  EXPECT_EQ(e->timestamp_ms, 881250949000);
}

TEST(ReaderItemRowTest, ConvertsAndRejects) {
  auto cols = MapItemHeader(
      {"item_id", "title", "categories", "tags", "price", "available"});
  ASSERT_OK(cols);
  auto item = ParseItemRow(
      Row(2, {"i1", "Red Shoes", "fashion/shoes| sale", "red|", "19.99", "no"}),
      *cols, 6);
  ASSERT_OK(item);
  EXPECT_EQ(item->item_id, "i1");
  EXPECT_EQ(item->title, "Red Shoes");
  EXPECT_THAT(item->categories, ElementsAre("fashion/shoes", "sale"));
  EXPECT_THAT(item->tags, ElementsAre("red"));
  EXPECT_DOUBLE_EQ(item->price, 19.99);
  EXPECT_FALSE(item->available);

  auto defaults = ParseItemRow(Row(3, {"i2", "", "", "", "", ""}), *cols, 6);
  ASSERT_OK(defaults);
  EXPECT_TRUE(defaults->available);
  EXPECT_DOUBLE_EQ(defaults->price, 0);

  EXPECT_THAT(ParseItemRow(Row(4, {"i3", "", "", "", "cheap", ""}), *cols, 6),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("price: 'cheap' is not a number")));
  EXPECT_THAT(
      ParseItemRow(Row(5, {"i3", "", "", "", "", "maybe"}), *cols, 6),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("available:")));
  EXPECT_THAT(MapItemHeader({"title", "price"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing column item_id")));
}

TEST(ReaderMovieLensItemTest, GenresBecomeCategoriesAndTitlesUtf8) {
  std::istringstream in(
      "543|Mis\xe9rables, Les (1995)|01-Jan-1995||http://x|"
      "0|0|0|0|0|0|0|0|1|0|0|0|0|0|1|0|0|1|0\n"
      "1|Toy Story (1995)|01-Jan-1995||http://y|0|0|0|1|1|1\n");
  DelimitedReader reader(&in, FileFormat::kPipe);
  Record record;
  std::string error;
  ASSERT_TRUE(reader.Next(&record, &error));
  auto item = ParseMovieLensItemRow(record);
  ASSERT_OK(item);
  EXPECT_EQ(item->item_id, "543");
  EXPECT_EQ(item->title, "Mis\xc3\xa9rables, Les (1995)");
  EXPECT_THAT(item->categories, ElementsAre("Drama", "Romance", "War"));
  ASSERT_TRUE(reader.Next(&record, &error));
  EXPECT_THAT(ParseMovieLensItemRow(record),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 24 fields")));
}

TEST(ReaderLatin1Test, AsciiUnchangedHighBytesTwoBytes) {
  EXPECT_EQ(Latin1ToUtf8("abc"), "abc");
  EXPECT_EQ(Latin1ToUtf8("\xff\x80"), "\xc3\xbf\xc2\x80");
}

}  // namespace
}  // namespace aisle::cli
