// Import file readers: delimited records, header mapping, rows to events
// and items.
#include "cli/readers.h"

#include <cmath>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/text.h"
#include "server/ingest.h"

namespace aisle::cli {
namespace {

bool ToDouble(std::string_view s, double* out) {
  return absl::SimpleAtod(core::ToAbsl(s), out);
}

}  // namespace

// --- Delimited files ---------------------------------------------------------

absl::StatusOr<FileFormat> ResolveFormat(std::string_view flag,
                                         std::string_view path) {
  const std::string f = Lower(flag);
  if (f == "tsv") return FileFormat::kTsv;
  if (f == "csv") return FileFormat::kCsv;
  if (!f.empty()) {
    return absl::InvalidArgumentError(
        Cat("--format: '", flag, "' is not tsv or csv"));
  }
  return Lower(path).ends_with(".csv") ? FileFormat::kCsv : FileFormat::kTsv;
}

DelimitedReader::DelimitedReader(std::istream* in, FileFormat format)
    : in_(in), format_(format) {}

bool DelimitedReader::ReadLine(std::string* line) {
  if (!std::getline(*in_, *line)) return false;
  ++line_;
  bytes_read_ += static_cast<int64_t>(line->size()) + 1;
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

bool DelimitedReader::Next(Record* record, std::string* error) {
  error->clear();
  record->fields.clear();
  std::string line;
  do {
    if (!ReadLine(&line)) return false;
  } while (absl::StripAsciiWhitespace(line).empty());
  record->line = line_;
  switch (format_) {
    case FileFormat::kTsv:
      record->fields = absl::StrSplit(line, '\t');
      return true;
    case FileFormat::kWhitespace:
      record->fields =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      return true;
    case FileFormat::kPipe:
      record->fields = absl::StrSplit(line, '|');
      return true;
    case FileFormat::kCsv:
      break;
  }
  // CSV: a small state machine over the line, pulling in the next physical
  // line while inside quotes.
  std::string field;
  bool in_quotes = false;
  bool was_quoted = false;
  size_t i = 0;
  while (true) {
    if (i == line.size()) {
      if (!in_quotes) break;
      std::string next;
      if (!ReadLine(&next)) {
        *error = Cat("unterminated quoted field (opened on line ", record->line,
                     ")");
        record->fields.push_back(std::move(field));
        return true;
      }
      field += '\n';
      line = std::move(next);
      i = 0;
      continue;
    }
    const char c = line[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        in_quotes = false;
      } else {
        field += c;
      }
      ++i;
      continue;
    }
    if (c == ',') {
      record->fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '"' && field.empty() && !was_quoted) {
      in_quotes = true;
      was_quoted = true;
    } else if (c == '"') {
      *error = Cat("stray quote in field ", record->fields.size() + 1,
                   " (quote the whole field and double inner quotes)");
      field += c;
    } else {
      field += c;
    }
    ++i;
  }
  record->fields.push_back(std::move(field));
  return true;
}

// --- Import rows -------------------------------------------------------------

namespace {

absl::Status Assign(int* slot, int index, std::string_view name) {
  if (*slot != -1) {
    return absl::InvalidArgumentError(
        Cat("header: column '", name, "' given twice"));
  }
  *slot = index;
  return absl::OkStatus();
}

std::string_view Field(const Record& record, int column) {
  if (column < 0 || column >= static_cast<int>(record.fields.size())) {
    return "";
  }
  return Strip(record.fields[column]);
}

absl::Status CheckFieldCount(const Record& record, size_t expected) {
  if (record.fields.size() != expected) {
    return absl::InvalidArgumentError(Cat("expected ", expected,
                                          " fields like the header, got ",
                                          record.fields.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseInteger(std::string_view text,
                                     std::string_view column) {
  int64_t v = 0;
  if (absl::SimpleAtoi(core::ToAbsl(text), &v)) return v;
  double d = 0;
  if (ToDouble(text, &d) && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9e18) {
    return static_cast<int64_t>(d);
  }
  return absl::InvalidArgumentError(
      Cat(column, ": '", text, "' is not an integer"));
}

}  // namespace

absl::StatusOr<EventColumns> MapEventHeader(
    const std::vector<std::string>& header,
    std::optional<core::EventType> default_type) {
  EventColumns cols;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string name = Lower(Strip(header[i]));
    const int idx = static_cast<int>(i);
    absl::Status s;
    if (name == "user_id" || name == "user") {
      s = Assign(&cols.user_id, idx, name);
    } else if (name == "item_id" || name == "item") {
      s = Assign(&cols.item_id, idx, name);
    } else if (name == "type" || name == "event_type") {
      s = Assign(&cols.type, idx, name);
    } else if (name == "value" || name == "rating" || name == "quantity") {
      s = Assign(&cols.value, idx, name);
    } else if (name == "timestamp_ms") {
      s = Assign(&cols.timestamp_ms, idx, name);
    } else if (name == "timestamp" || name == "timestamp_s") {
      s = Assign(&cols.timestamp_s, idx, name);
    } else if (name == "event_id") {
      s = Assign(&cols.event_id, idx, name);
    } else if (name == "recommendation_id") {
      s = Assign(&cols.recommendation_id, idx, name);
    } else if (name == "query") {
      s = Assign(&cols.query, idx, name);
    } else {
      cols.ignored.push_back(std::string(header[i]));
    }
    if (!s.ok()) return s;
  }
  if (cols.timestamp_ms != -1 && cols.timestamp_s != -1) {
    return absl::InvalidArgumentError(
        "header: give either timestamp_ms (unix ms) or timestamp (unix "
        "seconds), not both");
  }
  std::vector<std::string> missing;
  if (cols.user_id == -1) missing.push_back("user_id");
  if (cols.item_id == -1 && cols.query == -1) missing.push_back("item_id");
  if (cols.type == -1 && !default_type.has_value()) missing.push_back("type");
  if (!missing.empty()) {
    return absl::InvalidArgumentError(
        Cat("header: missing column(s) ", absl::StrJoin(missing, ", "),
            "; the first row must name the columns, e.g. "
            "'user_id<TAB>item_id<TAB>type<TAB>value<TAB>timestamp' "
            "(pass --type TYPE if every row has the same type, or --movielens "
            "for a headerless 'user item rating unix_seconds' file)"));
  }
  return cols;
}

EventColumns MovieLensColumns() {
  EventColumns cols;
  cols.user_id = 0;
  cols.item_id = 1;
  cols.value = 2;
  cols.timestamp_s = 3;
  return cols;
}

absl::StatusOr<core::Event> ParseEventRow(
    const Record& record, const EventColumns& columns,
    std::optional<core::EventType> default_type, size_t header_fields) {
  if (absl::Status s = CheckFieldCount(record, header_fields); !s.ok()) {
    return s;
  }
  core::Event event;
  event.user_id = std::string(Field(record, columns.user_id));
  event.item_id = std::string(Field(record, columns.item_id));
  if (columns.type != -1 && !Field(record, columns.type).empty()) {
    std::string_view text = Field(record, columns.type);
    std::optional<core::EventType> type = core::ParseEventType(text);
    if (!type.has_value()) {
      std::vector<std::string> names;
      for (int t = 1; t < core::kNumEventTypes; ++t) {
        names.emplace_back(
            core::EventTypeName(static_cast<core::EventType>(t)));
      }
      return absl::InvalidArgumentError(Cat("type: unknown event type '", text,
                                            "' (", absl::StrJoin(names, ", "),
                                            ")"));
    }
    event.type = *type;
  } else if (default_type.has_value()) {
    event.type = *default_type;
  } else {
    return absl::InvalidArgumentError("type: empty");
  }
  if (std::string_view v = Field(record, columns.value); !v.empty()) {
    if (!ToDouble(v, &event.value)) {
      return absl::InvalidArgumentError(
          Cat("value: '", v, "' is not a number"));
    }
  }
  if (std::string_view t = Field(record, columns.timestamp_ms); !t.empty()) {
    absl::StatusOr<int64_t> ms = ParseInteger(t, "timestamp_ms");
    if (!ms.ok()) return ms.status();
    event.timestamp_ms = *ms;
  } else if (std::string_view t = Field(record, columns.timestamp_s);
             !t.empty()) {
    double seconds = 0;
    if (!ToDouble(t, &seconds) || !std::isfinite(seconds) ||
        std::fabs(seconds) > 9e15) {
      return absl::InvalidArgumentError(
          Cat("timestamp: '", t, "' is not unix seconds"));
    }
    event.timestamp_ms = static_cast<int64_t>(std::llround(seconds * 1000));
  }
  event.recommendation_id =
      std::string(Field(record, columns.recommendation_id));
  event.query = std::string(Field(record, columns.query));
  event.event_id = std::string(Field(record, columns.event_id));
  if (event.event_id.empty()) event.event_id = server::DerivedEventId(event);
  return event;
}

absl::StatusOr<ItemColumns> MapItemHeader(
    const std::vector<std::string>& header) {
  ItemColumns cols;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string name = Lower(Strip(header[i]));
    const int idx = static_cast<int>(i);
    absl::Status s;
    if (name == "item_id" || name == "item" || name == "id") {
      s = Assign(&cols.item_id, idx, name);
    } else if (name == "title" || name == "name") {
      s = Assign(&cols.title, idx, name);
    } else if (name == "categories" || name == "category") {
      s = Assign(&cols.categories, idx, name);
    } else if (name == "tags") {
      s = Assign(&cols.tags, idx, name);
    } else if (name == "price") {
      s = Assign(&cols.price, idx, name);
    } else if (name == "available") {
      s = Assign(&cols.available, idx, name);
    } else {
      cols.ignored.push_back(std::string(header[i]));
    }
    if (!s.ok()) return s;
  }
  if (cols.item_id == -1) {
    return absl::InvalidArgumentError(
        "header: missing column item_id; the first row must name the "
        "columns, e.g. 'item_id<TAB>title<TAB>categories<TAB>tags<TAB>price"
        "<TAB>available'");
  }
  return cols;
}

absl::StatusOr<core::Item> ParseItemRow(const Record& record,
                                        const ItemColumns& columns,
                                        size_t header_fields) {
  if (absl::Status s = CheckFieldCount(record, header_fields); !s.ok()) {
    return s;
  }
  core::Item item;
  item.item_id = std::string(Field(record, columns.item_id));
  // Titles keep their inner spacing; only the ends are trimmed.
  item.title = std::string(Field(record, columns.title));
  item.categories = SplitList(Field(record, columns.categories), '|');
  item.tags = SplitList(Field(record, columns.tags), '|');
  if (std::string_view p = Field(record, columns.price); !p.empty()) {
    if (!ToDouble(p, &item.price)) {
      return absl::InvalidArgumentError(
          Cat("price: '", p, "' is not a number"));
    }
  }
  if (std::string_view a = Field(record, columns.available); !a.empty()) {
    absl::StatusOr<bool> b = ParseBoolText(a);
    if (!b.ok()) {
      return absl::InvalidArgumentError(
          Cat("available: ", b.status().message()));
    }
    item.available = *b;
  }
  return item;
}

std::string Latin1ToUtf8(std::string_view latin1) {
  std::string out;
  out.reserve(latin1.size());
  for (char c : latin1) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xC0 | (b >> 6));
      out += static_cast<char>(0x80 | (b & 0x3F));
    }
  }
  return out;
}

absl::StatusOr<core::Item> ParseMovieLensItemRow(const Record& record) {
  // The genre order of MovieLens-100K's u.genre.
  static constexpr std::string_view kGenres[] = {
      "unknown",   "Action",   "Adventure",   "Animation", "Children's",
      "Comedy",    "Crime",    "Documentary", "Drama",     "Fantasy",
      "Film-Noir", "Horror",   "Musical",     "Mystery",   "Romance",
      "Sci-Fi",    "Thriller", "War",         "Western"};
  constexpr size_t kGenreCount = std::size(kGenres);
  if (absl::Status s = CheckFieldCount(record, 5 + kGenreCount); !s.ok()) {
    return absl::InvalidArgumentError(
        Cat(s.message(),
            " (MovieLens u.item: id|title|release date|video "
            "release date|IMDb URL|19 genre flags)"));
  }
  core::Item item;
  item.item_id = std::string(Field(record, 0));
  item.title = Latin1ToUtf8(Field(record, 1));
  for (size_t g = 0; g < kGenreCount; ++g) {
    std::string_view flag = Field(record, static_cast<int>(5 + g));
    if (flag != "0" && flag != "1") {
      return absl::InvalidArgumentError(
          Cat("genre ", kGenres[g], ": '", flag, "' is not 0 or 1"));
    }
    if (flag == "1" && g > 0) item.categories.emplace_back(kGenres[g]);
  }
  return item;
}

}  // namespace aisle::cli
