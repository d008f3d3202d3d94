// The two import sinks (a store opened here, a running server), the flags
// that choose between them, and SentLines.
#include "cli/import_sink.h"

#include <algorithm>
#include <regex>
#include <utility>

#include "absl/strings/numbers.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cli/text.h"
#include "server/convert.h"
#include "server/validation.h"
#include "storage/store.h"

namespace aisle::cli {

// --- SentLines ---------------------------------------------------------------

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
  if (!absl::SimpleAtoi(m[1].str(), &batch) ||
      !absl::SimpleAtoi(m[2].str(), &index)) {
    return error;
  }
  const int64_t line = LineOf(batch * batch_size + index);
  if (line < 0) return error;
  return Cat("line ", line, ": ", m[3].str());
}

// --- Sinks -------------------------------------------------------------------

namespace {

class StoreSink : public ImportSink {
 public:
  explicit StoreSink(std::unique_ptr<storage::Store> store)
      : store_(std::move(store)) {}
  absl::Status WriteItems(std::span<const core::Item> items) override {
    return store_->PutItems(items);
  }
  absl::Status WriteUsers(
      std::span<const core::UserAttributes> users) override {
    // The server's rules, as for events: this store bypasses the server.
    if (absl::Status s = server::ValidateUsers(users); !s.ok()) return s;
    return store_->PutUsers(users);
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
  bool confirms_each_write() const override { return true; }

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
        stream_timeout_(stream_timeout),
        rpc_(client) {}

  absl::Status WriteItems(std::span<const core::Item> items) override {
    v1::UpsertItemsRequest request;
    for (const core::Item& item : items) {
      server::ToProtoItem(item, request.add_items());
    }
    v1::UpsertItemsResponse response;
    return ToStatus(
        rpc_.Call(&RecommenderClient::Stub::UpsertItems, request, &response));
  }

  absl::Status WriteUsers(
      std::span<const core::UserAttributes> users) override {
    v1::UpsertUsersRequest request;
    for (const core::UserAttributes& user : users) {
      server::ToProtoUser(user, request.add_users());
    }
    v1::UpsertUsersResponse response;
    return ToStatus(
        rpc_.Call(&RecommenderClient::Stub::UpsertUsers, request, &response));
  }

  absl::Status WriteEvents(std::span<const core::Event> events,
                           std::span<const int64_t> lines) override {
    for (int64_t line : lines) lines_.Add(line);
    if (writer_ == nullptr) {
      if (!rpc_.channel_status().ok()) return rpc_.channel_status();
      SetDeadline(&stream_context_, stream_timeout_);
      writer_ = rpc_.stub().ImportEvents(&stream_context_, &response_);
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
  bool confirms_each_write() const override { return false; }

 private:
  // The error and its hint in one message, printed by the command.
  absl::Status ToStatus(const grpc::Status& status) {
    if (status.ok()) return absl::OkStatus();
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        Cat(FormatGrpcStatus(status), "\nhint: ",
                            HintForGrpcStatus(status, rpc_.flags().target)));
  }
  absl::Status StreamFinish() {
    if (finished_) return finish_status_;
    finished_ = true;
    writer_->WritesDone();
    grpc::Status status = writer_->Finish();
    finish_status_ = ToStatus(status);
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
  std::chrono::milliseconds stream_timeout_;
  RecommenderClient rpc_;
  grpc::ClientContext stream_context_;
  v1::ImportEventsResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::FeedbackRequest>> writer_;
  bool finished_ = false;
  absl::Status finish_status_;
};

}  // namespace

// --- SinkFlags ---------------------------------------------------------------

SinkFlags::SinkFlags() : batch(static_cast<int>(server::kMaxBatch)) {}

void SinkFlags::Register(FlagParser& parser) {
  parser.String("data-dir", &data_dir,
                "write into this data directory (offline)");
  client.Register(parser);
  parser.Duration("stream-timeout", &stream_timeout,
                  "deadline of the whole event stream with --target");
  parser.Int("batch", &batch, "events or items per write (1..1000)");
}

std::optional<std::string> SinkFlags::Check() const {
  if (data_dir.empty() == client.target.empty()) {
    return "give exactly one of --data-dir and --target";
  }
  if (batch < 1 || batch > static_cast<int>(server::kMaxBatch)) {
    return "--batch: must be 1..1000";
  }
  return std::nullopt;
}

std::unique_ptr<ImportSink> SinkFlags::Open() const {
  if (data_dir.empty()) {
    return std::make_unique<ServerSink>(client, stream_timeout, batch);
  }
  storage::StoreOptions store_options;
  store_options.data_dir = data_dir;
  StoreOrError store = storage::Store::Open(store_options);
  if (!store.ok()) {
    PrintOpenError(store.status(),
                   "a server is running on this data dir: stop the server, "
                   "or use --target host:port to stream into it");
    return nullptr;
  }
  return std::make_unique<StoreSink>(*std::move(store));
}

}  // namespace aisle::cli
