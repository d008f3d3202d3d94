// `aisle import`: events and items from delimited files into a data
// directory or a running server. One reading loop serves both files and
// both destinations: read a record, parse and validate it (a bad row is
// counted and reported by line, never silently dropped), batch, write
// through the ImportSink, show progress.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/import_sink.h"
#include "cli/output.h"
#include "cli/readers.h"
#include "cli/text.h"
#include "core/clock.h"
#include "core/eval_cold_user.h"
#include "server/validation.h"

namespace aisle::cli {
namespace {

namespace fs = std::filesystem;

struct ImportOptions {
  std::string events_path;
  std::string items_path;
  std::string users_path;  // users' attributes (UpsertUsers)
  std::string format;
  std::optional<core::EventType> default_type;
  bool movielens = false;
  int batch = 0;  // SinkFlags::batch
};

// What one file's import counted.
struct FileStats {
  int64_t rows = 0;
  int64_t rejected = 0;
  std::vector<std::string> errors;  // the first kMaxShown
  int64_t written = 0;              // rows handed to the sink successfully
};
constexpr size_t kMaxShown = 20;

void Reject(FileStats* stats, int64_t line, absl::string_view message) {
  ++stats->rejected;
  if (stats->errors.size() < kMaxShown) {
    stats->errors.push_back(Cat("line ", line, ": ", message));
  }
}

void PrintRejections(std::string_view file, const FileStats& stats) {
  if (stats.rejected == 0) return;
  std::cerr << "rejected rows in " << file << " (" << stats.rejected
            << "; first " << stats.errors.size() << " shown):\n";
  for (const std::string& e : stats.errors) std::cerr << "  " << e << "\n";
}

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

// ValidateEvent/ValidateItem prefix field names with the path we pass; we
// pass "" and drop the leading '.' so messages read "value: must be ...".
absl::Status FieldError(const absl::Status& status) {
  absl::string_view m = status.message();
  if (absl::StartsWith(m, ".")) m.remove_prefix(1);
  return absl::InvalidArgumentError(m);
}

// What differs between importing the items file and the events file.
template <typename Row>
struct RowFile {
  std::string path;
  FileFormat format;
  std::string noun;  // "item" or "event": progress label and notes
  // Maps the header row and returns the names it ignores; null for a
  // headerless file.
  std::function<absl::StatusOr<std::vector<std::string>>(
      const std::vector<std::string>& header)>
      map_header;
  // Parses and validates one record; the error is the row's rejection.
  std::function<absl::StatusOr<Row>(const Record&)> parse;
  // Writes one batch; `lines` are the batch's file lines.
  std::function<absl::Status(std::span<const Row>, std::span<const int64_t>)>
      write;
};

// Reads `file` through to the end, writing valid rows in batches of
// `batch_size`. Returns the first error that stops the import (the file
// cannot be opened or its header is wrong, or a write failed); rejected
// rows do not stop it and are counted in *stats.
template <typename Row>
absl::Status ImportFile(const RowFile<Row>& file, int batch_size,
                        FileStats* stats) {
  std::ifstream in(file.path, std::ios::binary);
  if (!in) return absl::NotFoundError(Cat("cannot open ", file.path));
  DelimitedReader reader(&in, file.format);
  Record record;
  std::string error;
  if (file.map_header) {
    if (!reader.Next(&record, &error)) {
      return absl::InvalidArgumentError(Cat(file.path, " is empty"));
    }
    absl::StatusOr<std::vector<std::string>> ignored =
        file.map_header(record.fields);
    if (!ignored.ok()) {
      return absl::InvalidArgumentError(
          Cat(file.path, ": line 1: ", ignored.status().message()));
    }
    if (!ignored->empty()) {
      std::cerr << "note: ignoring " << file.noun
                << " columns: " << absl::StrJoin(*ignored, ", ") << "\n";
    }
  }
  ProgressLine progress(file.noun + "s", FileSize(file.path));
  std::vector<Row> batch;
  std::vector<int64_t> lines;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    absl::Status s = file.write(batch, lines);
    if (s.ok()) stats->written += static_cast<int64_t>(batch.size());
    batch.clear();
    lines.clear();
    return s;
  };
  while (reader.Next(&record, &error)) {
    ++stats->rows;
    if (!error.empty()) {
      Reject(stats, record.line, error);
      continue;
    }
    absl::StatusOr<Row> row = file.parse(record);
    if (!row.ok()) {
      Reject(stats, record.line, row.status().message());
      continue;
    }
    batch.push_back(*std::move(row));
    lines.push_back(record.line);
    if (batch.size() >= static_cast<size_t>(batch_size)) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
    progress.Update(reader.bytes_read(), stats->rows);
  }
  absl::Status s = flush();
  progress.Finish();
  return s;
}

// --movielens files have fixed formats; others go by --format or extension.
// The format flag was checked before, so this cannot fail.
FileFormat FormatOf(const ImportOptions& options, const std::string& path,
                    FileFormat movielens_format) {
  if (options.movielens) return movielens_format;
  return ResolveFormat(options.format, path).value_or(FileFormat::kTsv);
}

absl::Status ImportItems(const ImportOptions& options, ImportSink& sink,
                         FileStats* stats) {
  ItemColumns columns;
  size_t header_fields = 0;
  RowFile<core::Item> file;
  file.path = options.items_path;
  file.format = FormatOf(options, file.path, FileFormat::kPipe);
  file.noun = "item";
  if (!options.movielens) {
    file.map_header = [&](const std::vector<std::string>& header)
        -> absl::StatusOr<std::vector<std::string>> {
      absl::StatusOr<ItemColumns> mapped = MapItemHeader(header);
      if (!mapped.ok()) return mapped.status();
      columns = *std::move(mapped);
      header_fields = header.size();
      return columns.ignored;
    };
  }
  file.parse = [&](const Record& record) -> absl::StatusOr<core::Item> {
    absl::StatusOr<core::Item> item =
        options.movielens ? ParseMovieLensItemRow(record)
                          : ParseItemRow(record, columns, header_fields);
    if (!item.ok()) return item.status();
    if (absl::Status s = server::ValidateItem(*item, ""); !s.ok()) {
      return FieldError(s);
    }
    return item;
  };
  file.write = [&](std::span<const core::Item> items,
                   std::span<const int64_t>) { return sink.WriteItems(items); };
  return ImportFile(file, options.batch, stats);
}

absl::Status ImportEvents(const ImportOptions& options, ImportSink& sink,
                          FileStats* stats) {
  EventColumns columns = MovieLensColumns();
  size_t header_fields = 4;
  std::optional<core::EventType> default_type = options.default_type;
  if (options.movielens && !default_type.has_value()) {
    default_type = core::EventType::kRating;
  }
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  RowFile<core::Event> file;
  file.path = options.events_path;
  file.format = FormatOf(options, file.path, FileFormat::kWhitespace);
  file.noun = "event";
  if (!options.movielens) {
    file.map_header = [&](const std::vector<std::string>& header)
        -> absl::StatusOr<std::vector<std::string>> {
      absl::StatusOr<EventColumns> mapped =
          MapEventHeader(header, default_type);
      if (!mapped.ok()) return mapped.status();
      columns = *std::move(mapped);
      header_fields = header.size();
      return columns.ignored;
    };
  }
  file.parse = [&](const Record& record) -> absl::StatusOr<core::Event> {
    absl::StatusOr<core::Event> event =
        ParseEventRow(record, columns, default_type, header_fields);
    if (!event.ok()) return event.status();
    if (absl::Status s = server::ValidateEvent(*event, now_ms, ""); !s.ok()) {
      return FieldError(s);
    }
    // The event id was derived from the row as written (timestamp 0
    // included), so filling in "now" keeps re-imports idempotent.
    if (event->timestamp_ms == 0 && !sink.fills_now()) {
      event->timestamp_ms = now_ms;
    }
    return event;
  };
  file.write = [&](std::span<const core::Event> events,
                   std::span<const int64_t> lines) {
    return sink.WriteEvents(events, lines);
  };
  return ImportFile(file, options.batch, stats);
}

// The users file (core::LoadUserAttributes: a header user_id,KEY,... or
// MovieLens u.user), written in batches; *users counts those written.
absl::Status ImportUsers(const ImportOptions& options, ImportSink& sink,
                         int64_t* users) {
  absl::StatusOr<core::AttributeTable> table =
      core::LoadUserAttributes(options.users_path);
  if (!table.ok()) return table.status();
  std::vector<core::UserAttributes> all;
  for (auto& [id, attributes] : *table) all.push_back({id, attributes, 0});
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.user_id < b.user_id; });
  const size_t batch = static_cast<size_t>(std::max(1, options.batch));
  for (size_t i = 0; i < all.size(); i += batch) {
    const size_t n = std::min(batch, all.size() - i);
    if (absl::Status s = sink.WriteUsers({all.data() + i, n}); !s.ok()) {
      return absl::Status(s.code(), Cat(options.users_path, ": users ", i + 1,
                                        "..", i + n, ": ", s.message()));
    }
    *users += static_cast<int64_t>(n);
  }
  return absl::OkStatus();
}

void AddImportFlags(FlagParser& parser, ImportOptions* options,
                    std::string* type) {
  parser.String("events", &options->events_path, "events file");
  parser.String("items", &options->items_path,
                "items file (imported before the events)");
  parser.String("users", &options->users_path,
                "users' attributes: a header user_id,KEY,... (tab or comma "
                "separated) and one user per row, or MovieLens u.user "
                "(age becomes age_band)");
  parser.String("format", &options->format,
                "tsv or csv (default: by extension, .csv = CSV, else TSV)");
  parser.String("type", type,
                "event type for every row when the file has no type column");
  parser.Bool("movielens", &options->movielens,
              "MovieLens-100K files: --events u.data (headerless 'user item "
              "rating unix_seconds', type rating), --items u.item (pipe-"
              "separated, Latin-1, genres become categories)");
  parser.AddNotes(Cat(
      "Events file: a header row naming the columns, then one event per "
      "row.\n"
      "  user_id, item_id       required (item_id may be empty on a\n"
      "                         search row)\n"
      "  type                   view, click, add_to_cart, remove_from_cart,\n"
      "                         purchase, rating, dislike, impression,\n"
      "                         favorite, search\n"
      "                         (required unless --type is given)\n"
      "  value                  rating, or quantity (also 'rating')\n"
      "  timestamp_ms           unix milliseconds, or\n"
      "  timestamp              unix seconds; absent/empty = now\n"
      "  event_id               idempotency key; when absent it is derived\n"
      "                         from (user_id, item_id, type, timestamp,\n"
      "                         query)\n"
      "  recommendation_id      for attribution\n"
      "  query                  what the user searched for: required on\n"
      "                         search rows (1..",
      server::kMaxQueryBytes,
      " bytes of UTF-8), empty\n"
      "                         on the others. A file of searches only may\n"
      "                         leave out item_id. Use CSV for queries with\n"
      "                         tabs or commas: \"garden chair, teak\"\n"
      "Items file: item_id, title, categories (a|b), tags (a|b), price,\n"
      "available (true/false).\n"
      "\n"
      "Every row is validated; bad rows are reported with their line\n"
      "numbers (the first 20 shown) and counted, never silently dropped.\n"
      "Batches are committed as they go: after an interruption re-run the\n"
      "same command; rows already imported count as duplicates.\n"
      "Exit status 1 when any row was rejected (the valid rows are still\n"
      "imported) or the import stopped on an error.\n"
      "\n"
      "Examples:\n"
      "  aisle import --data-dir ./aisle-data --events events.tsv --items "
      "items.tsv\n"
      "  aisle import --data-dir ./aisle-data --movielens --events "
      "ml-100k/u.data --items ml-100k/u.item\n"
      "  aisle import --target localhost:50051 --events events.csv\n"
      "  aisle import --target localhost:50051 --type search --events "
      "searches.csv   # header: user_id,query,timestamp"));
}

// The summary on stdout and the rejections on stderr; the exit code.
int Report(const ImportOptions& options, const ImportSink& sink,
           const FileStats& items, const FileStats& events,
           const absl::Status& status, double seconds) {
  if (!options.items_path.empty()) PrintRejections(options.items_path, items);
  if (!options.events_path.empty()) {
    PrintRejections(options.events_path, events);
  }
  if (sink.server_rejected > 0) {
    std::cerr << "rejected by the server (" << sink.server_rejected << "):\n";
    for (const std::string& e : sink.server_errors) {
      std::cerr << "  " << e << "\n";
    }
  }
  if (!options.items_path.empty()) {
    std::cout << "items:  " << FormatCount(items.rows) << " rows read, "
              << FormatCount(items.written) << " upserted, "
              << FormatCount(items.rejected) << " rejected\n";
  }
  if (!options.events_path.empty()) {
    std::cout << "events: " << FormatCount(events.rows) << " rows read, "
              << FormatCount(sink.accepted) << " accepted, "
              << FormatCount(sink.duplicates) << " duplicates, "
              << FormatCount(events.rejected + sink.server_rejected)
              << " rejected\n";
  }
  std::cout << absl::StrFormat("time:   %.2fs", seconds);
  if (seconds > 0 && events.rows > 0) {
    std::cout << absl::StrFormat(
        " (%s rows/s)",
        FormatCount(static_cast<int64_t>(events.rows / seconds)));
  }
  std::cout << "\n";
  if (!status.ok()) {
    // A stream to a server that broke confirmed nothing: its batches were
    // sent, and the server stored those that arrived whole.
    PrintError(status.message(),
               sink.confirms_each_write()
                   ? Cat(FormatCount(events.written),
                         " events were committed before the error; fix it "
                         "and re-run the same command (imported rows count "
                         "as duplicates)")
                   : Cat(FormatCount(events.written),
                         " events were sent before the error and the "
                         "server may have stored part of them; fix it and "
                         "re-run the same command (rows already stored "
                         "count as duplicates)"));
    return kExitFailure;
  }
  if (items.rejected + events.rejected + sink.server_rejected > 0) {
    std::cerr << "error: some rows were rejected (see above); fix them and "
                 "re-run: rows already imported count as duplicates\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int RunImport(const Args& args) {
  SinkFlags sink_flags;
  std::string type;
  ImportOptions options;
  FlagParser parser(
      "aisle import (--data-dir DIR | --target HOST:PORT) --events FILE "
      "[--items FILE] [flags]",
      "Loads events (and items) from delimited files, either directly into a "
      "data directory (the server must not be running on it) or streamed "
      "into a running server.");
  sink_flags.Register(parser);
  AddImportFlags(parser, &options, &type);
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (auto error = sink_flags.Check()) return UsageError(parser, *error);
  if (options.events_path.empty() && options.items_path.empty() &&
      options.users_path.empty()) {
    return UsageError(parser, "give --events, --items and/or --users FILE");
  }
  options.batch = sink_flags.batch;
  if (!type.empty()) {
    options.default_type = core::ParseEventType(type);
    if (!options.default_type.has_value()) {
      return UsageError(parser, Cat("--type: unknown event type '", type, "'"));
    }
  }
  if (absl::Status s = ResolveFormat(options.format, "").status(); !s.ok()) {
    return UsageError(parser, s.message());
  }
  for (const std::string* path :
       {&options.events_path, &options.items_path, &options.users_path}) {
    if (!path->empty() && !fs::is_regular_file(*path)) {
      PrintError(Cat("cannot read ", *path), "check the path");
      return kExitFailure;
    }
  }

  std::unique_ptr<ImportSink> sink = sink_flags.Open();
  if (sink == nullptr) return kExitFailure;

  const auto start = core::SteadyClock::now();
  FileStats items;
  FileStats events;
  absl::Status status;
  if (!options.items_path.empty()) {
    status = ImportItems(options, *sink, &items);
  }
  int64_t users = 0;
  if (status.ok() && !options.users_path.empty()) {
    status = ImportUsers(options, *sink, &users);
    if (status.ok()) {
      std::cout << "users:  " << FormatCount(users)
                << " with attributes upserted\n";
    }
  }
  if (status.ok() && !options.events_path.empty()) {
    status = ImportEvents(options, *sink, &events);
  }
  // Even after a failure, finish so the batches already sent are counted.
  absl::Status finish = sink->Finish();
  if (status.ok()) status = finish;
  const double seconds = core::SecondsSince(start);
  if (!status.ok() && items.rows == 0 && events.rows == 0) {
    // Nothing was read (a bad header, an unreachable server): no summary.
    PrintError(status.message());
    return kExitFailure;
  }
  return Report(options, *sink, items, events, status, seconds);
}

}  // namespace aisle::cli
