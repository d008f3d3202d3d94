// Where `aisle import` and `aisle generate` write: a data directory opened
// by this process (--data-dir) or a running server (--target, events
// streamed through ImportEvents, items through UpsertItems, users'
// attributes through UpsertUsers). Both commands
// write in batches through ImportSink and never know which one they have.
//
// Thread safety: plain objects for one thread.
#ifndef AISLE_CLI_IMPORT_SINK_H_
#define AISLE_CLI_IMPORT_SINK_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/flags.h"
#include "cli/rpc.h"
#include "core/types.h"

namespace aisle::cli {

// Batches of items and events on their way to a store or a server.
class ImportSink {
 public:
  virtual ~ImportSink() = default;
  // Writes one batch (at most SinkFlags::batch entries). The error says
  // what went wrong and, for a server, what to do ("...\nhint: ...").
  virtual absl::Status WriteItems(std::span<const core::Item> items) = 0;
  // Users' attributes (UpsertUsers), at most SinkFlags::batch per call.
  virtual absl::Status WriteUsers(
      std::span<const core::UserAttributes> users) = 0;
  // `lines[i]` is the file line of events[i], for error messages (0 when
  // the events come from no file).
  virtual absl::Status WriteEvents(std::span<const core::Event> events,
                                   std::span<const int64_t> lines) = 0;
  // Completes the import; call it also after a failed write, so that what
  // was committed is counted. The counters below are final after it returns
  // (a store sink counts per batch, a server reports once at the end).
  virtual absl::Status Finish() = 0;
  // Whether the sink fills timestamp 0 with "now" itself (a server does).
  virtual bool fills_now() const = 0;
  // Whether a write that returned OK is durably stored (a store sink). A
  // server sink only buffers into the ImportEvents stream: what the server
  // stored is known from its final answer, not from each write.
  virtual bool confirms_each_write() const = 0;

  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t server_rejected = 0;
  // The server's rejections, with file lines where it named a batch entry.
  std::vector<std::string> server_errors;
};

// --data-dir or --target, and the batching flags.
struct SinkFlags {
  std::string data_dir;
  ClientFlags client = [] {
    ClientFlags flags;
    flags.target = "";
    flags.timeout = std::chrono::seconds(30);
    return flags;
  }();
  std::chrono::milliseconds stream_timeout = std::chrono::hours(2);
  int batch;  // default: the server's batch limit

  SinkFlags();
  // Registers --data-dir, --target, --timeout, --stream-timeout, --batch.
  void Register(FlagParser& parser);
  // The usage error, if any (neither or both of --data-dir and --target,
  // a batch out of range).
  std::optional<std::string> Check() const;
  // The sink the flags name. Null after printing what to do when the data
  // dir cannot be opened (e.g. a server holds it); a server sink connects
  // lazily, so its errors come from the writes.
  std::unique_ptr<ImportSink> Open() const;
};

// File lines of the events `aisle import --target` has sent, in order, so
// that the server's "batch B: events[E]..." errors can name file lines.
// Stored compactly: one entry where the line numbers stop being consecutive
// (a rejected or blank row, a multi-line CSV field), so memory grows with
// irregularities, not with rows.
class SentLines {
 public:
  // Records the line of the next event sent.
  void Add(int64_t line);
  // The line of the n-th event sent (0-based); -1 if out of range.
  int64_t LineOf(int64_t n) const;
  // Rewrites "batch B: events[E].field: message" (B and E 0-based, every
  // batch but the last `batch_size` events) as "line L: field: message";
  // other messages are returned unchanged.
  std::string Locate(const std::string& error, int batch_size) const;

 private:
  struct Run {
    int64_t first_event;
    int64_t first_line;
  };
  std::vector<Run> runs_;
  int64_t count_ = 0;
  int64_t last_ = 0;
};

}  // namespace aisle::cli

#endif  // AISLE_CLI_IMPORT_SINK_H_
