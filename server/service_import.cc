// RecommenderService::ImportEvents: the client-streaming bulk load, as a
// read reactor (service.h describes the service).
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "server/service.h"
#include "server/validation.h"

namespace aisle::server {

// Reads messages one at a time; each is validated event by event (bad ones
// are counted and reported, not stored) and committed before the next read,
// so an interrupted stream keeps what was acknowledged by storage.
class RecommenderService::ImportReactor
    : public grpc::ServerReadReactor<v1::FeedbackRequest> {
 public:
  ImportReactor(RecommenderService* service, grpc::CallbackServerContext& ctx,
                v1::ImportEventsResponse* response)
      : service_(service), response_(response), start_ns_(core::SteadyNanos()) {
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
    StartRead(&batch_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // client half-closed (or the call broke): report totals
      FinishWith(absl::OkStatus());
      return;
    }
    absl::Status status = ProcessBatch();
    ++batch_index_;
    if (!status.ok()) {
      FinishWith(status);
      return;
    }
    StartRead(&batch_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status ProcessBatch() {
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    const int size = batch_.events_size();
    if (absl::Status s = ValidateImportBatchSize(size); !s.ok()) {
      response_->set_rejected(response_->rejected() + size);
      AddError(s);
      return absl::OkStatus();
    }
    std::vector<core::Event> valid;
    valid.reserve(size);
    for (int i = 0; i < size; ++i) {
      absl::StatusOr<core::Event> event =
          ToValidEvent(batch_.events(i), i, now_ms);
      if (!event.ok()) {
        response_->set_rejected(response_->rejected() + 1);
        AddError(event.status());
        continue;
      }
      valid.push_back(*std::move(event));
    }
    if (valid.empty()) return absl::OkStatus();
    absl::StatusOr<EventsStored> stored =
        service_->units_.writes->AddEvents(std::move(valid), now_ms);
    if (!stored.ok()) return stored.status();
    response_->set_accepted(response_->accepted() + stored->accepted);
    response_->set_duplicates(response_->duplicates() + stored->duplicates);
    return absl::OkStatus();
  }

  // The response keeps the first 100 errors.
  void AddError(const absl::Status& error) {
    if (response_->errors_size() >= 100) return;
    response_->add_errors(
        absl::StrCat("batch ", batch_index_, ": ", error.message()));
  }

  void FinishWith(const absl::Status& status) {
    Finish(service_->FinishCall(Method::kImportEvents, start_ns_, status, ""));
    permit_ = AdmissionLimiter::Permit();  // the work is done
  }

  RecommenderService* const service_;
  v1::ImportEventsResponse* const response_;
  const int64_t start_ns_;
  v1::FeedbackRequest batch_;
  int batch_index_ = 0;
  AdmissionLimiter::Permit permit_;
};

grpc::ServerReadReactor<v1::FeedbackRequest>* RecommenderService::ImportEvents(
    grpc::CallbackServerContext* ctx, v1::ImportEventsResponse* response) {
  return new ImportReactor(this, *ctx, response);
}

}  // namespace aisle::server
