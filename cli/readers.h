// Readers of the files `aisle import` loads: delimited records (TSV, CSV,
// MovieLens' whitespace and pipe formats) and their conversion to events
// and items, with the header mapping and per-field error messages.
//
// Thread safety: DelimitedReader is a plain object for one thread; the free
// functions are pure.
#ifndef AISLE_CLI_READERS_H_
#define AISLE_CLI_READERS_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/types.h"

namespace aisle::cli {

// --- Delimited files ---------------------------------------------------------

enum class FileFormat { kTsv, kCsv, kWhitespace, kPipe };

// "tsv", "csv"; "" picks by extension (.csv -> CSV, anything else TSV).
absl::StatusOr<FileFormat> ResolveFormat(std::string_view flag,
                                         std::string_view path);

// One record with the 1-based line number where it starts.
struct Record {
  int64_t line = 0;
  std::vector<std::string> fields;
};

// Reads records from a stream:
//   kTsv: fields split on tabs, no quoting;
//   kCsv: RFC 4180: comma-separated, fields optionally in double quotes, a
//         doubled quote inside quotes is a quote, quoted fields may span
//         lines;
//   kWhitespace: split on runs of spaces/tabs (MovieLens u.data);
//   kPipe: split on '|', no quoting (MovieLens u.item).
// A trailing '\r' (Windows line ends) is dropped. Blank lines are skipped.
class DelimitedReader {
 public:
  DelimitedReader(std::istream* in, FileFormat format);
  // Returns true and fills `record` for the next record; false at end of
  // input. A malformed record (an unterminated quote) is returned with
  // `error` set, so the caller can report it and go on.
  bool Next(Record* record, std::string* error);
  // Bytes consumed so far (for progress by size).
  int64_t bytes_read() const { return bytes_read_; }

 private:
  bool ReadLine(std::string* line);
  std::istream* in_;
  FileFormat format_;
  int64_t line_ = 0;
  int64_t bytes_read_ = 0;
};

// --- Import rows -------------------------------------------------------------

// Where each event field is in a row; -1 = absent.
struct EventColumns {
  int user_id = -1;
  int item_id = -1;
  int type = -1;
  int value = -1;
  int timestamp_ms = -1;  // column "timestamp_ms": unix milliseconds
  int timestamp_s = -1;   // column "timestamp": unix seconds
  int event_id = -1;
  int recommendation_id = -1;
  int query = -1;                    // SEARCH rows: what the user searched for
  std::vector<std::string> ignored;  // header names not understood
};

// Maps a header row (names case-insensitive): user_id|user, item_id|item,
// type|event_type, value|rating|quantity, timestamp_ms, timestamp (seconds),
// event_id, recommendation_id, query. Other names are listed in `ignored`.
// InvalidArgument if user_id is missing, if item_id is missing from a file
// without a query column (a file of searches needs no item), if a name
// repeats, or if there is no type column and `default_type` is unset,
// naming the expected header.
absl::StatusOr<EventColumns> MapEventHeader(
    const std::vector<std::string>& header,
    std::optional<core::EventType> default_type);

// The columns of MovieLens "user item rating unix_seconds" without header.
EventColumns MovieLensColumns();

// Converts one row. Empty value means 0 (the API's default); empty or absent
// timestamp means 0 ("now" for the server). The query (trimmed) is copied
// as it is: whether a row may or must carry one (SEARCH only), and its
// length and bytes, are server::ValidateEvent's rules. An absent or empty
// event_id is derived deterministically (server::DerivedEventId, which
// hashes the query too) from the row, so importing the same file again
// yields duplicates instead of new events.
// InvalidArgument "<column>: <problem>" for a wrong number of fields,
// unknown type, or non-numeric value/timestamp. Range checks are left to
// server::ValidateEvent.
absl::StatusOr<core::Event> ParseEventRow(
    const Record& record, const EventColumns& columns,
    std::optional<core::EventType> default_type, size_t header_fields);

// Where each item field is; -1 = absent.
struct ItemColumns {
  int item_id = -1;
  int title = -1;
  int categories = -1;  // '|'-separated
  int tags = -1;        // '|'-separated
  int price = -1;
  int available = -1;  // true/false/1/0/yes/no; empty = true
  std::vector<std::string> ignored;
};
// Header names: item_id|item|id, title|name, categories|category, tags,
// price, available. InvalidArgument if item_id is missing or a name repeats.
absl::StatusOr<ItemColumns> MapItemHeader(
    const std::vector<std::string>& header);
absl::StatusOr<core::Item> ParseItemRow(const Record& record,
                                        const ItemColumns& columns,
                                        size_t header_fields);

// One row of MovieLens u.item ("id|title|release date|video release
// date|IMDb URL|19 genre flags"), headerless, Latin-1: the title is
// converted to UTF-8, the genres with flag 1 become categories ("Drama"),
// "genre:unknown" excluded. InvalidArgument for a wrong field count or a
// flag that is not 0/1.
absl::StatusOr<core::Item> ParseMovieLensItemRow(const Record& record);

// Latin-1 (ISO 8859-1) bytes to UTF-8.
std::string Latin1ToUtf8(std::string_view latin1);

}  // namespace aisle::cli

#endif  // AISLE_CLI_READERS_H_
