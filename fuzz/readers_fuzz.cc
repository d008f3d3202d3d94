// The `aisle import` file parsers (cli/readers) on arbitrary file
// contents, as cli/import_command.cc drives them: DelimitedReader in each
// format, the header mapping of the first record, then every row through
// ParseEventRow / ParseItemRow / ParseMovieLensItemRow and
// server::ValidateEvent / ValidateItem. The first byte picks the format
// (bits 0-1), the file kind (bits 2-3: events with header, items with
// header, MovieLens u.data, MovieLens u.item) and whether a default event
// type is given (bit 4); the rest is the file.
//
// Checked beyond "no crash, no out-of-bounds read, no UB, no hang": the
// reader makes progress (line numbers increase, bytes_read never passes
// the file size) and every refusal is INVALID_ARGUMENT with a message (the
// import prints it next to the line number).
//
// AISLE_FUZZ_WRITE_SEEDS=DIR writes small valid files of each kind into
// DIR (how fuzz/corpus/readers/ was made) and exits.
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cli/readers.h"
#include "fuzz_util.h"
#include "server/validation.h"

namespace aisle::cli {
namespace {

constexpr int64_t kNowMs = 1'750'000'000'000;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckRefusal(const absl::Status& status) {
  if (status.ok()) return;
  Check(absl::IsInvalidArgument(status));
  Check(!status.message().empty());
}

void ReadFile(uint8_t control, std::string_view contents) {
  const auto format = static_cast<FileFormat>(control & 3);
  const int kind = (control >> 2) & 3;
  std::optional<core::EventType> default_type;
  if (control & 16) default_type = core::EventType::kView;

  std::istringstream in{std::string(contents)};
  DelimitedReader reader(&in, format);
  Record record;
  std::string error;
  EventColumns event_columns = MovieLensColumns();
  ItemColumns item_columns;
  size_t header_fields = 4;
  if (kind < 2) {  // a header first
    if (!reader.Next(&record, &error)) return;
    header_fields = record.fields.size();
    if (kind == 0) {
      absl::StatusOr<EventColumns> mapped =
          MapEventHeader(record.fields, default_type);
      CheckRefusal(mapped.status());
      if (!mapped.ok()) return;
      event_columns = *std::move(mapped);
    } else {
      absl::StatusOr<ItemColumns> mapped = MapItemHeader(record.fields);
      CheckRefusal(mapped.status());
      if (!mapped.ok()) return;
      item_columns = *std::move(mapped);
    }
  }
  if (kind == 2 && !default_type.has_value()) {
    default_type = core::EventType::kRating;
  }
  int64_t last_line = record.line;
  while (reader.Next(&record, &error)) {
    Check(record.line > last_line);
    Check(reader.bytes_read() >= 0 &&
          static_cast<size_t>(reader.bytes_read()) <= contents.size() + 1);
    last_line = record.line;
    if (!error.empty()) continue;
    if (kind == 0 || kind == 2) {
      absl::StatusOr<core::Event> event =
          ParseEventRow(record, event_columns, default_type, header_fields);
      CheckRefusal(event.status());
      if (event.ok()) {
        CheckRefusal(server::ValidateEvent(*event, kNowMs, ""));
        Check(!event->event_id.empty());
      }
    } else {
      absl::StatusOr<core::Item> item =
          kind == 1 ? ParseItemRow(record, item_columns, header_fields)
                    : ParseMovieLensItemRow(record);
      CheckRefusal(item.status());
      if (item.ok()) CheckRefusal(server::ValidateItem(*item, ""));
    }
  }
}

void WriteSeed(const std::string& dir, const std::string& name, uint8_t control,
               const std::string& file) {
  std::ofstream(dir + "/" + name, std::ios::binary)
      << static_cast<char>(control) << file;
}

void WriteSeeds(const std::string& dir) {
  constexpr uint8_t kTsv = 0, kCsv = 1, kWhitespace = 2, kPipe = 3;
  constexpr uint8_t kEvents = 0 << 2, kItems = 1 << 2, kMlEvents = 2 << 2,
                    kMlItems = 3 << 2;
  WriteSeed(dir, "events_tsv", kTsv | kEvents,
            "user_id\titem_id\ttype\tvalue\ttimestamp_ms\tevent_id\n"
            "u1\ti1\tpurchase\t2\t1700000000000\te1\n"
            "u2\ti2\tview\t\t\t\r\n");
  WriteSeed(dir, "events_csv", kCsv | kEvents | 16,
            "user,item,rating,timestamp,recommendation_id\n"
            "\"u,1\",i1,4.5,1700000000,\"r2-\"\"x\"\"\"\n"
            "u2,\"multi\nline\",1,1700000001,\n");
  WriteSeed(dir, "items_csv", kCsv | kItems,
            "item_id,title,categories,tags,price,available\n"
            "i1,\"Shoe, red\",fashion/shoes|sale,red|new,59.5,yes\n"
            "i2,Hat,,,,0\n");
  WriteSeed(dir, "movielens_udata", kWhitespace | kMlEvents,
            "196\t242\t3\t881250949\n186  302 3 891717742\n");
  WriteSeed(dir, "movielens_uitem", kPipe | kMlItems,
            "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|"
            "0|0|0|0|0|0|0\n"
            "2|Caf\xe9 (1995)|01-Jan-1995||http://x|1|0|0|0|0|0|0|0|0|0|0|0|"
            "0|0|0|0|0|0|0\n");
}

}  // namespace
}  // namespace aisle::cli

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return aisle::fuzz::WriteSeedsIfAsked(&aisle::cli::WriteSeeds);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return aisle::fuzz::SplitFirstByte(data, size, &aisle::cli::ReadFile);
}
