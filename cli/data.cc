// Data commands: import (offline into a data dir, or streamed into a
// server), train (from a data dir, next to a server or not) and eval.
#include "cli/data.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "core/als.h"
#include "core/crc32c.h"
#include "core/demo_data.h"
#include "core/engine.h"
#include "core/eval.h"
#include "core/model.h"
#include "cli/commands.h"
#include "cli/util.h"
#include "server/convert.h"
#include "server/server.h"
#include "core/training.h"
#include "server/validation.h"
#include "storage/store.h"

namespace aisle::cli {

void SentLines::Add(int64_t line) {
  if (runs_.empty() || line != last_ + 1) runs_.push_back({count_, line});
  last_ = line;
  ++count_;
}

int64_t SentLines::LineOf(int64_t n) const {
  if (n < 0 || n >= count_ || runs_.empty()) return -1;
  auto it = std::upper_bound(
      runs_.begin(), runs_.end(), n,
      [](int64_t v, const Run& run) { return v < run.first_event; });
  --it;
  return it->first_line + (n - it->first_event);
}

std::string SentLines::Locate(const std::string& error, int batch_size) const {
  static const std::regex kPattern(R"(^batch (\d+): events\[(\d+)\]\.?(.*)$)");
  std::smatch m;
  if (!std::regex_match(error, m, kPattern)) return error;
  int64_t batch = 0;
  int64_t index = 0;
  if (!absl::SimpleAtoi(Av(m[1].str()), &batch) ||
      !absl::SimpleAtoi(Av(m[2].str()), &index)) {
    return error;
  }
  const int64_t line = LineOf(batch * batch_size + index);
  if (line < 0) return error;
  return Cat("line ", line, ": ", m[3].str());
}

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ValidateEvent/ValidateItem prefix field names with the path we pass; we
// pass "" and drop the leading '.' so messages read "value: must be ...".
std::string FieldMessage(const absl::Status& status) {
  absl::string_view m = status.message();
  if (absl::StartsWith(m, ".")) m.remove_prefix(1);
  return std::string(m);
}

// --- Import ------------------------------------------------------------------

// Where imported batches go: a store opened by this process, or a server.
class ImportSink {
 public:
  virtual ~ImportSink() = default;
  virtual absl::Status WriteItems(std::span<const core::Item> items) = 0;
  // `lines[i]` is the file line of events[i], for error messages.
  virtual absl::Status WriteEvents(std::span<const core::Event> events,
                                   std::span<const int64_t> lines) = 0;
  // Completes the import. The counters below are final after it returns
  // (a store sink counts per batch, a server reports once at the end).
  virtual absl::Status Finish() = 0;
  // Whether the sink fills timestamp 0 with "now" itself (a server does).
  virtual bool fills_now() const = 0;

  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t server_rejected = 0;
  std::vector<std::string> server_errors;
};

class StoreSink : public ImportSink {
 public:
  explicit StoreSink(std::unique_ptr<storage::Store> store)
      : store_(std::move(store)) {}
  absl::Status WriteItems(std::span<const core::Item> items) override {
    return store_->PutItems(items);
  }
  absl::Status WriteEvents(std::span<const core::Event> events,
                           std::span<const int64_t>) override {
    absl::StatusOr<storage::AppendResult> r = store_->AppendEvents(events);
    if (!r.ok()) return r.status();
    accepted += r->accepted;
    duplicates += r->duplicates;
    return absl::OkStatus();
  }
  absl::Status Finish() override { return store_->Flush(); }
  bool fills_now() const override { return false; }

 private:
  std::unique_ptr<storage::Store> store_;
};

// Streams event batches through ImportEvents (each batch is committed by
// the server as it arrives) and items through UpsertItems.
class ServerSink : public ImportSink {
 public:
  ServerSink(const ClientFlags& client,
             std::chrono::milliseconds stream_timeout, int batch_size)
      : batch_size_(batch_size),
        client_(client),
        stream_timeout_(stream_timeout),
        stub_(v1::Recommender::NewStub(MakeClientChannel(client.target))) {}

  absl::Status WriteItems(std::span<const core::Item> items) override {
    v1::UpsertItemsRequest request;
    for (const core::Item& item : items) {
      server::ToProtoItem(item, request.add_items());
    }
    grpc::ClientContext context;
    SetDeadline(&context, client_.timeout);
    v1::UpsertItemsResponse response;
    return RpcStatus(stub_->UpsertItems(&context, request, &response));
  }

  absl::Status WriteEvents(std::span<const core::Event> events,
                           std::span<const int64_t> lines) override {
    for (int64_t line : lines) lines_.Add(line);
    if (writer_ == nullptr) {
      SetDeadline(&stream_context_, stream_timeout_);
      writer_ = stub_->ImportEvents(&stream_context_, &response_);
    }
    v1::FeedbackRequest request;
    for (const core::Event& event : events) {
      server::ToProtoEvent(event, request.add_events());
    }
    if (finished_ || !writer_->Write(request)) {
      // The stream broke; Finish() carries the reason.
      absl::Status s = StreamFinish();
      return s.ok() ? absl::UnavailableError(
                          "the server closed the import stream early")
                    : s;
    }
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    if (writer_ == nullptr) return absl::OkStatus();
    return StreamFinish();
  }
  bool fills_now() const override { return true; }

 private:
  absl::Status RpcStatus(const grpc::Status& status) {
    if (status.ok()) return absl::OkStatus();
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        Cat(FormatGrpcStatus(status), "\nhint: ",
                            HintForGrpcStatus(status, client_.target)));
  }
  absl::Status StreamFinish() {
    if (finished_) return finish_status_;
    finished_ = true;
    writer_->WritesDone();
    grpc::Status status = writer_->Finish();
    finish_status_ = RpcStatus(status);
    if (!status.ok()) return finish_status_;
    accepted = response_.accepted();
    duplicates = response_.duplicates();
    server_rejected = response_.rejected();
    for (const std::string& error : response_.errors()) {
      server_errors.push_back(lines_.Locate(error, batch_size_));
    }
    return absl::OkStatus();
  }

  int batch_size_;
  SentLines lines_;
  ClientFlags client_;
  std::chrono::milliseconds stream_timeout_;
  std::unique_ptr<v1::Recommender::Stub> stub_;
  grpc::ClientContext stream_context_;
  v1::ImportEventsResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::FeedbackRequest>> writer_;
  bool finished_ = false;
  absl::Status finish_status_;
};

struct FileStats {
  int64_t rows = 0;
  int64_t rejected = 0;
  std::vector<std::string> errors;  // the first kMaxShown
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

struct ImportOptions {
  std::string events_path;
  std::string items_path;
  std::string format;
  std::optional<core::EventType> default_type;
  bool movielens = false;
  int batch = 1000;
};

absl::Status ImportItems(const ImportOptions& options, ImportSink& sink,
                         FileStats* stats, int64_t* written) {
  std::ifstream in(options.items_path, std::ios::binary);
  if (!in) return absl::NotFoundError(Cat("cannot open ", options.items_path));
  FileFormat format = FileFormat::kPipe;
  if (!options.movielens) {
    absl::StatusOr<FileFormat> f =
        ResolveFormat(options.format, options.items_path);
    if (!f.ok()) return f.status();
    format = *f;
  }
  DelimitedReader reader(&in, format);
  Record record;
  std::string error;
  ItemColumns columns;
  size_t header_fields = 0;
  if (!options.movielens) {
    if (!reader.Next(&record, &error)) {
      return absl::InvalidArgumentError(Cat(options.items_path, " is empty"));
    }
    absl::StatusOr<ItemColumns> mapped = MapItemHeader(record.fields);
    if (!mapped.ok()) {
      return absl::InvalidArgumentError(
          Cat(options.items_path, ": line 1: ", mapped.status().message()));
    }
    columns = *std::move(mapped);
    if (!columns.ignored.empty()) {
      std::cerr << "note: ignoring item columns: "
                << absl::StrJoin(columns.ignored, ", ") << "\n";
    }
    header_fields = record.fields.size();
  }
  ProgressLine progress("items", FileSize(options.items_path));
  std::vector<core::Item> batch;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    absl::Status s = sink.WriteItems(batch);
    if (s.ok()) *written += static_cast<int64_t>(batch.size());
    batch.clear();
    return s;
  };
  while (reader.Next(&record, &error)) {
    ++stats->rows;
    if (!error.empty()) {
      Reject(stats, record.line, error);
      continue;
    }
    absl::StatusOr<core::Item> item =
        options.movielens ? ParseMovieLensItemRow(record)
                          : ParseItemRow(record, columns, header_fields);
    if (!item.ok()) {
      Reject(stats, record.line, item.status().message());
      continue;
    }
    if (absl::Status s = server::ValidateItem(*item, ""); !s.ok()) {
      Reject(stats, record.line, FieldMessage(s));
      continue;
    }
    batch.push_back(*std::move(item));
    if (batch.size() >= static_cast<size_t>(options.batch)) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
    progress.Update(reader.bytes_read(), stats->rows);
  }
  absl::Status s = flush();
  progress.Finish();
  return s;
}

absl::Status ImportEventsFile(const ImportOptions& options, ImportSink& sink,
                              FileStats* stats, int64_t* sent) {
  std::ifstream in(options.events_path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(Cat("cannot open ", options.events_path));
  }
  FileFormat format = FileFormat::kWhitespace;
  if (!options.movielens) {
    absl::StatusOr<FileFormat> f =
        ResolveFormat(options.format, options.events_path);
    if (!f.ok()) return f.status();
    format = *f;
  }
  DelimitedReader reader(&in, format);
  Record record;
  std::string error;
  EventColumns columns;
  size_t header_fields = 4;
  std::optional<core::EventType> default_type = options.default_type;
  if (options.movielens) {
    columns = MovieLensColumns();
    if (!default_type.has_value()) default_type = core::EventType::kRating;
  } else {
    if (!reader.Next(&record, &error)) {
      return absl::InvalidArgumentError(Cat(options.events_path, " is empty"));
    }
    absl::StatusOr<EventColumns> mapped =
        MapEventHeader(record.fields, default_type);
    if (!mapped.ok()) {
      return absl::InvalidArgumentError(
          Cat(options.events_path, ": line 1: ", mapped.status().message()));
    }
    columns = *std::move(mapped);
    header_fields = record.fields.size();
    if (!columns.ignored.empty()) {
      std::cerr << "note: ignoring event columns: "
                << absl::StrJoin(columns.ignored, ", ") << "\n";
    }
  }
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  ProgressLine progress("events", FileSize(options.events_path));
  std::vector<core::Event> batch;
  std::vector<int64_t> lines;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    absl::Status s = sink.WriteEvents(batch, lines);
    if (s.ok()) *sent += static_cast<int64_t>(batch.size());
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
    absl::StatusOr<core::Event> event =
        ParseEventRow(record, columns, default_type, header_fields);
    if (!event.ok()) {
      Reject(stats, record.line, event.status().message());
      continue;
    }
    if (absl::Status s = server::ValidateEvent(*event, now_ms, ""); !s.ok()) {
      Reject(stats, record.line, FieldMessage(s));
      continue;
    }
    // The event id was derived from the row as written (timestamp 0
    // included), so filling in "now" keeps re-imports idempotent.
    if (event->timestamp_ms == 0 && !sink.fills_now()) {
      event->timestamp_ms = now_ms;
    }
    batch.push_back(*std::move(event));
    lines.push_back(record.line);
    if (batch.size() >= static_cast<size_t>(options.batch)) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
    progress.Update(reader.bytes_read(), stats->rows);
  }
  absl::Status s = flush();
  progress.Finish();
  return s;
}

// Where `import` and `generate` write: --data-dir (a store opened here) or
// --target (a running server, through ImportEvents and UpsertItems).
struct SinkFlags {
  std::string data_dir;
  ClientFlags client{.target = "", .timeout = std::chrono::seconds(30)};
  std::chrono::milliseconds stream_timeout = std::chrono::hours(2);
  int batch = static_cast<int>(server::kMaxBatch);

  void Register(FlagParser& parser) {
    parser.String("data-dir", &data_dir,
                  "write into this data directory (offline)");
    client.Register(parser);
    parser.Duration("stream-timeout", &stream_timeout,
                    "deadline of the whole event stream with --target");
    parser.Int("batch", &batch, "events or items per write (1..1000)");
  }
  // The usage error, if any.
  std::optional<std::string> Check() const {
    if (data_dir.empty() == client.target.empty()) {
      return "give exactly one of --data-dir and --target";
    }
    if (batch < 1 || batch > static_cast<int>(server::kMaxBatch)) {
      return "--batch: must be 1..1000";
    }
    return std::nullopt;
  }
  // Null after printing what to do when the data dir cannot be opened.
  std::unique_ptr<ImportSink> Open() const {
    if (data_dir.empty()) {
      return std::make_unique<ServerSink>(client, stream_timeout, batch);
    }
    storage::StoreOptions store_options;
    store_options.data_dir = data_dir;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(store_options);
    if (!store.ok()) {
      if (IsDataDirInUse(store.status())) {
        PrintError(store.status().message(),
                   "a server is running on this data dir: stop the server, "
                   "or use --target host:port to stream into it");
      } else {
        PrintError(store.status().message());
      }
      return nullptr;
    }
    return std::make_unique<StoreSink>(*std::move(store));
  }
};

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
  parser.String("events", &options.events_path, "events file");
  parser.String("items", &options.items_path,
                "items file (imported before the events)");
  parser.String("format", &options.format,
                "tsv or csv (default: by extension, .csv = CSV, else TSV)");
  parser.String("type", &type,
                "event type for every row when the file has no type column");
  parser.Bool("movielens", &options.movielens,
              "MovieLens-100K files: --events u.data (headerless 'user item "
              "rating unix_seconds', type rating), --items u.item (pipe-"
              "separated, Latin-1, genres become categories)");
  parser.AddNotes(
      "Events file: a header row naming the columns, then one event per "
      "row.\n"
      "  user_id, item_id       required\n"
      "  type                   view, click, add_to_cart, remove_from_cart,\n"
      "                         purchase, rating, dislike, impression\n"
      "                         (required unless --type is given)\n"
      "  value                  rating, or quantity (also 'rating')\n"
      "  timestamp_ms           unix milliseconds, or\n"
      "  timestamp              unix seconds; absent/empty = now\n"
      "  event_id               idempotency key; when absent it is derived\n"
      "                         from (user_id, item_id, type, timestamp)\n"
      "  recommendation_id      for attribution\n"
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
      "  aisle import --target localhost:50051 --events events.csv");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!positional.empty()) {
    return UsageError(parser, Cat("unexpected argument '", positional[0], "'"));
  }
  if (auto error = sink_flags.Check()) return UsageError(parser, *error);
  if (options.events_path.empty() && options.items_path.empty()) {
    return UsageError(parser, "give --events FILE and/or --items FILE");
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
  for (const std::string* path : {&options.events_path, &options.items_path}) {
    if (!path->empty() && !fs::is_regular_file(*path)) {
      PrintError(Cat("cannot read ", *path), "check the path");
      return kExitFailure;
    }
  }

  std::unique_ptr<ImportSink> sink = sink_flags.Open();
  if (sink == nullptr) return kExitFailure;

  const auto start = Clock::now();
  FileStats item_stats;
  FileStats event_stats;
  int64_t items_written = 0;
  int64_t events_sent = 0;
  absl::Status status;
  if (!options.items_path.empty()) {
    status = ImportItems(options, *sink, &item_stats, &items_written);
  }
  if (status.ok() && !options.events_path.empty()) {
    status = ImportEventsFile(options, *sink, &event_stats, &events_sent);
  }
  // Even after a failure, finish so the batches already sent are counted.
  absl::Status finish = sink->Finish();
  if (status.ok()) status = finish;
  const double seconds = SecondsSince(start);

  if (!status.ok() && item_stats.rows == 0 && event_stats.rows == 0) {
    // Nothing was read (a bad header, an unreachable server): no summary.
    PrintError(status.message());
    return kExitFailure;
  }
  if (!options.items_path.empty()) {
    PrintRejections(options.items_path, item_stats);
  }
  if (!options.events_path.empty()) {
    PrintRejections(options.events_path, event_stats);
  }
  if (sink->server_rejected > 0) {
    std::cerr << "rejected by the server (" << sink->server_rejected << "):\n";
    for (const std::string& e : sink->server_errors) {
      std::cerr << "  " << e << "\n";
    }
  }
  if (!options.items_path.empty()) {
    std::cout << "items:  " << FormatCount(item_stats.rows) << " rows read, "
              << FormatCount(items_written) << " upserted, "
              << FormatCount(item_stats.rejected) << " rejected\n";
  }
  if (!options.events_path.empty()) {
    std::cout << "events: " << FormatCount(event_stats.rows) << " rows read, "
              << FormatCount(sink->accepted) << " accepted, "
              << FormatCount(sink->duplicates) << " duplicates, "
              << FormatCount(event_stats.rejected + sink->server_rejected)
              << " rejected\n";
  }
  std::cout << absl::StrFormat("time:   %.2fs", seconds);
  if (seconds > 0 && event_stats.rows > 0) {
    std::cout << absl::StrFormat(
        " (%s rows/s)",
        FormatCount(static_cast<int64_t>(event_stats.rows / seconds)));
  }
  std::cout << "\n";
  if (!status.ok()) {
    PrintError(status.message(),
               Cat(FormatCount(events_sent),
                   " events were committed before the error; fix it and "
                   "re-run the same command (imported rows count as "
                   "duplicates)"));
    return kExitFailure;
  }
  if (item_stats.rejected + event_stats.rejected + sink->server_rejected > 0) {
    std::cerr << "error: some rows were rejected (see above); fix them and "
                 "re-run: rows already imported count as duplicates\n";
    return kExitFailure;
  }
  return kExitOk;
}

// --- Generate ----------------------------------------------------------------

int RunGenerate(const Args& args) {
  SinkFlags sink_flags;
  core::DemoOptions demo;
  int64_t seed = static_cast<int64_t>(demo.seed);
  FlagParser parser(
      "aisle generate (--data-dir DIR | --target HOST:PORT) [flags]",
      "Generates a synthetic store (the one `aisle serve --demo` loads, at any "
      "size) and writes it into a data directory (the server must not be "
      "running on it) or streams it into a running server. The output "
      "depends only on the flags: the same flags give the same items, users "
      "and events (event ids e0, e1, ...), so re-running the command stores "
      "nothing twice. For demos, load tests and scale measurements.");
  sink_flags.Register(parser);
  parser.Int("items", &demo.items, "catalog items (ids i0..i<N-1>)");
  parser.Int("users", &demo.users,
             "users (ids u0..u<N-1>); activity is log-normal, so some "
             "users get no events");
  parser.Int64("events", &demo.events,
               "events (impressions, views, clicks, carts, purchases, "
               "ratings, dislikes)");
  parser.Int("days", &demo.days, "period the events span, ending 2026-11-01");
  parser.Int64("seed", &seed, "random seed");
  parser.AddNotes(
      "Then train a model on it: aisle train --data-dir DIR\n"
      "\n"
      "Example (a store for a recovery test: 100k items, ~1M users):\n"
      "  aisle generate --data-dir /tmp/big --items 100000 --users 1000000 "
      "--events 10000000");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!positional.empty()) {
    return UsageError(parser, Cat("unexpected argument '", positional[0], "'"));
  }
  if (auto error = sink_flags.Check()) return UsageError(parser, *error);
  if (demo.items < 1 || demo.items > 50'000'000) {
    return UsageError(parser, "--items: must be 1..50000000");
  }
  if (demo.users < 1 || demo.users > 50'000'000) {
    return UsageError(parser, "--users: must be 1..50000000");
  }
  if (demo.events < 1 || demo.events > 500'000'000) {
    return UsageError(parser, "--events: must be 1..500000000");
  }
  if (demo.days < 1 || demo.days > 3650) {
    return UsageError(parser, "--days: must be 1..3650");
  }
  demo.seed = static_cast<uint64_t>(seed);

  std::unique_ptr<ImportSink> sink = sink_flags.Open();
  if (sink == nullptr) return kExitFailure;
  const int batch = sink_flags.batch;

  const auto start = Clock::now();
  std::cerr << "generating " << FormatCount(demo.items) << " items, "
            << FormatCount(demo.users) << " users, " << FormatCount(demo.events)
            << " events...\n";
  core::DemoData data = core::GenerateDemoData(demo);
  std::cerr << absl::StrFormat("generated in %.1fs; writing\n",
                               SecondsSince(start));
  const auto write_start = Clock::now();
  absl::Status status;
  {
    ProgressLine progress("items", static_cast<int64_t>(data.items.size()));
    for (size_t i = 0; status.ok() && i < data.items.size(); i += batch) {
      const size_t n = std::min<size_t>(batch, data.items.size() - i);
      status = sink->WriteItems({data.items.data() + i, n});
      progress.Update(static_cast<int64_t>(i + n), static_cast<int64_t>(i + n));
    }
    progress.Finish();
  }
  {
    ProgressLine progress("events", static_cast<int64_t>(data.events.size()));
    const std::vector<int64_t> no_lines(batch, 0);
    for (size_t i = 0; status.ok() && i < data.events.size(); i += batch) {
      const size_t n = std::min<size_t>(batch, data.events.size() - i);
      status =
          sink->WriteEvents({data.events.data() + i, n}, {no_lines.data(), n});
      progress.Update(static_cast<int64_t>(i + n), static_cast<int64_t>(i + n));
    }
    progress.Finish();
  }
  absl::Status finish = sink->Finish();
  if (status.ok()) status = finish;
  if (!status.ok()) {
    PrintError(status.message(),
               "re-run the same command: what was stored counts as "
               "duplicates");
    return kExitFailure;
  }
  const double write_seconds = SecondsSince(write_start);
  std::cout << "items:  " << FormatCount(data.items.size()) << " upserted\n"
            << "events: " << FormatCount(sink->accepted) << " accepted, "
            << FormatCount(sink->duplicates) << " duplicates, "
            << FormatCount(sink->server_rejected) << " rejected\n"
            << absl::StrFormat(
                   "time:   %.2fs (writing %.2fs, %s events/s)\n",
                   SecondsSince(start), write_seconds,
                   FormatCount(static_cast<int64_t>(
                       data.events.size() / std::max(write_seconds, 1e-9))));
  if (sink->server_rejected > 0) {
    for (const std::string& e : sink->server_errors) {
      std::cerr << "  " << e << "\n";
    }
    return kExitFailure;
  }
  if (!sink_flags.data_dir.empty()) {
    std::cout << "next: aisle train --data-dir " << sink_flags.data_dir << "\n";
  }
  return kExitOk;
}

// --- Train -------------------------------------------------------------------

namespace {

// Writes `blob` to dir/name atomically: a temporary file, fsync, rename,
// fsync of the directory, so the server never sees a partial model.
absl::Status WriteFileAtomically(const fs::path& dir, const std::string& name,
                                 std::string_view blob) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        Cat("cannot create ", dir.string(), ": ", ec.message()));
  }
  const fs::path tmp = dir / (name + ".tmp");
  const fs::path final_path = dir / name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        Cat("cannot create ", tmp.string(), ": ", std::strerror(errno)));
  }
  size_t off = 0;
  while (off < blob.size()) {
    const ssize_t n = ::write(fd, blob.data() + off, blob.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      fs::remove(tmp, ec);
      return absl::UnavailableError(Cat("writing ", tmp.string(), ": ", why));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    fs::remove(tmp, ec);
    return absl::UnavailableError(
        Cat("syncing ", tmp.string(), ": ", std::strerror(errno)));
  }
  fs::rename(tmp, final_path, ec);
  if (ec) {
    return absl::UnavailableError(Cat("renaming ", tmp.string(), " to ",
                                      final_path.string(), ": ", ec.message()));
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

absl::Status LoadEngine(const storage::Store& store, core::Engine* engine,
                        int64_t* items, int64_t* events) {
  absl::Status s = store.ScanItems([&](std::span<const core::Item> batch) {
    engine->UpsertItems(batch);
    *items += static_cast<int64_t>(batch.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  ProgressLine progress("loading", 0);
  s = store.ScanEvents([&](std::span<const core::Event> batch) {
    engine->ReplayEvents(batch);
    *events += static_cast<int64_t>(batch.size());
    progress.Update(0, *events);
    return absl::OkStatus();
  });
  progress.Finish();
  return s;
}

absl::StatusOr<std::string> ParseSolver(std::string_view name,
                                        core::AlsSolver* solver) {
  if (name == "cg") {
    *solver = core::AlsSolver::kConjugateGradient;
  } else if (name == "cholesky") {
    *solver = core::AlsSolver::kCholesky;
  } else {
    return absl::InvalidArgumentError(
        Cat("--solver: '", name, "' is not cg or cholesky"));
  }
  return std::string(name);
}

struct TrainFlags {
  core::AlsOptions als;
  std::string solver = "cg";
  double alpha = 1.0;
  double reg = 40.0;
};

void RegisterAlsFlags(FlagParser& parser, TrainFlags* f) {
  parser.Int("factors", &f->als.factors, "latent dimension");
  parser.Double("alpha", &f->alpha, "confidence scale c = 1 + alpha * r");
  parser.Double("reg", &f->reg, "L2 regularization");
  parser.Int("iterations", &f->als.iterations, "ALS iterations");
  parser.String("solver", &f->solver, "cg or cholesky");
  parser.Int("cg-steps", &f->als.cg_steps, "CG steps per solve (solver cg)");
  parser.Int("threads", &f->als.threads, "training threads; 0 = all cores");
}

// Completes `f->als` from the flag values; usage error text on failure.
absl::Status FinishAlsFlags(TrainFlags* f, int64_t seed) {
  f->als.alpha = static_cast<float>(f->alpha);
  f->als.regularization = static_cast<float>(f->reg);
  f->als.seed = static_cast<uint64_t>(seed);
  if (absl::StatusOr<std::string> s = ParseSolver(f->solver, &f->als.solver);
      !s.ok()) {
    return s.status();
  }
  if (f->als.factors < 1 || f->als.factors > 1024) {
    return absl::InvalidArgumentError("--factors: must be 1..1024");
  }
  if (f->als.iterations < 1) {
    return absl::InvalidArgumentError("--iterations: must be >= 1");
  }
  if (f->alpha <= 0) return absl::InvalidArgumentError("--alpha: must be > 0");
  if (f->reg < 0) return absl::InvalidArgumentError("--reg: must be >= 0");
  if (f->als.cg_steps < 1) {
    return absl::InvalidArgumentError("--cg-steps: must be >= 1");
  }
  if (f->als.threads < 0) {
    return absl::InvalidArgumentError("--threads: must be >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

int RunTrain(const Args& args) {
  std::string data_dir;
  TrainFlags train;
  int64_t seed = 42;
  bool activate = true;
  bool loss = false;
  double validate_fraction = 0.1;
  int validate_users = 2000;
  std::string version;
  FlagParser parser(
      "aisle train --data-dir DIR [flags]",
      "Trains an implicit-ALS factor model from the events stored in DIR and "
      "stores it as a new model version.\n"
      "If no server is running on DIR the model is stored and (with "
      "--activate) made active directly; the next `aisle serve` loads it.\n"
      "If a server is running on DIR, the store is read read-only and the "
      "model is written to DIR/model-inbox/<version>.model, which the server "
      "validates, stores and activates at its next model poll "
      "(--model-poll-interval).");
  parser.String("data-dir", &data_dir, "data directory (required)");
  RegisterAlsFlags(parser, &train);
  parser.Int64("seed", &seed, "random seed (initial factors, holdout split)");
  parser.Bool("activate", &activate,
              "make the new version active (--no-activate stores only)");
  parser.Bool("loss", &loss, "compute the training loss each iteration");
  parser.Double("validate-fraction", &validate_fraction,
                "hold out this fraction of each user's interactions, report "
                "holdout P/R/nDCG@10 and store them in the model metadata "
                "(trains twice); 0 = off");
  parser.Int("validate-users", &validate_users,
             "users scored for the holdout metrics (a random sample)");
  parser.String("version", &version,
                "version string (default: <UTC time>-<4 hex>)");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!positional.empty()) {
    return UsageError(parser, Cat("unexpected argument '", positional[0], "'"));
  }
  if (data_dir.empty()) return UsageError(parser, "--data-dir is required");
  if (absl::Status s = FinishAlsFlags(&train, seed); !s.ok()) {
    return UsageError(parser, s.message());
  }
  if (validate_fraction < 0 || validate_fraction >= 1) {
    return UsageError(parser, "--validate-fraction: must be in [0, 1)");
  }
  if (validate_users < 1) {
    return UsageError(parser, "--validate-users: must be >= 1");
  }
  if (!fs::is_directory(data_dir)) {
    PrintError(Cat("no data dir ", data_dir),
               "import events first: aisle import --data-dir DIR --events "
               "FILE");
    return kExitFailure;
  }

  const auto start = Clock::now();
  storage::StoreOptions store_options;
  store_options.data_dir = data_dir;
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open(store_options);
  bool server_running = false;
  if (!store.ok() && IsDataDirInUse(store.status())) {
    server_running = true;
    store_options.read_only = true;
    store = storage::Store::Open(store_options);
  }
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitFailure;
  }
  if (server_running) {
    std::cerr << "a server holds " << data_dir
              << ": reading it read-only; the model will go to its "
                 "model-inbox\n";
  }

  core::Engine engine{core::EngineOptions{}};
  int64_t items = 0;
  int64_t events = 0;
  if (absl::Status s = LoadEngine(**store, &engine, &items, &events); !s.ok()) {
    PrintError(Cat("reading ", data_dir, ": ", s.message()));
    return kExitFailure;
  }
  core::Engine::TrainingData data = engine.ExportTrainingData();
  std::cerr << absl::StrFormat(
      "loaded %s items, %s events: %s users x %s items, %s interactions "
      "(%.1fs)\n",
      FormatCount(items), FormatCount(events),
      FormatCount(static_cast<int64_t>(data.user_ids.size())),
      FormatCount(static_cast<int64_t>(data.item_ids.size())),
      FormatCount(data.user_items.nnz()), SecondsSince(start));
  if (data.user_items.nnz() == 0) {
    PrintError(Cat("no positive interactions in ", data_dir, " to train on"),
               "import events first: aisle import --data-dir DIR --events "
               "FILE");
    return kExitFailure;
  }

  core::TrainingOptions options;
  options.als = train.als;
  options.validate_fraction = validate_fraction;
  options.validate_users = validate_users;
  options.compute_loss = loss;
  options.version = version;
  // The ANN index is not stored with the model: the server builds it.
  core::ModelOptions model_options;
  model_options.defer_ann = true;
  absl::StatusOr<core::TrainedModel> trained = core::TrainModelVersion(
      std::move(data), options, model_options,
      [](std::string_view phase, const core::AlsProgress& p) {
        std::cerr << absl::StrFormat("%s iteration %d/%d  %.2fs", phase,
                                     p.iteration, p.iterations, p.seconds);
        if (p.loss >= 0) std::cerr << absl::StrFormat("  loss %.6g", p.loss);
        std::cerr << "\n";
      });
  if (!trained.ok()) {
    PrintError(Cat("training: ", trained.status().message()));
    return kExitFailure;
  }
  const core::FactorModel& model = *trained->model;
  const core::ModelMetadata& metadata = model.metadata();
  const double train_seconds = trained->train_seconds;
  const std::string blob = model.Serialize();

  std::string where;
  if (server_running) {
    const fs::path inbox = server::ModelInboxDir(data_dir);
    if (absl::Status s =
            WriteFileAtomically(inbox, metadata.version + ".model", blob);
        !s.ok()) {
      PrintError(s.message());
      return kExitFailure;
    }
    where = Cat("written to ", (inbox / (metadata.version + ".model")).string(),
                "; the running server will validate, store and activate "
                "it at its next model poll (check with `aisle models list "
                "--data-dir ",
                data_dir, "` or `aisle model info`)");
    if (!activate) {
      where +=
          "; note: --no-activate does not apply to the inbox, the "
          "server activates inbox models";
    }
  } else {
    if (absl::Status s = (*store)->PutModel(metadata, blob); !s.ok()) {
      PrintError(Cat("storing the model: ", s.message()));
      return kExitFailure;
    }
    if (activate) {
      if (absl::Status s = (*store)->SetActiveModel(metadata.version);
          !s.ok()) {
        PrintError(Cat("activating the model: ", s.message()));
        return kExitFailure;
      }
      where =
          "stored and activated; the next `aisle serve` on this data dir "
          "serves it";
    } else {
      where =
          Cat("stored, not active (activate with `aisle models "
              "activate ",
              metadata.version, " --data-dir ", data_dir, "`)");
    }
  }
  std::cout << "model " << metadata.version << ": "
            << FormatCount(metadata.users) << " users x "
            << FormatCount(metadata.items) << " items, "
            << FormatCount(metadata.interactions) << " interactions, "
            << metadata.factors << " factors\n";
  if (trained->holdout_users > 0) {
    std::cout << absl::StrFormat(
        "  holdout (%.0f%% of each user's items, %d users):",
        validate_fraction * 100, trained->holdout_users);
    for (const auto& [name, value] : metadata.metrics) {
      std::cout << " " << name.substr(name.find('_') + 1) << " "
                << FormatFixed(value, 4);
    }
    std::cout << "\n";
  }
  std::cout << absl::StrFormat("  training %.2fs, total %.2fs, %s bytes\n",
                               train_seconds, SecondsSince(start),
                               FormatCount(static_cast<int64_t>(blob.size())));
  std::cout << where << "\n";
  return kExitOk;
}

// --- Eval --------------------------------------------------------------------

int RunEval(const Args& args) {
  std::string train_path;
  std::string test_path;
  int k = 10;
  std::string models = "all";
  TrainFlags train;
  int64_t seed = 42;
  bool binary = false;
  FlagParser parser(
      "aisle eval --train FILE --test FILE [flags]",
      "Offline evaluation on a train/test split of ratings (rows 'user item "
      "rating unix_seconds', tab/comma/space separated) through the same "
      "Recommend code path the server uses: for every test user the top k "
      "items, the user's train items excluded; an item is relevant if it is "
      "in the user's test rows.");
  parser.String("train", &train_path, "train ratings file (required)");
  parser.String("test", &test_path, "test ratings file (required)");
  parser.Int("k", &k, "list length");
  parser.String("model", &models,
                "popular, cooccurrence, als, or all (comma-separated)");
  RegisterAlsFlags(parser, &train);
  parser.Int64("seed", &seed, "ALS seed");
  parser.Bool("binary", &binary,
              "weigh every rating 1 instead of by its value");
  parser.AddNotes(
      "Example (MovieLens-100K split of /work/shared/data):\n"
      "  aisle eval --train ml-100k-split-by-user/train.tsv \\\n"
      "             --test ml-100k-split-by-user/test.tsv");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!positional.empty()) {
    return UsageError(parser, Cat("unexpected argument '", positional[0], "'"));
  }
  if (train_path.empty() || test_path.empty()) {
    return UsageError(parser, "--train and --test are required");
  }
  if (k < 1) return UsageError(parser, "--k: must be >= 1");
  if (absl::Status s = FinishAlsFlags(&train, seed); !s.ok()) {
    return UsageError(parser, s.message());
  }
  std::vector<core::EvalVariant> variants;
  for (const std::string& name : SplitList(models)) {
    if (name == "all") {
      variants = {core::EvalVariant::kPopular, core::EvalVariant::kCoOccurrence,
                  core::EvalVariant::kAls};
    } else if (name == "popular") {
      variants.push_back(core::EvalVariant::kPopular);
    } else if (name == "cooccurrence" || name == "co_occurrence") {
      variants.push_back(core::EvalVariant::kCoOccurrence);
    } else if (name == "als") {
      variants.push_back(core::EvalVariant::kAls);
    } else {
      return UsageError(parser, Cat("--model: unknown model '", name,
                                    "' (popular, cooccurrence, als, all)"));
    }
  }
  if (variants.empty()) return UsageError(parser, "--model: empty");

  const std::string kk = Cat("@", k);
  Table table({"model", Cat("P", kk), Cat("R", kk), Cat("nDCG", kk), "MAP",
               "coverage", "users", "train_s", "recommend_s"});
  for (core::EvalVariant variant : variants) {
    core::EvalOptions options;
    options.train_path = train_path;
    options.test_path = test_path;
    options.variant = variant;
    options.k = k;
    options.als = train.als;
    options.rating_as_weight = !binary;
    std::cerr << "evaluating " << core::EvalVariantName(variant) << "...\n";
    absl::StatusOr<core::EvalReport> report = core::Evaluate(options);
    if (!report.ok()) {
      PrintError(report.status().message(),
                 absl::IsNotFound(report.status())
                     ? "check the --train/--test paths"
                     : "");
      return kExitFailure;
    }
    table.AddRow({report->variant, FormatFixed(report->precision, 4),
                  FormatFixed(report->recall, 4), FormatFixed(report->ndcg, 4),
                  FormatFixed(report->map, 4), FormatFixed(report->coverage, 4),
                  Cat(report->users_evaluated),
                  FormatFixed(report->train_seconds, 2),
                  FormatFixed(report->recommend_seconds, 2)});
  }
  std::cout << table.Render();
  return kExitOk;
}

}  // namespace aisle::cli
