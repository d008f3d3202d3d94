// The console's Segments page API (GET /api/segments, POST
// /api/segments/users; docs/console.md) over real HTTP on loopback,
// against a real server with bearer tokens and a model trained with
// segments by the `aisle` binary (the way an operator does it): answers
// compared with ListSegments, GetItem and ExportSegment over gRPC, the
// roles and CSRF refusals, the service's own validation, and the answer
// for a model without segments.
#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/console_client.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

constexpr char kReadToken[] = "segments-read-token-0123456789";
constexpr char kAdminToken[] = "segments-admin-token-0123456789";
constexpr int kGroups = 3;
constexpr int kUsersPerGroup = 10;
constexpr int kItemsPerGroup = 8;

class ConsoleSegmentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tokens = dir_.Sub("tokens");
    std::ofstream(tokens) << "read " << kReadToken << "\nadmin " << kAdminToken
                          << "\n";
    server::ServerConfig config = TestServerConfig(dir_.Sub("data"));
    config.auth_tokens_file = tokens;
    config.console_port = 0;
    config.console_sample_interval_ms = -1;
    ASSERT_OK_AND_ASSIGN(server_, StartTestServer(config));
    ASSERT_OK_AND_ASSIGN(
        console_, ConsoleClient::Connect(server_.server->console_port()));
    Seed();
  }

  std::unique_ptr<grpc::ClientContext> Admin() {
    return ContextWithToken(kAdminToken);
  }

  // Groups of users who each buy items of their group's own category, and
  // one bestseller that everybody buys (a top item of every segment).
  void Seed() {
    v1::UpsertItemsRequest items;
    v1::Item* bestseller = items.add_items();
    bestseller->set_item_id("bestseller");
    bestseller->set_title("The bestseller");
    bestseller->add_categories("everyone");
    bestseller->set_price(20);
    for (int g = 0; g < kGroups; ++g) {
      for (int i = 0; i < kItemsPerGroup; ++i) {
        v1::Item* item = items.add_items();
        item->set_item_id(absl::StrCat("g", g, "-i", i));
        item->set_title(absl::StrCat("Item ", i, " of group ", g));
        item->add_categories(absl::StrCat("dept", g));
        item->set_price(10.0 * (g + 1) + i);
        item->set_available(true);
      }
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(
        FromGrpc(server_.stub->UpsertItems(Admin().get(), items, &upserted)));
    v1::FeedbackRequest events;
    for (int g = 0; g < kGroups; ++g) {
      for (int u = 0; u < kUsersPerGroup; ++u) {
        for (int k = 0; k < 4; ++k) {
          v1::Event* e = events.add_events();
          e->set_user_id(absl::StrCat("user-", g, "-", u));
          e->set_item_id(absl::StrCat("g", g, "-i", (u + k) % kItemsPerGroup));
          e->set_type(v1::PURCHASE);
        }
        v1::Event* e = events.add_events();
        e->set_user_id(absl::StrCat("user-", g, "-", u));
        e->set_item_id("bestseller");
        e->set_type(v1::PURCHASE);
      }
    }
    v1::FeedbackResponse stored;
    ASSERT_OK(FromGrpc(server_.stub->Feedback(Admin().get(), events, &stored)));
  }

  // `aisle train` on the server's data dir hands the model to the server's
  // inbox; the server picks it up at its next poll (run here).
  void TrainWithSegments(int k) {
    ASSERT_OK_AND_ASSIGN(
        RunResult train,
        RunAisle({"train", "--data-dir", dir_.Sub("data"), "--factors", "8",
                  "--iterations", "10", "--threads", "1", "--segments",
                  absl::StrCat(k), "--validate-fraction", "0"}));
    ASSERT_EQ(train.exit_code, 0) << train.out << train.err;
    ASSERT_OK(server_.server->PollModelsOnce());
    server_.server->engine().WaitForRefold();
  }

  v1::ListSegmentsResponse GrpcSegments() {
    v1::ListSegmentsResponse response;
    EXPECT_OK(FromGrpc(server_.stub->ListSegments(
        Admin().get(), v1::ListSegmentsRequest(), &response)));
    return response;
  }

  // Every member of `segment` as ExportSegment streams them.
  std::vector<std::string> GrpcMembers(int32_t segment) {
    v1::ExportSegmentRequest request;
    request.set_segment_id(segment);
    auto ctx = Admin();
    auto reader = server_.stub->ExportSegment(ctx.get(), request);
    std::vector<std::string> users;
    v1::ExportSegmentResponse page;
    while (reader->Read(&page)) {
      users.insert(users.end(), page.user_ids().begin(), page.user_ids().end());
    }
    EXPECT_OK(FromGrpc(reader->Finish()));
    return users;
  }

  TempDir dir_;
  TestServer server_;
  ConsoleClient console_;
};

TEST_F(ConsoleSegmentsTest, SegmentsAnswerListSegmentsWithItemCards) {
  TrainWithSegments(kGroups);
  ASSERT_OK_AND_ASSIGN(HttpResponse session,
                       Http(console_.port, "GET", "/api/session"));
  EXPECT_TRUE(Parse<google::protobuf::Struct>(session.body)
                  .fields()
                  .at("segments")
                  .bool_value());

  ASSERT_OK_AND_ASSIGN(HttpResponse answer,
                       console_.Get("/api/segments", kReadToken));
  ASSERT_EQ(answer.status, 200) << answer.body;
  const v1::ListSegmentsResponse console =
      Member<v1::ListSegmentsResponse>(answer.body, "segments");
  const v1::ListSegmentsResponse grpc = GrpcSegments();
  ASSERT_GT(grpc.segments_size(), 0);
  EXPECT_TRUE(MessageDifferencer::Equals(console, grpc))
      << answer.body << " vs " << grpc.DebugString();

  // One card per top item of any segment, as GetItem answers it, also
  // for the items several segments list.
  std::set<std::string> top;
  int listed = 0;
  for (const v1::Segment& s : grpc.segments()) {
    EXPECT_FALSE(s.top_item_ids().empty()) << s.label();
    top.insert(s.top_item_ids().begin(), s.top_item_ids().end());
    listed += s.top_item_ids_size();
  }
  ASSERT_LT(top.size(), listed) << "no top item is shared by two segments";
  const google::protobuf::Struct json =
      Parse<google::protobuf::Struct>(answer.body);
  const auto& cards = json.fields().at("items").list_value().values();
  std::set<std::string> carded;
  for (const google::protobuf::Value& card : cards) {
    const std::string id =
        card.struct_value().fields().at("itemId").string_value();
    EXPECT_TRUE(carded.insert(id).second) << id << " carded twice";
    v1::GetItemRequest request;
    request.set_item_id(id);
    v1::Item expected;
    ASSERT_OK(
        FromGrpc(server_.stub->GetItem(Admin().get(), request, &expected)));
    EXPECT_EQ(card.struct_value().fields().at("title").string_value(),
              expected.title());
  }
  EXPECT_EQ(carded, top);
}

TEST_F(ConsoleSegmentsTest, SegmentsNeedReadLikeListSegments) {
  TrainWithSegments(kGroups);
  ASSERT_OK_AND_ASSIGN(HttpResponse anonymous,
                       console_.Get("/api/segments", ""));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(StringField(anonymous.body, "code"), "UNAUTHENTICATED");
  ASSERT_OK_AND_ASSIGN(HttpResponse wrong,
                       console_.Get("/api/segments", "not-a-token-at-all"));
  EXPECT_EQ(wrong.status, 401);
  ASSERT_OK_AND_ASSIGN(HttpResponse post,
                       console_.Post("/api/segments", kReadToken, "{}"));
  EXPECT_EQ(post.status, 405);

  const std::string body = R"({"segmentId": 0})";
  ASSERT_OK_AND_ASSIGN(HttpResponse users_anonymous,
                       console_.Post("/api/segments/users", "", body));
  EXPECT_EQ(users_anonymous.status, 401);
  EXPECT_FALSE(Parse<google::protobuf::Struct>(users_anonymous.body)
                   .fields()
                   .contains("page"));
  ASSERT_OK_AND_ASSIGN(
      HttpResponse no_csrf,
      Http(console_.port, "POST", "/api/segments/users",
           {{"Content-Type", "application/json"},
            {"Authorization", absl::StrCat("Bearer ", kReadToken)}},
           body));
  EXPECT_EQ(no_csrf.status, 403);
  // The segment's user ids travel in a POST answer, never in a URL.
  ASSERT_OK_AND_ASSIGN(HttpResponse get,
                       console_.Get("/api/segments/users", kReadToken));
  EXPECT_EQ(get.status, 405);
}

TEST_F(ConsoleSegmentsTest, SegmentUsersAreExportSegmentsFirstPage) {
  TrainWithSegments(kGroups);
  const v1::ListSegmentsResponse segments = GrpcSegments();
  ASSERT_GT(segments.segments_size(), 0);
  int64_t listed = 0;
  for (const v1::Segment& s : segments.segments()) {
    const std::vector<std::string> members = GrpcMembers(s.id());
    ASSERT_EQ(static_cast<int64_t>(members.size()), s.members()) << s.id();
    listed += s.members();
    for (const int page_size : {2, 10000}) {
      ASSERT_OK_AND_ASSIGN(
          HttpResponse answer,
          console_.Post("/api/segments/users", kReadToken,
                        absl::StrCat(R"({"segmentId": )", s.id(),
                                     R"(, "pageSize": )", page_size, "}")));
      ASSERT_EQ(answer.status, 200) << answer.body;
      const v1::ExportSegmentResponse page =
          Member<v1::ExportSegmentResponse>(answer.body, "page");
      const size_t expected =
          std::min(members.size(), static_cast<size_t>(page_size));
      EXPECT_EQ(
          std::vector<std::string>(page.user_ids().begin(),
                                   page.user_ids().end()),
          std::vector<std::string>(members.begin(), members.begin() + expected))
          << "segment " << s.id() << ", page size " << page_size;
      if (!members.empty()) {
        EXPECT_EQ(page.model_version(), segments.model_version());
      }
      EXPECT_EQ(Parse<google::protobuf::Struct>(answer.body)
                    .fields()
                    .at("more")
                    .bool_value(),
                members.size() > static_cast<size_t>(page_size))
          << "segment " << s.id() << ", page size " << page_size;
    }
    if (members.empty()) continue;
    // The Shopper page of a member shows this segment (GetUser's).
    ASSERT_OK_AND_ASSIGN(
        HttpResponse user,
        console_.Post("/api/user", kAdminToken,
                      absl::StrCat(R"({"userId": ")", members[0], "\"}")));
    ASSERT_EQ(user.status, 200) << user.body;
    const v1::UserProfile profile =
        Member<v1::UserProfile>(user.body, "profile");
    ASSERT_TRUE(profile.has_segment_id()) << user.body;
    EXPECT_EQ(profile.segment_id(), s.id());
    EXPECT_EQ(profile.segment_label(), s.label());
    EXPECT_FALSE(profile.category_weights().empty());
  }
  EXPECT_EQ(listed, kGroups * kUsersPerGroup);
}

TEST_F(ConsoleSegmentsTest, SegmentUsersAnswerTheServicesValidation) {
  TrainWithSegments(kGroups);
  struct Case {
    std::string body;
    int status;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"segmentId": -1})", 400, "segment_id"},
           {R"({"segmentId": 0, "pageSize": 20000})", 400, "page_size"},
           {R"({"segmentId": 99})", 404, "segment 99"},
           {R"({"segment": 0})", 400, "body"},
       }) {
    ASSERT_OK_AND_ASSIGN(
        HttpResponse answer,
        console_.Post("/api/segments/users", kReadToken, c.body));
    EXPECT_EQ(answer.status, c.status) << c.body << ": " << answer.body;
    EXPECT_THAT(StringField(answer.body, "message"), HasSubstr(c.names))
        << c.body;
  }
}

TEST_F(ConsoleSegmentsTest, WithoutSegmentsTheAnswerIsListSegmentsRefusal) {
  // No model at all, then a model trained without segments: both are
  // FAILED_PRECONDITION over gRPC, 409 here with the same message.
  for (const int k : {-1, 0}) {
    if (k >= 0) TrainWithSegments(k);
    v1::ListSegmentsResponse unused;
    grpc::Status grpc = server_.stub->ListSegments(
        Admin().get(), v1::ListSegmentsRequest(), &unused);
    ASSERT_EQ(grpc.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    ASSERT_OK_AND_ASSIGN(HttpResponse answer,
                         console_.Get("/api/segments", kReadToken));
    EXPECT_EQ(answer.status, 409) << answer.body;
    EXPECT_EQ(StringField(answer.body, "code"), "FAILED_PRECONDITION");
    EXPECT_EQ(StringField(answer.body, "message"), grpc.error_message());
    ASSERT_OK_AND_ASSIGN(HttpResponse users,
                         console_.Post("/api/segments/users", kReadToken,
                                       R"({"segmentId": 0})"));
    EXPECT_EQ(users.status, 409) << users.body;
  }
}

}  // namespace
}  // namespace aisle::testing
