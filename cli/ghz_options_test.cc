// ghz's options on `aisle loadgen`: the short names, ghz's defaults, the
// config file, the method and the data (no server needed).
#include "cli/ghz_options.h"

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "aisle/v1/recommender.pb.h"
#include "cli/loadgen.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::aisle::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

// The flags exactly as `aisle loadgen` registers them.
struct Parsed {
  LoadgenConfig config;
  std::string mix = "recommend=1";
  milliseconds deadline{0};
  GhzFlags ghz;
  FlagParser parser{"aisle loadgen", ""};
  std::vector<std::string> positional;

  absl::StatusOr<GhzSettings> Parse(const std::vector<std::string>& args) {
    config.client.timeout = seconds(1);
    RegisterLoadgenFlags(parser, &config, &mix, &deadline);
    RegisterGhzFlags(parser, &ghz);
    absl::StatusOr<std::vector<std::string>> rest = parser.Parse(args);
    if (!rest.ok()) return rest.status();
    positional = *rest;
    if (absl::Status s = ApplyGhzConfig(parser, ghz, &positional); !s.ok()) {
      return s;
    }
    return ResolveGhzSettings(parser, ghz, config.client, config.concurrency,
                              config.rps, config.duration, config.requests,
                              config.seed, positional);
  }
};

TEST(GhzOptionsTest, GhzDefaults) {
  Parsed p;
  ASSERT_OK_AND_ASSIGN(GhzSettings s,
                       p.Parse({"--call", "grpc.health.v1.Health.Check",
                                "--insecure", "127.0.0.1:50051"}));
  EXPECT_EQ(s.client.target, "127.0.0.1:50051");
  EXPECT_EQ(s.concurrency, 50);
  EXPECT_EQ(s.total, 200);
  EXPECT_EQ(s.duration, milliseconds(0));
  EXPECT_EQ(s.client.timeout, seconds(20));
  EXPECT_EQ(s.connections, 1);
  EXPECT_EQ(s.rps, 0);
  EXPECT_FALSE(s.client.UsesTls());
  EXPECT_EQ(s.data, "{}");
  EXPECT_EQ(s.format, "summary");
}

TEST(GhzOptionsTest, ShortAndLongNames) {
  Parsed p;
  ASSERT_OK_AND_ASSIGN(GhzSettings s, p.Parse({"--call",
                                               "aisle.v1.Recommender/Recommend",
                                               "-c",
                                               "8",
                                               "-n",
                                               "1000",
                                               "-r",
                                               "500",
                                               "-t",
                                               "250ms",
                                               "--connections",
                                               "2",
                                               "-d",
                                               R"({"user_id":"u1"})",
                                               "-O",
                                               "json",
                                               "-o",
                                               "/tmp/x.json",
                                               "--insecure",
                                               "h:1"}));
  EXPECT_EQ(s.concurrency, 8);
  EXPECT_EQ(s.total, 1000);
  EXPECT_EQ(s.rps, 500);
  EXPECT_EQ(s.client.timeout, milliseconds(250));
  EXPECT_EQ(s.connections, 2);
  EXPECT_EQ(s.data, R"({"user_id":"u1"})");
  EXPECT_EQ(s.format, "json");
  EXPECT_EQ(s.output, "/tmp/x.json");

  Parsed q;
  ASSERT_OK_AND_ASSIGN(
      GhzSettings t,
      q.Parse({"--call", "x", "--concurrency=4", "--total=40", "--rps", "9",
               "--timeout", "2s", "--format", "csv", "--insecure"}));
  EXPECT_EQ(t.concurrency, 4);
  EXPECT_EQ(t.total, 40);
  EXPECT_EQ(t.format, "csv");
  EXPECT_EQ(t.client.target, "localhost:50051");  // --target's default
}

TEST(GhzOptionsTest, DurationOverridesTotalAsInGhz) {
  Parsed p;
  ASSERT_OK_AND_ASSIGN(GhzSettings s, p.Parse({"--call", "x", "-z", "3s", "-n",
                                               "10", "--insecure"}));
  EXPECT_EQ(s.duration, seconds(3));
  EXPECT_EQ(s.total, 0);
}

// ghz draws its template randomness afresh for every run; --seed (an
// aisle addition) repeats a run's ids and draws exactly.
TEST(GhzOptionsTest, SeedIsNewEveryRunUnlessGiven) {
  Parsed a, b, c;
  ASSERT_OK_AND_ASSIGN(GhzSettings first, a.Parse({"--call", "x"}));
  ASSERT_OK_AND_ASSIGN(GhzSettings second, b.Parse({"--call", "x"}));
  EXPECT_NE(first.seed, second.seed);
  ASSERT_OK_AND_ASSIGN(GhzSettings given,
                       c.Parse({"--call", "x", "--seed", "7"}));
  EXPECT_EQ(given.seed, 7u);
}

TEST(GhzOptionsTest, TlsUnlessInsecure) {
  Parsed p;
  ASSERT_OK_AND_ASSIGN(GhzSettings s, p.Parse({"--call", "x"}));
  EXPECT_TRUE(s.client.UsesTls());
  Parsed q;
  ASSERT_OK_AND_ASSIGN(
      GhzSettings t,
      q.Parse({"--call", "x", "--cacert", "/ca.pem", "--cert", "/c.pem",
               "--key", "/k.pem", "--cname", "aisle.test"}));
  EXPECT_EQ(t.client.tls_ca, "/ca.pem");
  EXPECT_EQ(t.client.tls_cert, "/c.pem");
  EXPECT_EQ(t.client.tls_key, "/k.pem");
  EXPECT_EQ(t.client.tls_server_name, "aisle.test");
}

TEST(GhzOptionsTest, RejectsBadCombinations) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--insecure", "--cacert", "/ca.pem"}, "--insecure (plaintext)"},
           {{"-c", "0"}, "-c/--concurrency"},
           {{"-n", "10", "-c", "20"}, "cannot be less than"},
           {{"-n", "0"}, "-n/--total: must be > 0"},
           {{"--connections", "60"}, "--connections"},
           {{"-r", "-1"}, "-r/--rps"},
           {{"-O", "html"}, "'html' is not one of"},
           {{"-d", "{}", "-D", "/x"}, "-d/--data or -D/--data-file"},
           {{"-D", "/nonexistent/data.json"}, "cannot read"},
           {{"a:1", "b:2"}, "give one host"},
       }) {
    Parsed p;
    std::vector<std::string> args = {"--call", "x"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    EXPECT_THAT(p.Parse(args), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr(c.message)))
        << c.message;
  }
}

TEST(GhzOptionsTest, ConfigFileAndFlagsWin) {
  const std::string path = ::testing::TempDir() + "/ghz_config.json";
  {
    std::ofstream out(path);
    out << R"({"call": "aisle.v1.Recommender.Recommend", "host": "h:7",
              "total": 300, "concurrency": 6, "connections": 2,
              "timeout": "2s", "insecure": true,
              "proto": "proto/aisle/v1/recommender.proto",
              "data": {"user_id": "u{{randomInt 0 9}}", "count": 5}})";
  }
  Parsed p;
  ASSERT_OK_AND_ASSIGN(GhzSettings s, p.Parse({"--config", path, "-c", "3"}));
  EXPECT_EQ(p.ghz.call, "aisle.v1.Recommender.Recommend");
  EXPECT_EQ(s.client.target, "h:7");
  EXPECT_EQ(s.total, 300);
  EXPECT_EQ(s.concurrency, 3);  // the flag, not the file
  EXPECT_EQ(s.connections, 2);
  EXPECT_EQ(s.client.timeout, seconds(2));
  EXPECT_FALSE(s.client.UsesTls());
  // The data object comes back as JSON; protobuf's Struct is a map whose
  // iteration order is not fixed, so either key order is right.
  EXPECT_THAT(s.data, ::testing::AnyOf(
                          R"({"count":5,"user_id":"u{{randomInt 0 9}}"})",
                          R"({"user_id":"u{{randomInt 0 9}}","count":5})"));

  {
    std::ofstream out(path, std::ios::trunc);
    out << R"({"call": "x", "metadata": {"a": "b"}})";
  }
  Parsed q;
  EXPECT_THAT(q.Parse({"--config", path}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key 'metadata' is not supported")));
}

TEST(GhzOptionsTest, ResolvesMethods) {
  ASSERT_OK_AND_ASSIGN(GhzMethod rec,
                       ResolveGhzMethod("aisle.v1.Recommender.Recommend"));
  EXPECT_EQ(rec.path, "/aisle.v1.Recommender/Recommend");
  EXPECT_EQ(rec.call_data.input_name, "RecommendRequest");
  ASSERT_OK_AND_ASSIGN(GhzMethod slash,
                       ResolveGhzMethod("aisle.v1.Recommender/Feedback"));
  EXPECT_EQ(slash.path, "/aisle.v1.Recommender/Feedback");
  ASSERT_OK_AND_ASSIGN(GhzMethod health,
                       ResolveGhzMethod("grpc.health.v1.Health.Check"));
  EXPECT_EQ(health.path, "/grpc.health.v1.Health/Check");
  EXPECT_THAT(
      ResolveGhzMethod("grpc.health.v1.Health.Watch"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("streaming")));
  EXPECT_THAT(ResolveGhzMethod("aisle.v1.Recommender.Nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("Nope")));
}

TEST(GhzOptionsTest, DataConvertsThroughProtobufJson) {
  ASSERT_OK_AND_ASSIGN(GhzMethod m,
                       ResolveGhzMethod("aisle.v1.Recommender.Recommend"));
  ASSERT_OK_AND_ASSIGN(
      std::string bytes,
      JsonToRequestBytes(m, R"({"user_id":"u7","scenario":"FOR_YOU",
                               "count":12})"));
  v1::RecommendRequest request;
  ASSERT_TRUE(request.ParseFromString(bytes));
  EXPECT_EQ(request.user_id(), "u7");
  EXPECT_EQ(request.count(), 12);
  EXPECT_EQ(request.scenario(), v1::FOR_YOU);

  EXPECT_THAT(JsonToRequestBytes(m, R"({"user":"u7"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user")));
  EXPECT_THAT(ParseGhzData(R"({"count":"{{randomInt 0 3}}x"})", m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("aisle.v1.RecommendRequest")));
  EXPECT_THAT(
      ParseGhzData(R"({"user_id":"{{.Bad}}"})", m),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("{{.Bad}}")));
  ASSERT_OK_AND_ASSIGN(
      std::vector<CallTemplate> two,
      ParseGhzData(R"([{"user_id":"a"},{"user_id":"b{{.RequestNumber}}"}])",
                   m));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_FALSE(two[0].has_actions());
  EXPECT_TRUE(two[1].has_actions());

  ASSERT_OK_AND_ASSIGN(GhzMethod health,
                       ResolveGhzMethod("grpc.health.v1.Health.Check"));
  ASSERT_OK_AND_ASSIGN(std::string hb,
                       JsonToRequestBytes(health, R"({"service":"s"})"));
  EXPECT_EQ(hb, std::string("\x0a\x01s", 3));
}

}  // namespace
}  // namespace aisle::cli
