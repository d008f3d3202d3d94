// RecommenderService's segment RPCs (service.h describes the service):
// ListSegments, a unary read, and ExportSegment, a server-streaming write
// reactor that sends a segment's user ids page by page.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "server/convert.h"
#include "server/raw_messages.h"
#include "server/service.h"
#include "server/validation.h"

namespace aisle::server {
namespace {

// Here rather than in convert.h, which stays free of core/engine.h (and
// Eigen) for the request fuzzer that links core_types only.
void ToProtoSegments(const core::Engine::SegmentList& list,
                     v1::ListSegmentsResponse* proto) {
  proto->set_model_version(list.model_version);
  for (const core::Engine::SegmentSummary& s : list.segments) {
    v1::Segment* out = proto->add_segments();
    out->set_id(s.info.id);
    out->set_label(s.info.label);
    out->set_members(s.members);
    out->set_trained_members(s.info.users);
    for (const auto& [category, share] : s.info.top_categories) {
      v1::CategoryWeight* c = out->add_top_categories();
      c->set_category(category);
      c->set_share(share);
    }
    out->set_price_band(s.info.price_band);
    for (const std::string& id : s.info.top_items) out->add_top_item_ids(id);
  }
}

}  // namespace

// The members are computed once, when the call arrives (the engine walks
// every user: core::Engine::SegmentMembers), then sent one page per write;
// the next page is serialized only when the previous write completed, so
// a slow client holds one page of bytes, not the whole list. An error
// (validation, unknown segment, no segments) is the call's status, before
// any message.
class RecommenderService::ExportReactor
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  ExportReactor(RecommenderService* service, grpc::CallbackServerContext& ctx,
                const grpc::ByteBuffer* request)
      : service_(service), start_ns_(core::SteadyNanos()) {
    service_->units_.metrics->RpcStarted(Method::kExportSegment);
    AdmissionLimiter::Permit permit;  // held while the members are found
    absl::Status status =
        service_->AdmitCall(ctx, Method::kExportSegment, &permit);
    if (status.ok()) status = Prepare(request);
    if (!status.ok()) {
      FinishWith(status);
      return;
    }
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {  // the client went away; nobody hears the answer
      FinishWith(absl::CancelledError("the client cancelled the export"));
      return;
    }
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Prepare(const grpc::ByteBuffer* request) {
    v1::ExportSegmentRequest parsed;
    if (absl::Status s = ParseMessage(request, &parsed); !s.ok()) {
      service_->units_.metrics->Unparsable(Method::kExportSegment);
      return s;
    }
    if (absl::Status s =
            ValidateExportSegment(parsed.segment_id(), parsed.page_size());
        !s.ok()) {
      return s;
    }
    page_size_ = parsed.page_size() > 0 ? parsed.page_size() : 1000;
    absl::StatusOr<std::vector<std::string>> members =
        service_->units_.engine->SegmentMembers(parsed.segment_id());
    if (!members.ok()) return members.status();
    members_ = *std::move(members);
    std::sort(members_.begin(), members_.end());  // stable pages
    const auto model = service_->units_.engine->model();
    if (model != nullptr) model_version_ = model->version();
    return absl::OkStatus();
  }

  // Sends the next page, or finishes when all were sent (an empty
  // segment sends nothing and finishes OK).
  void WriteNext() {
    if (next_ >= members_.size()) {
      FinishWith(absl::OkStatus());
      return;
    }
    v1::ExportSegmentResponse page;
    page.set_model_version(model_version_);
    const size_t end = std::min(members_.size(), next_ + page_size_);
    for (; next_ < end; ++next_) page.add_user_ids(members_[next_]);
    buffer_.Clear();  // gRPC serializes only into an empty buffer
    if (absl::Status s = SerializeMessage(page, &buffer_); !s.ok()) {
      FinishWith(s);
      return;
    }
    StartWrite(&buffer_);
  }

  void FinishWith(const absl::Status& status) {
    Finish(service_->FinishCall(Method::kExportSegment, start_ns_, status, ""));
  }

  RecommenderService* const service_;
  const int64_t start_ns_;
  size_t page_size_ = 1000;
  std::vector<std::string> members_;
  std::string model_version_;
  size_t next_ = 0;
  grpc::ByteBuffer buffer_;
};

grpc::ServerWriteReactor<grpc::ByteBuffer>* RecommenderService::ExportSegment(
    Context* ctx, const Bytes* request) {
  return new ExportReactor(this, *ctx, request);
}

void RecommenderService::HandleListSegments(Context* ctx,
                                            const v1::ListSegmentsRequest*,
                                            v1::ListSegmentsResponse* response,
                                            UnaryCall* call) {
  Unary(ctx, call, Method::kListSegments, "", [this, response] {
    absl::StatusOr<core::Engine::SegmentList> list =
        units_.engine->ListSegments();
    if (!list.ok()) return list.status();
    ToProtoSegments(*list, response);
    return absl::OkStatus();
  });
}

}  // namespace aisle::server
