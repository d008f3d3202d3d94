// RecommenderService::ImportEvents: the client-streaming bulk load, as a
// read reactor (service.h describes the service).
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "server/raw_messages.h"
#include "server/service.h"
#include "server/validation.h"

namespace aisle::server {

// Reads messages one at a time, as bytes, and parses each itself: gRPC's
// typed reader reports a message it cannot parse exactly as it reports the
// end of the stream (OnReadDone(false)), which would end the import with
// OK and silently drop the rest. Each batch is validated event by event
// (bad ones are counted and reported, not stored) and committed before the
// next read, so an interrupted stream keeps what was acknowledged by
// storage.
//
// What ends the stream early, with an error status whose message says
// which batches were committed: a storage error, and an empty batch. An
// empty batch is never what a client means, and gRPC 1.51 delivers a
// message frame it cannot decode (a compressed-flag byte other than 0 or
// 1) as an empty message and then drops the rest of the stream (grpc/grpc
// issue 32257: grpc_chttp2_maybe_complete_recv_message drops the
// deframing error): continuing would answer OK for a stream whose tail was
// never read.
class RecommenderService::ImportReactor
    : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  ImportReactor(RecommenderService* service, grpc::CallbackServerContext& ctx,
                grpc::ByteBuffer* response)
      : service_(service),
        ctx_(ctx),
        wire_response_(response),
        start_ns_(core::SteadyNanos()) {
    service_->units_.metrics->RpcStarted(Method::kImportEvents);
    if (absl::Status admitted =
            service_->AdmitCall(ctx, Method::kImportEvents, &permit_);
        !admitted.ok()) {
      FinishWith(admitted);
      return;
    }
    // A stream lasts as long as the client sends: its duration says
    // nothing about the server's load.
    permit_.SkipSample();
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed, or the call broke (then nobody hears the
      // answer).
      FinishWith(ctx_.IsCancelled()
                     ? absl::CancelledError("the client cancelled the import")
                     : absl::OkStatus());
      return;
    }
    if (absl::Status status = ProcessMessage(); !status.ok()) {
      FinishWith(WithProgress(status));
      return;
    }
    ++batch_index_;
    StartRead(&message_);
  }

  void OnDone() override { delete this; }

 private:
  // OK to read on; an error ends the stream.
  absl::Status ProcessMessage() {
    if (absl::Status parsed = ParseMessage(&message_, &batch_); !parsed.ok()) {
      service_->units_.metrics->Unparsable(Method::kImportEvents);
      response_.set_rejected_batches(response_.rejected_batches() + 1);
      AddError(parsed);
      return absl::OkStatus();
    }
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    const int size = batch_.events_size();
    if (absl::Status s = ValidateBatchSize(size, "events"); !s.ok()) {
      response_.set_rejected_batches(response_.rejected_batches() + 1);
      if (size == 0) return s;  // see the class comment
      response_.set_rejected(response_.rejected() + size);
      AddError(s);
      return absl::OkStatus();
    }
    std::vector<core::Event> valid;
    std::vector<int> index_in_batch;
    valid.reserve(size);
    for (int i = 0; i < size; ++i) {
      absl::StatusOr<core::Event> event =
          ToValidEvent(batch_.events(i), i, now_ms);
      if (!event.ok()) {
        response_.set_rejected(response_.rejected() + 1);
        AddError(event.status());
        continue;
      }
      valid.push_back(*std::move(event));
      index_in_batch.push_back(i);
    }
    if (valid.empty()) return absl::OkStatus();
    absl::StatusOr<EventsStored> stored = service_->units_.writes->AddEvents(
        std::move(valid), now_ms, storage::Store::OnIdConflict::kSkipConflicts);
    if (!stored.ok()) return stored.status();
    for (size_t conflict : stored->conflicts) {
      const int i = index_in_batch[conflict];
      response_.set_rejected(response_.rejected() + 1);
      AddError(EventIdConflict(absl::StrCat("events[", i, "]"),
                               batch_.events(i).event_id()));
    }
    response_.set_accepted(response_.accepted() + stored->accepted);
    response_.set_duplicates(response_.duplicates() + stored->duplicates);
    return absl::OkStatus();
  }

  // The response keeps the first 100 errors.
  void AddError(const absl::Status& error) {
    if (response_.errors_size() >= 100) return;
    response_.add_errors(
        absl::StrCat("batch ", batch_index_, ": ", error.message()));
  }

  // An error status carries no response message: its message says what
  // the stream committed before batch_index_ (the failed batch), so that
  // the client can resume.
  absl::Status WithProgress(const absl::Status& status) const {
    return absl::Status(
        status.code(),
        absl::StrCat("batch ", batch_index_, ": ", status.message(),
                     "; the stream stopped there. Batches before it were "
                     "committed: accepted ",
                     response_.accepted(), ", duplicates ",
                     response_.duplicates(), ", rejected ",
                     response_.rejected(), " events, rejected batches ",
                     response_.rejected_batches(), ". Resend from batch ",
                     batch_index_, " on."));
  }

  void FinishWith(absl::Status status) {
    if (status.ok()) status = SerializeMessage(response_, wire_response_);
    Finish(service_->FinishCall(Method::kImportEvents, start_ns_, status, ""));
    permit_ = AdmissionLimiter::Permit();  // the work is done
  }

  RecommenderService* const service_;
  grpc::CallbackServerContext& ctx_;
  grpc::ByteBuffer* const wire_response_;
  const int64_t start_ns_;
  grpc::ByteBuffer message_;
  v1::FeedbackRequest batch_;
  v1::ImportEventsResponse response_;
  int batch_index_ = 0;  // of the message being processed
  AdmissionLimiter::Permit permit_;
};

grpc::ServerReadReactor<grpc::ByteBuffer>* RecommenderService::ImportEvents(
    grpc::CallbackServerContext* ctx, grpc::ByteBuffer* response) {
  return new ImportReactor(this, *ctx, response);
}

}  // namespace aisle::server
