// Request bytes through the path the service takes: the raw parser
// (server/raw_messages: ParseMessage, and DescribeParseFailure when
// protobuf refuses the bytes), the converters (server/convert) and the
// request rules (server/validation). The first byte picks the
// request type, the rest is the message as it arrives on the wire.
//
// Checked beyond "no crash, no out-of-bounds read, no UB, no hang": every
// refusal is INVALID_ARGUMENT with a message (clients act on both), and a
// valid event or item converts to the proto and back unchanged (what
// GetItem and GetUser answer is what was stored).
//
// AISLE_FUZZ_WRITE_SEEDS=DIR writes one valid request of each type into
// DIR (how fuzz/corpus/requests/ was made) and exits.
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "aisle/v1/recommender.pb.h"
#include "fuzz_util.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/convert.h"
#include "server/raw_messages.h"
#include "server/validation.h"

namespace aisle::server {
namespace {

constexpr int64_t kNowMs = 1'750'000'000'000;

void Check(bool condition) {
  if (!condition) std::abort();
}

// A refusal as the client sees it.
void CheckRefusal(const absl::Status& status) {
  if (status.ok()) return;
  Check(absl::IsInvalidArgument(status));
  Check(!status.message().empty());
}

absl::Status Parse(std::string_view bytes, google::protobuf::Message* m) {
  grpc::Slice slice(bytes.data(), bytes.size());
  grpc::ByteBuffer buffer(&slice, 1);
  absl::Status status = ParseMessage(&buffer, m);
  // The field walker also runs on bytes protobuf accepts (the service
  // only calls it on refused ones, which libFuzzer finds less often).
  if (status.ok()) (void)DescribeParseFailure(*m->GetDescriptor(), bytes);
  if (!status.ok()) {
    Check(absl::StartsWith(status.message(), "request could not be parsed: "));
  }
  CheckRefusal(status);
  return status;
}

void Events(const v1::FeedbackRequest& request) {
  CheckRefusal(ValidateBatchSize(request.events_size(), "events"));
  for (int i = 0; i < request.events_size(); ++i) {
    const core::Event event = ToCoreEvent(request.events(i));
    absl::Status status =
        ValidateEvent(event, kNowMs, absl::StrCat("events[", i, "]"));
    CheckRefusal(status);
    if (!status.ok()) continue;
    v1::Event back;
    ToProtoEvent(event, &back);
    const core::Event again = ToCoreEvent(back);
    Check(again.event_id == event.event_id && again.user_id == event.user_id &&
          again.item_id == event.item_id && again.type == event.type &&
          again.timestamp_ms == event.timestamp_ms &&
          again.recommendation_id == event.recommendation_id);
  }
}

void Items(const v1::UpsertItemsRequest& request) {
  CheckRefusal(ValidateBatchSize(request.items_size(), "items"));
  for (int i = 0; i < request.items_size(); ++i) {
    const core::Item item = ToCoreItem(request.items(i));
    absl::Status status = ValidateItem(item, absl::StrCat("items[", i, "]"));
    CheckRefusal(status);
    if (!status.ok()) continue;
    v1::Item back;
    ToProtoItem(item, &back);
    const core::Item again = ToCoreItem(back);
    Check(again.item_id == item.item_id && again.title == item.title &&
          again.categories == item.categories && again.tags == item.tags &&
          again.attributes == item.attributes &&
          again.available == item.available);
  }
}

// A request whose only rule is one id field.
template <typename Request>
void OneId(std::string_view bytes, const std::string& (Request::*id)() const,
           std::string_view field) {
  Request request;
  if (Parse(bytes, &request).ok())
    CheckRefusal(ValidateId((request.*id)(), field));
}

void OneInput(uint8_t kind, std::string_view bytes) {
  switch (kind % 8) {
    case 0: {
      v1::RecommendRequest request;
      if (!Parse(bytes, &request).ok()) return;
      CheckRefusal(ValidateRecommendRequest(ToCoreRecommendRequest(request)));
      return;
    }
    case 1: {  // Feedback, and each message of an ImportEvents stream
      v1::FeedbackRequest request;
      if (Parse(bytes, &request).ok()) Events(request);
      return;
    }
    case 2: {
      v1::UpsertItemsRequest request;
      if (Parse(bytes, &request).ok()) Items(request);
      return;
    }
    case 3: {
      v1::DeleteItemsRequest request;
      if (!Parse(bytes, &request).ok()) return;
      CheckRefusal(ValidateBatchSize(request.item_ids_size(), "item_ids"));
      for (int i = 0; i < request.item_ids_size(); ++i) {
        CheckRefusal(
            ValidateId(request.item_ids(i), absl::StrCat("item_ids[", i, "]")));
      }
      return;
    }
    case 4:
      OneId(bytes, &v1::GetItemRequest::item_id, "item_id");
      return;
    case 5:
      OneId(bytes, &v1::GetUserRequest::user_id, "user_id");
      return;
    case 6:
      OneId(bytes, &v1::DeleteUserRequest::user_id, "user_id");
      return;
    case 7: {
      v1::ActivateModelRequest request;
      if (Parse(bytes, &request).ok()) {
        CheckRefusal(
            ValidateActivateModel(request.version(), request.rollback()));
      }
      return;
    }
  }
}

void WriteSeed(const std::string& dir, const std::string& name, char kind,
               const google::protobuf::Message& message) {
  std::ofstream(dir + "/" + name, std::ios::binary)
      << kind << message.SerializeAsString();
}

void WriteSeeds(const std::string& dir) {
  v1::RecommendRequest recommend;
  recommend.set_user_id("u1");
  recommend.set_count(5);
  recommend.set_scenario(v1::SIMILAR_ITEMS);
  recommend.add_context_item_ids("i1");
  recommend.set_diversity(0.3);
  recommend.mutable_filter()->add_include_categories("fashion/shoes");
  recommend.mutable_filter()->add_exclude_item_ids("i2");
  WriteSeed(dir, "recommend", 0, recommend);
  v1::FeedbackRequest feedback;
  v1::Event* e = feedback.add_events();
  e->set_event_id("e1");
  e->set_user_id("u1");
  e->set_item_id("i1");
  e->set_type(v1::PURCHASE);
  e->set_value(2);
  e->set_timestamp_ms(kNowMs - 1000);
  e->set_recommendation_id("r2-1-default-1-0123456789abcdef-u-00");
  v1::Event* rating = feedback.add_events();
  rating->set_user_id("u2");
  rating->set_item_id("i2");
  rating->set_type(v1::RATING);
  rating->set_value(4.5);
  WriteSeed(dir, "feedback", 1, feedback);
  v1::UpsertItemsRequest upsert;
  v1::Item* item = upsert.add_items();
  item->set_item_id("i1");
  item->set_title("Shoe");
  item->add_categories("fashion/shoes");
  item->add_tags("red");
  item->set_price(59.5);
  item->set_available(true);
  (*item->mutable_attributes())["brand"] = "x";
  WriteSeed(dir, "upsert_items", 2, upsert);
  v1::DeleteItemsRequest del;
  del.add_item_ids("i1");
  WriteSeed(dir, "delete_items", 3, del);
  v1::GetItemRequest get_item;
  get_item.set_item_id("i1");
  WriteSeed(dir, "get_item", 4, get_item);
  v1::GetUserRequest get_user;
  get_user.set_user_id("u1");
  WriteSeed(dir, "get_user", 5, get_user);
  v1::DeleteUserRequest delete_user;
  delete_user.set_user_id("u1");
  WriteSeed(dir, "delete_user", 6, delete_user);
  v1::ActivateModelRequest activate;
  activate.set_version("v1");
  WriteSeed(dir, "activate_model", 7, activate);
}

}  // namespace
}  // namespace aisle::server

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return aisle::fuzz::WriteSeedsIfAsked(&aisle::server::WriteSeeds);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return aisle::fuzz::SplitFirstByte(data, size, &aisle::server::OneInput);
}
