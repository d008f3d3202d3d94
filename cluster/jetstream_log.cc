// EventLog on a NATS JetStream stream (event_log.h has the contract), with
// the NATS C client (libnats 3.4). Appends are asynchronous JetStream
// publishes with the Nats-Msg-Id header (js_PublishMsgAsync): concurrent
// appends are in flight together on the one connection and each caller
// waits for its own acknowledgement (matched by message in OnAck), so many
// writers share round trips instead of queueing; readers are ordered push
// consumers (ephemeral, flow-controlled, re-created by the client library
// after a gap or a lost server) starting at a given stream sequence. No
// consumer state lives in NATS: each node keeps its own position.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cluster/event_log.h"
#include "cluster/nats_connection.h"
#include "nats/nats.h"

namespace aisle::cluster {
namespace {

// JetStream's "stream name already in use" (with another configuration).
constexpr jsErrCode kStreamNameExists = static_cast<jsErrCode>(10058);
// JetStream's "no message found" (a sequence never stored, or deleted).
constexpr jsErrCode kNoMessageFound = static_cast<jsErrCode>(10037);
constexpr jsErrCode kNoJsError = static_cast<jsErrCode>(0);
// How long the server keeps an ordered consumer's heartbeat interval: the
// client re-creates the consumer after two are missed, so this bounds how
// long a reader stalls after the NATS server holding its consumer died.
constexpr absl::Duration kReaderHeartbeat = absl::Seconds(1);
// Appends in flight at once per node; one more waits (StallWait) for an
// acknowledgement. Far above the RPC threads that append concurrently.
constexpr int64_t kMaxAppendsInFlight = 4096;

struct SubscriptionDeleter {
  void operator()(natsSubscription* p) const {
    // Unsubscribe first: destroying a live JetStream subscription lets the
    // connection's read loop race with its teardown (seen as a hang in
    // natsConnection_Close on a destroyed mutex with libnats 3.4).
    natsSubscription_Unsubscribe(p);
    natsSubscription_Destroy(p);
  }
};
struct MsgDeleter {
  void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
};
struct MetaDeleter {
  void operator()(jsMsgMetaData* p) const { jsMsgMetaData_Destroy(p); }
};

class JetStreamReader final : public LogReader {
 public:
  explicit JetStreamReader(natsSubscription* sub) : sub_(sub) {}

  absl::StatusOr<std::optional<LogEntry>> Next(
      absl::Duration timeout) override {
    while (true) {
      if (timeout <= absl::ZeroDuration()) {
        int pending = 0;
        int pending_bytes = 0;
        if (natsSubscription_GetPending(sub_.get(), &pending, &pending_bytes) !=
                NATS_OK ||
            pending == 0) {
          return std::nullopt;
        }
      }
      natsMsg* raw = nullptr;
      natsStatus s =
          natsSubscription_NextMsg(&raw, sub_.get(), Millis(timeout));
      if (s == NATS_TIMEOUT) return std::nullopt;
      if (s != NATS_OK) return NatsError(s, kNoJsError, "reading the log");
      std::unique_ptr<natsMsg, MsgDeleter> msg(raw);
      jsMsgMetaData* raw_meta = nullptr;
      s = natsMsg_GetMetaData(&raw_meta, msg.get());
      if (s != NATS_OK)
        return NatsError(s, kNoJsError, "reading a log entry's metadata");
      std::unique_ptr<jsMsgMetaData, MetaDeleter> meta(raw_meta);
      const uint64_t sequence = meta->Sequence.Stream;
      // The ordered consumer never redelivers, but a re-created one starts
      // after the last entry it delivered; this guard keeps "each once"
      // even if that ever overlapped.
      if (sequence <= last_) continue;
      last_ = sequence;
      LogEntry entry;
      entry.sequence = sequence;
      entry.payload.assign(
          natsMsg_GetData(msg.get()),
          static_cast<size_t>(natsMsg_GetDataLength(msg.get())));
      entry.stored_at = absl::FromUnixNanos(meta->Timestamp);
      return entry;
    }
  }

 private:
  std::unique_ptr<natsSubscription, SubscriptionDeleter> sub_;
  uint64_t last_ = 0;
};

class JetStreamLog final : public EventLog {
 public:
  explicit JetStreamLog(LogOptions options) : options_(std::move(options)) {
    if (options_.replicas <= 0) {
      options_.replicas =
          std::min<int>(3, static_cast<int>(options_.servers.size()));
    }
  }
  // Closes the connection and waits (bounded) for NATS's callback thread
  // to be done with this object. REQUIRES: every reader opened on this log
  // is destroyed.
  ~JetStreamLog() override;

  absl::Status Connect();

  absl::StatusOr<Appended> Append(std::string_view id,
                                  std::string_view payload) override;
  absl::StatusOr<std::unique_ptr<LogReader>> OpenReader(uint64_t from) override;
  // Sets the existing stream's max age (EnsureStream).
  absl::Status UpdateMaxAge(absl::Duration max_age);
  absl::StatusOr<uint64_t> LastSequence() override;
  absl::StatusOr<std::optional<LogEntry>> Get(uint64_t sequence) override;
  absl::Status Erase(uint64_t sequence) override;
  absl::Status Probe(absl::Duration timeout) override;
  bool connected() const override {
    return natsConnection_Status(conn_.get()) == NATS_CONN_STATUS_CONNECTED;
  }

 private:
  static void OnDisconnected(natsConnection*, void* closure) {
    static_cast<JetStreamLog*>(closure)->Notify(false);
  }
  static void OnConnected(natsConnection*, void* closure) {
    static_cast<JetStreamLog*>(closure)->Notify(true);
  }
  // NATS runs the closed callback after every other callback of the
  // connection: once it ran, nothing calls into this object any more.
  static void OnClosed(natsConnection*, void* closure) {
    auto* log = static_cast<JetStreamLog*>(closure);
    std::lock_guard<std::mutex> lock(log->closed_mu_);
    log->closed_ = true;
    log->closed_cv_.notify_all();
  }
  // An Append waiting for its acknowledgement.
  struct AckWaiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;  // guarded by mu
    absl::StatusOr<Appended> result = absl::UnknownError("");
  };
  // JetStream's answer to an asynchronous publish (from the connection's
  // delivery thread): hands it to the Append waiting for `msg`, if it did
  // not give up, and frees the message (ours once the handler runs).
  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error,
                    void* closure) {
    auto* log = static_cast<JetStreamLog*>(closure);
    std::shared_ptr<AckWaiter> waiter;
    {
      std::lock_guard<std::mutex> lock(log->acks_mu_);
      auto it = log->acks_.find(msg);
      if (it != log->acks_.end()) {
        waiter = std::move(it->second);
        log->acks_.erase(it);
      }
    }
    if (waiter != nullptr) {
      absl::StatusOr<Appended> result = absl::UnknownError("");
      if (ack != nullptr) {
        result = Appended{ack->Sequence, ack->Duplicate};
      } else {
        result = absl::UnavailableError(absl::StrCat(
            "appending to the log: ",
            error != nullptr ? natsStatus_GetText(error->Err) : "no answer",
            error != nullptr && error->ErrText != nullptr
                ? absl::StrCat(": ", error->ErrText)
                : "",
            error != nullptr && error->ErrCode != 0
                ? absl::StrCat(" (JetStream error ", error->ErrCode, ")")
                : "",
            "; check that NATS is running, then retry with the same id"));
      }
      std::lock_guard<std::mutex> lock(waiter->mu);
      waiter->result = std::move(result);
      waiter->done = true;
      waiter->cv.notify_all();
    }
    natsMsg_Destroy(msg);
  }
  void Notify(bool connected) {
    if (options_.on_connection_change) options_.on_connection_change(connected);
  }

  absl::Status CheckConnected() const {
    if (connected()) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat(
        "not connected to NATS (", absl::StrJoin(options_.servers, ","),
        "); retry, or send to another node"));
  }

  // Creates the stream unless that already succeeded once. Creating is
  // idempotent in JetStream (same configuration: OK), so concurrent nodes
  // may all try.
  absl::Status EnsureStream();

  LogOptions options_;
  std::unique_ptr<natsOptions, OptionsDeleter> nats_options_;
  std::unique_ptr<natsConnection, ConnectionDeleter> conn_;
  std::unique_ptr<jsCtx, JsDeleter> js_;
  std::mutex stream_mu_;
  bool stream_ready_ = false;  // guarded by stream_mu_
  bool probe_ready_ = false;   // guarded by stream_mu_
  std::mutex closed_mu_;
  std::condition_variable closed_cv_;
  bool closed_ = false;  // guarded by closed_mu_
  // Appends in flight, by their message (alive until OnAck ran for it).
  std::mutex acks_mu_;
  std::unordered_map<natsMsg*, std::shared_ptr<AckWaiter>>
      acks_;  // guarded by acks_mu_
};

JetStreamLog::~JetStreamLog() {
  if (conn_ == nullptr) return;
  natsConnection_Close(conn_.get());
  std::unique_lock<std::mutex> lock(closed_mu_);
  closed_cv_.wait_for(lock, std::chrono::seconds(10),
                      [this] { return closed_; });
}

absl::Status JetStreamLog::Connect() {
  NatsCallbacks callbacks;
  callbacks.disconnected = OnDisconnected;
  callbacks.reconnected = OnConnected;
  callbacks.closed = OnClosed;
  callbacks.connected = OnConnected;
  callbacks.closure = this;
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = Millis(options_.append_timeout);
  js_options.PublishAsync.AckHandler = OnAck;
  js_options.PublishAsync.AckHandlerClosure = this;
  js_options.PublishAsync.MaxPending = kMaxAppendsInFlight;
  NatsConnection nats;
  if (absl::Status s = ConnectNats(options_.servers, options_.connection_name,
                                   callbacks, &js_options, &nats);
      !s.ok()) {
    return s;
  }
  nats_options_ = std::move(nats.options);
  conn_ = std::move(nats.conn);
  js_ = std::move(nats.js);
  if (connected()) {
    // Best effort now; Append and OpenReader retry while it fails (e.g. the
    // NATS cluster has no quorum yet).
    EnsureStream().IgnoreError();
  }
  return absl::OkStatus();
}

absl::Status JetStreamLog::EnsureStream() {
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (stream_ready_) return absl::OkStatus();
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const char* subjects[] = {options_.subject.c_str()};
  config.Name = options_.stream.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = options_.replicas;
  config.Duplicates = absl::ToInt64Nanoseconds(options_.duplicate_window);
  if (options_.max_age.has_value()) {
    config.MaxAge = absl::ToInt64Nanoseconds(*options_.max_age);
  }
  jsStreamInfo* raw_info = nullptr;
  jsErrCode js_error = kNoJsError;
  natsStatus s =
      js_AddStream(&raw_info, js_.get(), &config, nullptr, &js_error);
  std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
  // Exists with another configuration (e.g. created by an operator with
  // other limits): use it as it is, but for the retention when it is set.
  if (s != NATS_OK && js_error != kStreamNameExists) {
    return NatsError(s, js_error,
                     absl::StrCat("creating the stream ", options_.stream));
  }
  if (s != NATS_OK && options_.max_age.has_value()) {
    if (absl::Status u = UpdateMaxAge(*options_.max_age); !u.ok()) return u;
  }
  stream_ready_ = true;
  return absl::OkStatus();
}

absl::Status JetStreamLog::UpdateMaxAge(absl::Duration max_age) {
  jsStreamInfo* raw_info = nullptr;
  jsErrCode js_error = kNoJsError;
  natsStatus s = js_GetStreamInfo(&raw_info, js_.get(), options_.stream.c_str(),
                                  nullptr, &js_error);
  std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
  if (s != NATS_OK)
    return NatsError(s, js_error, "reading the stream's limits");
  const int64_t want = absl::ToInt64Nanoseconds(max_age);
  if (info->Config->MaxAge == want) return absl::OkStatus();
  info->Config->MaxAge = want;
  jsStreamInfo* raw_updated = nullptr;
  s = js_UpdateStream(&raw_updated, js_.get(), info->Config, nullptr,
                      &js_error);
  std::unique_ptr<jsStreamInfo, StreamInfoDeleter> updated(raw_updated);
  if (s != NATS_OK) {
    return NatsError(s, js_error,
                     absl::StrCat("setting the stream's max age to ",
                                  absl::FormatDuration(max_age)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Appended> JetStreamLog::Append(std::string_view id,
                                              std::string_view payload) {
  if (id.empty()) return absl::InvalidArgumentError("empty log entry id");
  if (absl::Status s = CheckConnected(); !s.ok()) return s;
  if (absl::Status s = EnsureStream(); !s.ok()) return s;
  const std::string msg_id(id);
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  pub.MsgId = msg_id.c_str();
  pub.MaxWait = Millis(options_.append_timeout);
  pub.ExpectStream = options_.stream.c_str();
  natsMsg* msg = nullptr;
  natsStatus s =
      natsMsg_Create(&msg, options_.subject.c_str(), nullptr, payload.data(),
                     static_cast<int>(payload.size()));
  if (s != NATS_OK) return NatsError(s, kNoJsError, "appending to the log");
  natsMsg* const key = msg;
  auto waiter = std::make_shared<AckWaiter>();
  {
    // Registered before publishing: the acknowledgement may arrive before
    // js_PublishMsgAsync returns.
    std::lock_guard<std::mutex> lock(acks_mu_);
    acks_[key] = waiter;
  }
  s = js_PublishMsgAsync(js_.get(), &msg, &pub);
  if (s != NATS_OK) {
    {
      std::lock_guard<std::mutex> lock(acks_mu_);
      acks_.erase(key);
    }
    natsMsg_Destroy(msg);  // null when the library kept it
    if (s == NATS_MAX_PAYLOAD) {
      return absl::InvalidArgumentError(absl::StrCat(
          "log entry of ", payload.size(),
          " bytes exceeds NATS's max_payload; send smaller batches"));
    }
    return NatsError(s, kNoJsError, "appending to the log");
  }
  // The library times the publish out after MaxWait and answers OnAck
  // with an error; this bound only covers an answer that never comes
  // (e.g. the connection closed meanwhile).
  const auto deadline = std::chrono::steady_clock::now() +
                        absl::ToChronoMilliseconds(options_.append_timeout) +
                        std::chrono::seconds(1);
  std::unique_lock<std::mutex> lock(waiter->mu);
  if (!waiter->cv.wait_until(lock, deadline,
                             [&waiter] { return waiter->done; })) {
    lock.unlock();
    std::lock_guard<std::mutex> acks_lock(acks_mu_);
    acks_.erase(key);
    return absl::UnavailableError(absl::StrCat(
        "no acknowledgement from JetStream within ",
        absl::FormatDuration(options_.append_timeout),
        "; the entry may or may not be stored: retry with the same id"));
  }
  return waiter->result;
}

absl::StatusOr<std::unique_ptr<LogReader>> JetStreamLog::OpenReader(
    uint64_t from) {
  if (absl::Status s = CheckConnected(); !s.ok()) return s;
  if (absl::Status s = EnsureStream(); !s.ok()) return s;
  {
    jsStreamInfo* raw_info = nullptr;
    jsErrCode js_error = kNoJsError;
    natsStatus s = js_GetStreamInfo(
        &raw_info, js_.get(), options_.stream.c_str(), nullptr, &js_error);
    std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
    if (s != NATS_OK) {
      return NatsError(s, js_error, "reading the stream's state");
    }
    const jsStreamConfig& config = *info->Config;
    const bool limited =
        config.MaxAge > 0 || config.MaxMsgs > 0 || config.MaxBytes > 0;
    const uint64_t first = info->State.FirstSeq;
    if (limited && std::max<uint64_t>(from, 1) < first) {
      return absl::OutOfRangeError(
          absl::StrCat("the log now starts at entry ", first, " (the stream ",
                       options_.stream, " deletes old entries: max age ",
                       absl::FormatDuration(absl::Nanoseconds(config.MaxAge)),
                       "); entries from ", from, " on may be gone"));
    }
  }
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = options_.stream.c_str();
  sub_options.Ordered = true;
  sub_options.Config.DeliverPolicy = js_DeliverByStartSequence;
  sub_options.Config.OptStartSeq = std::max<uint64_t>(from, 1);
  sub_options.Config.Heartbeat = absl::ToInt64Nanoseconds(kReaderHeartbeat);
  natsSubscription* raw_sub = nullptr;
  jsErrCode js_error = kNoJsError;
  natsStatus s = js_SubscribeSync(&raw_sub, js_.get(), options_.subject.c_str(),
                                  nullptr, &sub_options, &js_error);
  if (s != NATS_OK) return NatsError(s, js_error, "subscribing to the log");
  // Flow control bounds what the server sends ahead; these limits only
  // keep the client from declaring a slow consumer during a catch-up.
  natsSubscription_SetPendingLimits(raw_sub, 1 << 20, 1 << 30);
  return std::unique_ptr<LogReader>(new JetStreamReader(raw_sub));
}

absl::StatusOr<uint64_t> JetStreamLog::LastSequence() {
  if (absl::Status s = CheckConnected(); !s.ok()) return s;
  if (absl::Status s = EnsureStream(); !s.ok()) return s;
  jsStreamInfo* raw_info = nullptr;
  jsErrCode js_error = kNoJsError;
  natsStatus s = js_GetStreamInfo(&raw_info, js_.get(), options_.stream.c_str(),
                                  nullptr, &js_error);
  std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
  if (s != NATS_OK) return NatsError(s, js_error, "reading the stream's state");
  return info->State.LastSeq;
}

absl::StatusOr<std::optional<LogEntry>> JetStreamLog::Get(uint64_t sequence) {
  if (absl::Status s = CheckConnected(); !s.ok()) return s;
  if (absl::Status s = EnsureStream(); !s.ok()) return s;
  natsMsg* raw = nullptr;
  jsErrCode js_error = kNoJsError;
  natsStatus s = js_GetMsg(&raw, js_.get(), options_.stream.c_str(), sequence,
                           nullptr, &js_error);
  std::unique_ptr<natsMsg, MsgDeleter> msg(raw);
  if (s == NATS_NOT_FOUND || js_error == kNoMessageFound) return std::nullopt;
  if (s != NATS_OK) {
    return NatsError(s, js_error, absl::StrCat("reading log entry ", sequence));
  }
  LogEntry entry;
  entry.sequence = sequence;
  entry.payload.assign(natsMsg_GetData(msg.get()),
                       static_cast<size_t>(natsMsg_GetDataLength(msg.get())));
  // A message read this way has no JetStream metadata; its time is
  // not needed by the callers (erasure).
  return entry;
}

absl::Status JetStreamLog::Erase(uint64_t sequence) {
  if (absl::Status s = CheckConnected(); !s.ok()) return s;
  if (absl::Status s = EnsureStream(); !s.ok()) return s;
  jsErrCode js_error = kNoJsError;
  natsStatus s = js_EraseMsg(js_.get(), options_.stream.c_str(), sequence,
                             nullptr, &js_error);
  if (s == NATS_OK) return absl::OkStatus();
  // Erased by another node already? JetStream answers that with a generic
  // "delete failed": ask whether the entry is still there.
  absl::StatusOr<std::optional<LogEntry>> still = Get(sequence);
  if (still.ok() && !still->has_value()) return absl::OkStatus();
  return NatsError(s, js_error, absl::StrCat("erasing log entry ", sequence));
}

absl::Status JetStreamLog::Probe(absl::Duration timeout) {
  if (absl::Status s = CheckConnected(); !s.ok()) return s;
  const std::string stream = options_.stream + "_PROBE";
  const std::string subject = "aisle.probe." + options_.stream;
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = Millis(timeout);
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (!probe_ready_) {
      jsStreamConfig config;
      jsStreamConfig_Init(&config);
      const char* subjects[] = {subject.c_str()};
      config.Name = stream.c_str();
      config.Subjects = subjects;
      config.SubjectsLen = 1;
      config.Storage = js_MemoryStorage;
      config.Replicas = options_.replicas;
      config.MaxMsgs = 8;
      config.Discard = js_DiscardOld;
      jsStreamInfo* raw_info = nullptr;
      jsErrCode js_error = kNoJsError;
      natsStatus s =
          js_AddStream(&raw_info, js_.get(), &config, &js_options, &js_error);
      std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
      if (s != NATS_OK && js_error != kStreamNameExists) {
        return NatsError(s, js_error, "creating the probe stream " + stream);
      }
      probe_ready_ = true;
    }
  }
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  pub.MaxWait = Millis(timeout);
  pub.ExpectStream = stream.c_str();
  jsPubAck* raw_ack = nullptr;
  jsErrCode js_error = kNoJsError;
  natsStatus s = js_Publish(&raw_ack, js_.get(), subject.c_str(), "p", 1, &pub,
                            &js_error);
  jsPubAck_Destroy(raw_ack);
  if (s != NATS_OK) {
    return NatsError(s, js_error, "probing the log (no JetStream quorum?)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseServerList(
    std::string_view list) {
  std::vector<std::string> servers;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(list.data(), list.size()), ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty() || !absl::StartsWith(part, "nats://") ||
        part.size() == 7) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected comma-separated nats://host:port URLs, got \"",
                       part, "\""));
    }
    servers.emplace_back(part);
  }
  return servers;
}

absl::StatusOr<std::unique_ptr<EventLog>> ConnectJetStream(
    const LogOptions& options) {
  if (options.servers.empty()) {
    return absl::InvalidArgumentError("no NATS server given");
  }
  if (options.stream.empty() || options.subject.empty()) {
    return absl::InvalidArgumentError("empty stream or subject name");
  }
  auto log = std::make_unique<JetStreamLog>(options);
  if (absl::Status s = log->Connect(); !s.ok()) return s;
  return std::unique_ptr<EventLog>(std::move(log));
}

}  // namespace aisle::cluster
