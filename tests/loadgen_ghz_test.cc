// `aisle loadgen --call` (ghz mode) against a real server on loopback: the
// real binary, bounded runs (-n), ghz's JSON read back.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle {
namespace {

namespace pb = google::protobuf;
using ::testing::HasSubstr;
using testing::RunResult;

class LoadgenGhzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(
        server_,
        testing::StartTestServer(testing::TestServerConfig(dir_.Sub("d"))));
    ASSERT_OK(
        testing::WaitForServing(server_.address(), std::chrono::seconds(30)));
  }
  RunResult Loadgen(std::vector<std::string> args) {
    args.insert(args.begin(), "loadgen");
    args.push_back(server_.address());
    absl::StatusOr<RunResult> r = testing::RunAisle(args);
    EXPECT_OK(r.status());
    return r.ok() ? *r : RunResult{};
  }
  static pb::Struct Json(const RunResult& r) {
    pb::Struct s;
    EXPECT_TRUE(pb::util::JsonStringToMessage(r.out, &s).ok())
        << r.out << r.err;
    return s;
  }
  static double Code(const pb::Struct& report, const std::string& code) {
    const auto& codes =
        report.fields().at("statusCodeDistribution").struct_value().fields();
    auto it = codes.find(code);
    return it == codes.end() ? 0 : it->second.number_value();
  }

  testing::TempDir dir_;
  testing::TestServer server_;
};

TEST_F(LoadgenGhzTest, HealthCheckJsonReport) {
  RunResult r =
      Loadgen({"--insecure", "--call", "grpc.health.v1.Health.Check", "-n",
               "300", "-c", "10", "--connections", "2", "-O", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pb::Struct report = Json(r);
  EXPECT_EQ(report.fields().at("count").number_value(), 300);
  EXPECT_EQ(Code(report, "OK"), 300);
  EXPECT_GT(report.fields().at("rps").number_value(), 0);
  EXPECT_EQ(
      report.fields().at("latencyDistribution").list_value().values_size(), 8);
  EXPECT_EQ(report.fields()
                .at("options")
                .struct_value()
                .fields()
                .at("call")
                .string_value(),
            "grpc.health.v1.Health.Check");
}

TEST_F(LoadgenGhzTest, FeedbackWithDistinctIdsIsStored) {
  RunResult r = Loadgen(
      {"--insecure", "--call", "aisle.v1.Recommender/Feedback", "-n", "40",
       "-c", "4", "-O", "json", "-d",
       R"({"events":[{"event_id":"ghz-{{.RequestNumber}}","user_id":"u1",)"
       R"("item_id":"i{{.RequestNumber}}","type":"VIEW"}]})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Code(Json(r), "OK"), 40);
  // Every call carried its own item: the user's profile counts 40 views.
  v1::GetUserRequest request;
  request.set_user_id("u1");
  v1::UserProfile profile;
  auto context = testing::ContextWithDeadline();
  ASSERT_OK(testing::FromGrpc(
      server_.stub->GetUser(context.get(), request, &profile)));
  ASSERT_EQ(profile.event_counts_size(), 1);
  EXPECT_EQ(profile.event_counts(0).count(), 40);
}

// The same {{newUUID}} load run twice stores both runs' events, as with
// ghz (a repeated run once sent the first run's ids again, which the
// server rightly answered as duplicates). With one --seed each worker
// repeats its stream (which calls a worker makes varies with timing, so
// the seeded pair runs one worker).
TEST_F(LoadgenGhzTest, NewUuidIsNewInEveryRunUnlessSeeded) {
  auto views = [&](const std::string& user) -> int64_t {
    v1::GetUserRequest request;
    request.set_user_id(user);
    v1::UserProfile profile;
    auto context = testing::ContextWithDeadline();
    EXPECT_OK(testing::FromGrpc(
        server_.stub->GetUser(context.get(), request, &profile)));
    return profile.event_counts_size() == 1 ? profile.event_counts(0).count()
                                            : -1;
  };
  auto run = [&](const std::string& user, std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "--insecure",
        "--call",
        "aisle.v1.Recommender.Feedback",
        "-n",
        "30",
        "-c",
        "3",
        "-O",
        "json",
        "-d",
        absl::StrCat(R"({"events":[{"event_id":"{{newUUID}}","user_id":")",
                     user, R"(","item_id":"i1","type":"VIEW"}]})")};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Loadgen(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Code(Json(r), "OK"), 30);
  };
  run("fresh", {"-c", "3"});
  run("fresh", {"-c", "3"});
  EXPECT_EQ(views("fresh"), 60);
  run("seeded", {"-c", "1", "--seed", "7"});
  run("seeded", {"-c", "1", "--seed", "7"});
  EXPECT_EQ(views("seeded"), 30);
}

TEST_F(LoadgenGhzTest, RecommendSummaryAndInvalidRequests) {
  RunResult ok = Loadgen(
      {"--insecure", "--call", "aisle.v1.Recommender.Recommend", "-n", "30",
       "-c", "3", "-d", R"({"user_id":"u{{randomInt 0 50}}","count":5})"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("Summary:\n  Count:\t30\n"));
  EXPECT_THAT(ok.out, HasSubstr("[OK]\t30 responses"));

  // count 0 is rejected by the server: ghz's error distribution shows it.
  RunResult bad =
      Loadgen({"--insecure", "--call", "aisle.v1.Recommender.Recommend", "-n",
               "5", "-c", "1", "-d", R"({"user_id":"u1","count":-1})"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.out, HasSubstr("[InvalidArgument]\t5 responses"));
  EXPECT_THAT(bad.out, HasSubstr("rpc error: code = InvalidArgument desc = "));
}

TEST_F(LoadgenGhzTest, UsageErrorsBeforeAnyCall) {
  RunResult unknown = Loadgen({"--insecure", "--call", "aisle.v1.Nope.X"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown method"));
  RunResult field =
      Loadgen({"--insecure", "--call", "aisle.v1.Recommender.Recommend", "-d",
               R"({"usr":"u1"})"});
  EXPECT_EQ(field.exit_code, 2);
  EXPECT_THAT(field.err, HasSubstr("usr"));
  RunResult no_call = Loadgen({"-d", "{}"});
  EXPECT_EQ(no_call.exit_code, 2);
  EXPECT_THAT(no_call.err, HasSubstr("--data belongs to ghz mode"));
}

}  // namespace
}  // namespace aisle
