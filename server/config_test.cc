#include "server/config.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::server {
namespace {

using ::aisle::testing::IsOk;
using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Not;

// argv for ParseServeArgs from a list of strings (argv[0] = "serve").
class Args {
 public:
  explicit Args(std::vector<std::string> args) : storage_(std::move(args)) {
    storage_.insert(storage_.begin(), "serve");
    for (std::string& s : storage_) pointers_.push_back(s.data());
  }
  int argc() { return static_cast<int>(pointers_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> pointers_;
};

absl::StatusOr<ServerConfig> Parse(
    std::vector<std::string> args,
    const std::map<std::string, std::string>& env = {}) {
  Args a(std::move(args));
  return ParseServeArgs(a.argc(), a.argv(), env);
}

// A config file in a fresh temp path, removed at the end of the test.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& contents) {
    char pattern[] = "/tmp/aisle-config-test-XXXXXX";
    int fd = mkstemp(pattern);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = pattern;
    std::ofstream(path_) << contents;
  }
  ~ConfigFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfigTest, Defaults) {
  absl::StatusOr<ServerConfig> c = Parse({});
  ASSERT_OK(c);
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->port, 50051);
  EXPECT_EQ(c->metrics_port, 9464);
  EXPECT_EQ(c->data_dir, "./aisle-data");
  EXPECT_FALSE(c->demo);
  EXPECT_EQ(c->durability, storage::Durability::kProcess);
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->log_format, LogFormat::kText);
  EXPECT_DOUBLE_EQ(c->access_log_sample, 0.01);
  EXPECT_EQ(c->model_poll_interval_ms, 10'000);
  EXPECT_EQ(c->max_message_bytes, 4 << 20);
  EXPECT_EQ(c->idempotency_retention_ms, 30LL * 24 * 3600 * 1000);
  EXPECT_EQ(c->models_to_keep, 5);
  EXPECT_EQ(c->shutdown_grace_ms, 10'000);
  EXPECT_EQ(c->admission, AdmissionMode::kAdaptive);
  EXPECT_EQ(c->cpu_policy, CpuPolicy::kAdaptive);
  EXPECT_EQ(c->max_in_flight_read, 64);
  EXPECT_EQ(c->max_in_flight_write, 32);
  EXPECT_EQ(c->max_in_flight_admin, 4);
  EXPECT_EQ(c->grpc_memory_bytes, int64_t{1} << 30);
  EXPECT_EQ(c->max_concurrent_streams, 100);
}

TEST(ConfigTest, OverloadOptions) {
  absl::StatusOr<ServerConfig> c =
      Parse({"--admission", "fixed", "--max-in-flight-read=8",
             "--max-in-flight-write", "3", "--grpc-memory", "256MiB",
             "--max-concurrent-streams", "16"},
            {{"AISLE_MAX_IN_FLIGHT_ADMIN", "2"}});
  ASSERT_OK(c);
  EXPECT_EQ(c->admission, AdmissionMode::kFixed);
  EXPECT_EQ(c->max_in_flight_read, 8);
  EXPECT_EQ(c->max_in_flight_write, 3);
  EXPECT_EQ(c->max_in_flight_admin, 2);
  EXPECT_EQ(c->grpc_memory_bytes, int64_t{256} << 20);
  EXPECT_EQ(c->max_concurrent_streams, 16);
  EXPECT_THAT(Parse({"--admission=off"}),
              IsOkAndHolds(::testing::Field(&ServerConfig::admission,
                                            AdmissionMode::kOff)));
  EXPECT_THAT(ServeUsage(), HasSubstr("--admission adaptive|fixed|off"));
  EXPECT_THAT(Parse({"--cpu-policy=batch"}),
              IsOkAndHolds(::testing::Field(&ServerConfig::cpu_policy,
                                            CpuPolicy::kBatch)));
  EXPECT_THAT(Parse({"--cpu-policy", "normal"}),
              IsOkAndHolds(::testing::Field(&ServerConfig::cpu_policy,
                                            CpuPolicy::kNormal)));
  EXPECT_THAT(Parse({}, {{"AISLE_CPU_POLICY", "batch"}}),
              IsOkAndHolds(::testing::Field(&ServerConfig::cpu_policy,
                                            CpuPolicy::kBatch)));
}

TEST(ConfigTest, GrpcPollStrategyFlagThenEnvironmentThenEpoll1) {
  absl::StatusOr<ServerConfig> c = Parse({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(GrpcPollStrategy(*c, nullptr), "epoll1");
  EXPECT_EQ(GrpcPollStrategy(*c, ""), "epoll1");
  EXPECT_EQ(GrpcPollStrategy(*c, "poll"), "poll");
  c = Parse({"--grpc-poll-strategy", "epoll1"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(GrpcPollStrategy(*c, nullptr), "epoll1");
  c = Parse({"--grpc-poll-strategy=poll"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(GrpcPollStrategy(*c, "epoll1"), "poll");
  c = Parse({"--grpc-poll-strategy", "select"});
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("--grpc-poll-strategy"));
  EXPECT_THAT(c.status().message(), HasSubstr("poll or epoll1"));
}

TEST(ConfigTest, ClusterJoinWaitIsADuration) {
  EXPECT_THAT(Parse({}), IsOkAndHolds(::testing::Field(
                             &ServerConfig::cluster_join_wait_ms, 60'000)));
  EXPECT_THAT(Parse({"--cluster-join-wait", "5s"}),
              IsOkAndHolds(::testing::Field(&ServerConfig::cluster_join_wait_ms,
                                            5'000)));
  absl::StatusOr<ServerConfig> c = Parse({"--cluster-join-wait", "soon"});
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
  EXPECT_NE(c.status().message().find("--cluster-join-wait"), std::string::npos)
      << c.status();
}

TEST(ConfigTest, ClusterRetentionNeedsSnapshotsAtLeastAThirdAsOld) {
  absl::StatusOr<ServerConfig> c = Parse({"--cluster-max-age", "3h"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cluster_max_age_ms, 3 * 3'600'000);
  EXPECT_EQ(c->cluster_snapshot_interval_ms, 3'600'000);
  c = Parse({"--cluster-max-age", "2h"});
  EXPECT_TRUE(absl::IsInvalidArgument(c.status()));
  EXPECT_NE(c.status().message().find("3 x --cluster-snapshot-interval"),
            std::string::npos)
      << c.status();
  c = Parse({"--cluster-max-age", "1d", "--cluster-snapshot-interval", "-1"});
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
  c = Parse({"--cluster-max-age", "0"});  // forever
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cluster_max_age_ms, 0);
  EXPECT_EQ(Parse({})->cluster_max_age_ms, -1);  // the stream as it is
}

TEST(ConfigTest, SessionRankerWeights) {
  std::string weights;
  for (int f = 0; f < 19; ++f) weights += f == 0 ? "0.5" : ",-1.25";
  absl::StatusOr<ServerConfig> c = Parse({"--session-ranker-weights", weights});
  ASSERT_OK(c);
  ASSERT_EQ(c->engine.session.ranker_weights.size(), 19u);
  EXPECT_EQ(c->engine.session.ranker_weights[0], 0.5);
  EXPECT_EQ(c->engine.session.ranker_weights[18], -1.25);
  EXPECT_TRUE(Parse({})->engine.session.ranker_weights.empty());
  EXPECT_FALSE(Parse({"--session-ranker-weights", "1,2"}).ok())
      << "one weight per feature";
  EXPECT_FALSE(Parse({"--session-ranker-weights", weights + "x"}).ok());
}

TEST(ConfigTest, FlagsInBothForms) {
  absl::StatusOr<ServerConfig> c = Parse({"--port",
                                          "6000",
                                          "--metrics-port=-1",
                                          "--demo",
                                          "--durability=machine",
                                          "--log-format",
                                          "json",
                                          "--model-poll-interval",
                                          "-1",
                                          "--max-message-bytes",
                                          "8MiB",
                                          "--idempotency-retention",
                                          "7d",
                                          "--shutdown-grace",
                                          "250ms",
                                          "--popularity-half-life",
                                          "3.5",
                                          "--ann-min-items",
                                          "100",
                                          "--ann-cosine-graph=false",
                                          "--ann-cached-searches",
                                          "0"});
  ASSERT_OK(c);
  EXPECT_EQ(c->port, 6000);
  EXPECT_EQ(c->metrics_port, -1);
  EXPECT_TRUE(c->demo);
  EXPECT_EQ(c->durability, storage::Durability::kMachine);
  EXPECT_EQ(c->log_format, LogFormat::kJson);
  EXPECT_EQ(c->model_poll_interval_ms, -1);
  EXPECT_EQ(c->max_message_bytes, 8 << 20);
  EXPECT_EQ(c->idempotency_retention_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(c->shutdown_grace_ms, 250);
  EXPECT_DOUBLE_EQ(c->engine.popularity_half_life_days, 3.5);
  EXPECT_EQ(c->engine.model.ann_min_items, 100);
  EXPECT_FALSE(c->engine.model.ann.cosine);
  EXPECT_EQ(c->engine.model.ann.cached_searches, 0u);
  // The default keeps the cosine graph and 8192 answers.
  absl::StatusOr<ServerConfig> d = Parse({});
  ASSERT_OK(d);
  EXPECT_TRUE(d->engine.model.ann.cosine);
  EXPECT_EQ(d->engine.model.ann.cached_searches, 8192u);
}

TEST(ConfigTest, PrecedenceFlagOverEnvOverFileOverDefault) {
  ConfigFile file(
      "# comment\n"
      "port = 7001\n"
      "metrics_port = 7002\n"
      "data-dir = \"/from/file\"\n"
      "\n"
      "log-level = debug\n");
  std::map<std::string, std::string> env = {
      {"AISLE_CONFIG", file.path()},
      {"AISLE_PORT", "8001"},
      {"AISLE_METRICS_PORT", "8002"},
      {"UNRELATED", "x"},
  };
  absl::StatusOr<ServerConfig> c = Parse({"--port", "9001"}, env);
  ASSERT_OK(c);
  EXPECT_EQ(c->port, 9001);              // flag beats env and file
  EXPECT_EQ(c->metrics_port, 8002);      // env beats file
  EXPECT_EQ(c->data_dir, "/from/file");  // file beats default
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->host, "0.0.0.0");  // default
  EXPECT_EQ(c->config_file, file.path());

  // --config on the command line beats AISLE_CONFIG.
  ConfigFile other("data-dir = /other\n");
  c = Parse({"--config", other.path()}, env);
  ASSERT_OK(c);
  EXPECT_EQ(c->data_dir, "/other");
  EXPECT_EQ(c->port, 8001);
}

struct BadCase {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string error;  // substring of the message
};

TEST(ConfigTest, BadValuesAreRejectedWithClearMessages) {
  const BadCase cases[] = {
      {{"--port", "70000"}, {}, "--port: must be 0..65535, got 70000"},
      {{"--port", "abc"}, {}, "--port: must be an integer, got \"abc\""},
      {{"--metrics-port", "-2"}, {}, "--metrics-port: must be -1..65535"},
      {{"--durability", "disk"},
       {},
       "--durability: must be process or machine, got \"disk\""},
      {{"--log-format", "xml"}, {}, "--log-format: must be text or json"},
      {{"--log-level", "loud"}, {}, "--log-level: must be trace, debug"},
      {{"--access-log-sample", "1.5"}, {}, "--access-log-sample: must be 0..1"},
      {{"--model-poll-interval", "0"},
       {},
       "--model-poll-interval: must be positive, or -1 to disable"},
      {{"--shutdown-grace", "10 parsecs"}, {}, "--shutdown-grace: unknown"},
      {{"--max-message-bytes", "12"}, {}, "--max-message-bytes: must be 1KiB"},
      {{"--models-to-keep", "0"}, {}, "--models-to-keep: must be 1..1000"},
      {{"--admission", "lifo"},
       {},
       "--admission: must be adaptive, fixed or off, got \"lifo\""},
      {{"--cpu-policy", "fifo"},
       {},
       "--cpu-policy: must be adaptive, batch or normal, got \"fifo\""},
      {{"--max-in-flight-read", "0"},
       {},
       "--max-in-flight-read: must be 1..100000, got 0"},
      {{"--grpc-memory", "1KiB"}, {}, "--grpc-memory: must be at least 1MiB"},
      {{"--no-such-flag"}, {}, "unknown flag --no-such-flag"},
      {{"stray"}, {}, "unexpected argument \"stray\""},
      {{"--port"}, {}, "--port: missing value"},
      {{"--data-dir="}, {}, "--data-dir: must not be empty"},
      {{}, {{"AISLE_PORT", "-5"}}, "AISLE_PORT: must be 0..65535, got -5"},
      {{}, {{"AISLE_DEMO", "maybe"}}, "AISLE_DEMO: must be true or false"},
  };
  for (const BadCase& c : cases) {
    EXPECT_THAT(
        Parse(c.args, c.env),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.error)));
  }
}

TEST(ConfigTest, BadFileLinesNameFileAndLine) {
  ConfigFile file("port = 1\nthis is not a setting\n");
  absl::StatusOr<ServerConfig> c = Parse({"--config", file.path()});
  EXPECT_THAT(c,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(file.path() + ":2: expected `key = value`")));

  ConfigFile unknown("colour = blue\n");
  c = Parse({"--config", unknown.path()});
  EXPECT_THAT(
      c, StatusIs(absl::StatusCode::kInvalidArgument,
                  HasSubstr(unknown.path() + ":1: unknown option \"colour\"")));

  ConfigFile bad_value("port = 99999\n");
  c = Parse({"--config", bad_value.path()});
  EXPECT_THAT(c,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(bad_value.path() + ":1: must be 0..65535")));

  c = Parse({"--config", "/nonexistent/aisle.conf"});
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kNotFound, _));
}

TEST(ConfigTest, HelpIsRecognised) {
  absl::StatusOr<ServerConfig> c = Parse({"--port", "1", "--help"});
  ASSERT_THAT(c, Not(IsOk()));
  EXPECT_TRUE(IsHelpRequest(c.status()));
  EXPECT_FALSE(IsHelpRequest(absl::InvalidArgumentError("--port: bad")));
  const std::string usage = ServeUsage();
  for (const char* flag :
       {"--host", "--port", "--metrics-port", "--data-dir", "--demo",
        "--durability", "--log-level", "--log-format", "--access-log-sample",
        "--model-poll-interval", "--max-message-bytes", "--threads",
        "--idempotency-retention", "--models-to-keep", "--shutdown-grace",
        "--popularity-half-life", "--config"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
}

TEST(ParseDurationTest, Units) {
  struct Case {
    const char* text;
    int64_t ms;
  };
  for (const Case& c :
       {Case{"250ms", 250}, Case{"10s", 10'000}, Case{"10", 10'000},
        Case{"1.5s", 1'500}, Case{"5m", 300'000}, Case{"2h", 7'200'000},
        Case{"30d", 2'592'000'000}}) {
    EXPECT_THAT(ParseDurationMs(c.text), IsOkAndHolds(c.ms)) << c.text;
  }
  for (const char* bad : {"", "s", "-1s", "10y", "1e3"}) {
    EXPECT_THAT(ParseDurationMs(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, _))
        << bad;
  }
}

TEST(ParseByteSizeTest, Units) {
  EXPECT_EQ(*ParseByteSize("4194304"), 4194304);
  EXPECT_EQ(*ParseByteSize("512KiB"), 512 * 1024);
  EXPECT_EQ(*ParseByteSize("4MiB"), 4 << 20);
  EXPECT_EQ(*ParseByteSize("1G"), 1LL << 30);
  EXPECT_THAT(ParseByteSize("4 parsecs"),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ParseByteSize("-1"),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
}

}  // namespace
}  // namespace aisle::server
