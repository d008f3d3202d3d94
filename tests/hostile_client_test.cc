// The API as a careless or hostile client sees it: requests that are not
// valid messages, malformed message frames, broken ImportEvents streams and
// over-limit lists, sent as raw HTTP/2 where no gRPC library would send
// them (raw_grpc.h). Each answer must be the documented status code, and
// nothing may be stored silently or dropped silently.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/raw_grpc.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kService[] = "/aisle.v1.Recommender/";

// Protobuf wire bytes: field `number` as a length-delimited value.
std::string Field(int number, const std::string& value) {
  std::string out;
  out.push_back(static_cast<char>(number << 3 | 2));
  out.push_back(static_cast<char>(value.size()));  // values < 128 bytes here
  return out + value;
}

const std::string kBadUtf8("\xff\xfe", 2);

v1::Event MakeEvent(const std::string& id, const std::string& user) {
  v1::Event e;
  e.set_event_id(id);
  e.set_user_id(user);
  e.set_item_id("i1");
  e.set_type(v1::PURCHASE);
  return e;
}

std::string Batch(const std::vector<v1::Event>& events) {
  v1::FeedbackRequest request;
  for (const v1::Event& e : events) *request.add_events() = e;
  return request.SerializeAsString();
}

class HostileClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
    config.metrics_port = 0;
    absl::StatusOr<TestServer> server = StartTestServer(config);
    ASSERT_OK(server);
    server_ = *std::move(server);
    port_ = server_.server->port();
  }

  absl::StatusOr<RawGrpcResponse> Call(const std::string& method,
                                       std::string body) {
    return RawGrpcCall(port_, kService + method, std::move(body));
  }

  // Whether the server knows the user (GetUser is OK, not NOT_FOUND).
  bool UserExists(const std::string& user) {
    v1::GetUserRequest request;
    request.set_user_id(user);
    v1::UserProfile profile;
    auto ctx = ContextWithDeadline();
    return server_.stub->GetUser(ctx.get(), request, &profile).ok();
  }

  double Metric(const std::string& series) {
    absl::StatusOr<std::string> body =
        HttpGet(server_.server->metrics_port(), "/metrics");
    EXPECT_OK(body);
    if (!body.ok()) return -1;
    std::map<std::string, double> samples = ParseMetricSamples(*body);
    auto it = samples.find(series);
    return it == samples.end() ? 0 : it->second;
  }

  TempDir dir_;
  TestServer server_;
  int port_ = 0;
};

TEST_F(HostileClientTest, UnparsableRequestsAreInvalidArgumentNamingTheField) {
  struct Case {
    std::string method;
    std::string body;  // the whole DATA payload, framed
    std::string message;
  };
  const std::string truncated = Field(1, "abcde").substr(0, 4);
  const std::vector<Case> cases = {
      {"Recommend", GrpcMessageFrame(Field(1, kBadUtf8)),
       "request could not be parsed: user_id: string is not valid UTF-8 "
       "(byte 0xff at offset 0)"},
      {"Feedback",
       GrpcMessageFrame(Field(1, Field(3, "i1")) +
                        Field(1, Field(2, "u" + kBadUtf8))),
       "request could not be parsed: events[1].user_id: string is not valid "
       "UTF-8 (byte 0xff at offset 1)"},
      {"UpsertItems", GrpcMessageFrame(Field(1, Field(2, kBadUtf8))),
       "request could not be parsed: items[0].title: string is not valid"},
      {"DeleteItems", GrpcMessageFrame(Field(1, "ok") + Field(1, kBadUtf8)),
       "request could not be parsed: item_ids[1]: string is not valid"},
      {"GetItem", GrpcMessageFrame(truncated),
       "request could not be parsed: item_id: truncated: length 5 but 2 "
       "bytes left"},
      {"GetUser", GrpcMessageFrame(Field(1, kBadUtf8)),
       "request could not be parsed: user_id: string is not valid UTF-8"},
      {"DeleteUser", GrpcMessageFrame(Field(1, kBadUtf8)),
       "request could not be parsed: user_id: string is not valid UTF-8"},
      {"GetModelInfo", GrpcMessageFrame(truncated),
       "request could not be parsed: field 1: truncated"},
      {"ListModels", GrpcMessageFrame(std::string("\x0f", 1)),
       "request could not be parsed: field 1: invalid wire type 7"},
      {"ActivateModel", GrpcMessageFrame(Field(1, kBadUtf8)),
       "request could not be parsed: version: string is not valid UTF-8"},
      // A length prefix that promises more bytes than the stream carries.
      {"GetUser", GrpcMessageFrame(Field(1, "u1"), 0, 100),
       "request could not be parsed: no complete message arrived"},
      // No message at all.
      {"Feedback", "", "request could not be parsed: no complete message"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + ": " + c.message);
    absl::StatusOr<RawGrpcResponse> r = Call(c.method, c.body);
    ASSERT_OK(r);
    EXPECT_EQ(r->http_status, 200);
    EXPECT_EQ(r->grpc_status, grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(r->grpc_message, HasSubstr(c.message));
  }
  EXPECT_EQ(
      Metric(R"(aisle_rpc_unparsable_requests_total{method="Recommend"})"), 1);
  EXPECT_EQ(Metric(R"(aisle_rpc_unparsable_requests_total{method="Feedback"})"),
            2);
  EXPECT_EQ(
      Metric(
          R"(aisle_grpc_requests_total{code="INVALID_ARGUMENT",method="GetItem"})"),
      1);
  // Recommend too, like every method, answers a call that brought no
  // complete message itself, naming what was missing.
  absl::StatusOr<RawGrpcResponse> incomplete =
      Call("Recommend", GrpcMessageFrame(Field(1, "u1"), 0, 100));
  ASSERT_OK(incomplete);
  EXPECT_EQ(incomplete->grpc_status, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(incomplete->grpc_message,
              HasSubstr("request could not be parsed: no complete message "
                        "arrived"));
  EXPECT_EQ(
      Metric(R"(aisle_rpc_unparsable_requests_total{method="Recommend"})"), 2);
  // A valid request over the same raw path still works.
  absl::StatusOr<RawGrpcResponse> ok =
      Call("Recommend", GrpcMessageFrame(Field(1, "u1")));
  ASSERT_OK(ok);
  EXPECT_EQ(ok->grpc_status, grpc::StatusCode::OK);
  v1::RecommendResponse response;
  ASSERT_GE(ok->data.size(), 5u);
  EXPECT_TRUE(response.ParseFromString(ok->data.substr(5)));
  EXPECT_FALSE(response.recommendation_id().empty());
}

TEST_F(HostileClientTest, ImportEventsReportsAnUnparsableBatchAndGoesOn) {
  const std::string body =
      GrpcMessageFrame(Batch({MakeEvent("a1", "ua"), MakeEvent("a2", "ua")})) +
      GrpcMessageFrame(Field(1, Field(2, kBadUtf8))) +
      GrpcMessageFrame(Batch({MakeEvent("c1", "uc"), MakeEvent("c2", "uc")}));
  absl::StatusOr<RawGrpcResponse> r = Call("ImportEvents", body);
  ASSERT_OK(r);
  ASSERT_EQ(r->grpc_status, grpc::StatusCode::OK) << r->grpc_message;
  v1::ImportEventsResponse response;
  ASSERT_GE(r->data.size(), 5u);
  ASSERT_TRUE(response.ParseFromString(r->data.substr(5)));
  EXPECT_EQ(response.accepted(), 4);
  EXPECT_EQ(response.rejected_batches(), 1);
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_THAT(response.errors(0),
              HasSubstr("batch 1: request could not be parsed: "
                        "events[0].user_id: string is not valid UTF-8"));
  EXPECT_TRUE(UserExists("uc"));  // the batch after the bad one is stored
  EXPECT_EQ(
      Metric(R"(aisle_rpc_unparsable_requests_total{method="ImportEvents"})"),
      1);
}

TEST_F(HostileClientTest,
       ImportEventsEmptyBatchEndsTheStreamSayingWhatWasStored) {
  auto ctx = ContextWithDeadline();
  v1::ImportEventsResponse response;
  auto writer = server_.stub->ImportEvents(ctx.get(), &response);
  v1::FeedbackRequest batch;
  *batch.add_events() = MakeEvent("a1", "ua");
  *batch.add_events() = MakeEvent("a2", "ua");
  EXPECT_TRUE(writer->Write(batch));
  writer->Write(v1::FeedbackRequest());  // may fail once the server ended
  batch.clear_events();
  *batch.add_events() = MakeEvent("c1", "uc");
  writer->Write(batch);
  writer->WritesDone();
  EXPECT_THAT(
      FromGrpc(writer->Finish()),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("batch 1: events: must have 1..1000 entries, "
                          "got 0"),
                HasSubstr("accepted 2"), HasSubstr("Resend from batch 1 on"))));
  EXPECT_TRUE(UserExists("ua"));
  EXPECT_FALSE(UserExists("uc"));
}

// gRPC 1.51 does not reject a message whose compressed-flag byte is not 0
// or 1: grpc_chttp2_maybe_complete_recv_message (chttp2_transport.cc)
// drops the "Bad GRPC frame type" error of
// grpc_deframe_unprocessed_incoming_frames (frame_data.cc) and delivers
// the message as empty, then drops the rest of the stream (upstream
// grpc/grpc issue 32257). The server cannot see the flag; it must not run
// such a frame as the request it carries.
TEST_F(HostileClientTest,
       InvalidCompressedFlagIsNeverRunAsTheRequestItCarries) {
  for (uint8_t flag : {2, 0x7f, 0xff}) {
    SCOPED_TRACE(absl::StrCat("flag ", flag));
    absl::StatusOr<RawGrpcResponse> fed = Call(
        "Feedback", GrpcMessageFrame(Batch({MakeEvent("f1", "uf")}), flag));
    ASSERT_OK(fed);
    EXPECT_NE(fed->grpc_status, grpc::StatusCode::OK);
    EXPECT_FALSE(UserExists("uf"));

    const std::string body =
        GrpcMessageFrame(Batch({MakeEvent("a1", "ua")})) +
        GrpcMessageFrame(Batch({MakeEvent("b1", "ub")}), flag) +
        GrpcMessageFrame(Batch({MakeEvent("c1", "uc")}));
    absl::StatusOr<RawGrpcResponse> imported = Call("ImportEvents", body);
    ASSERT_OK(imported);
    EXPECT_EQ(imported->grpc_status, grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(imported->grpc_message, HasSubstr("Resend from batch 1 on"));
    EXPECT_FALSE(UserExists("ub"));
    EXPECT_FALSE(UserExists("uc"));
  }
  // Pins the library behaviour the proto's "Message framing" note
  // describes: the frame reaches Recommend as an empty (valid) request and
  // is answered, or, when the transport's error wins the race with the
  // message (about 1 run in 3 here), the async API ends the call INTERNAL.
  // Either way it is not run as the request it carries, and nothing else
  // is answered. If this fails after a gRPC upgrade, gRPC now handles the
  // frame differently: update that note and this expectation.
  absl::StatusOr<RawGrpcResponse> recommend =
      Call("Recommend", GrpcMessageFrame(Field(1, "u1"), 2));
  ASSERT_OK(recommend);
  EXPECT_THAT(
      recommend->grpc_status,
      ::testing::AnyOf(grpc::StatusCode::OK, grpc::StatusCode::INTERNAL));
}

TEST_F(HostileClientTest, OverLimitListsAreInvalidArgumentNamingTheField) {
  auto recommend = [&](const v1::RecommendRequest& request) {
    v1::RecommendResponse response;
    auto ctx = ContextWithDeadline();
    return FromGrpc(server_.stub->Recommend(ctx.get(), request, &response));
  };
  v1::RecommendRequest context;
  context.set_scenario(v1::SIMILAR_ITEMS);
  for (int i = 0; i < 101; ++i) context.add_context_item_ids("i");
  EXPECT_THAT(recommend(context),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("context_item_ids: at most 100")));
  v1::RecommendRequest categories;
  for (int i = 0; i < 101; ++i) {
    categories.mutable_filter()->add_exclude_categories("c");
  }
  EXPECT_THAT(recommend(categories),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("filter.exclude_categories: at most 100")));
  v1::RecommendRequest excluded;
  for (int i = 0; i < 1001; ++i) {
    excluded.mutable_filter()->add_exclude_item_ids("i");
  }
  EXPECT_THAT(recommend(excluded),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("filter.exclude_item_ids: at most 1000")));

  v1::FeedbackRequest feedback;
  for (int i = 0; i < 1001; ++i) {
    *feedback.add_events() = MakeEvent(absl::StrCat("e", i), "u");
  }
  v1::FeedbackResponse fed;
  auto ctx = ContextWithDeadline();
  EXPECT_THAT(FromGrpc(server_.stub->Feedback(ctx.get(), feedback, &fed)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "events: must have 1..1000 entries, got 1001"));
  v1::DeleteItemsRequest deletes;
  for (int i = 0; i < 1001; ++i) deletes.add_item_ids("i");
  v1::DeleteItemsResponse deleted;
  ctx = ContextWithDeadline();
  EXPECT_THAT(FromGrpc(server_.stub->DeleteItems(ctx.get(), deletes, &deleted)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "item_ids: must have 1..1000 entries, got 1001"));
}

}  // namespace
}  // namespace aisle::testing
