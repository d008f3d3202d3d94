// ghz's report: the statistics, and the JSON shape against the sample from
// ghz's documentation (cli/testdata/ghz_report_sample.json).
#include "cli/ghz_report.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace aisle::cli {
namespace {

namespace pb = google::protobuf;
using ::testing::HasSubstr;

constexpr int64_t kMs = 1000000;

// 10 OK calls of 1..10 ms and 2 failures of 20 ms.
GhzReport SampleReport() {
  GhzRecorder recorder;
  for (int i = 1; i <= 10; ++i) {
    recorder.Add(1700000000000000000 + i, i * kMs, grpc::Status::OK);
  }
  recorder.Add(1700000000000000020, 20 * kMs,
               grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  recorder.Add(1700000000000000021, 20 * kMs,
               grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  GhzRunOptions options;
  options.call = "grpc.health.v1.Health.Check";
  options.host = "127.0.0.1:1";
  options.total = 12;
  options.concurrency = 2;
  options.data_json = R"({"service":""})";
  std::vector<std::string> errors = recorder.errors();
  return BuildGhzReport(options, "2026-01-01T00:00:00Z", "normal", 100 * kMs,
                        recorder.TakeCalls(), errors);
}

TEST(GhzReportTest, Statistics) {
  const GhzReport r = SampleReport();
  EXPECT_EQ(r.count, 12);
  EXPECT_EQ(r.total_ns, 100 * kMs);
  EXPECT_DOUBLE_EQ(r.rps, 120);
  EXPECT_EQ(r.fastest_ns, 1 * kMs);
  EXPECT_EQ(r.slowest_ns, 20 * kMs);
  EXPECT_EQ(r.average_ns, (55 + 40) * kMs / 12);
  EXPECT_EQ(r.status_code_distribution.at("OK"), 10);
  EXPECT_EQ(r.status_code_distribution.at("Unavailable"), 2);
  EXPECT_EQ(
      r.error_distribution.at("rpc error: code = Unavailable desc = down"), 2);
  // Percentiles of the OK calls by nearest rank: index floor(p * n).
  ASSERT_EQ(r.latency_distribution.size(), 8u);
  EXPECT_EQ(r.latency_distribution[0].percentage, 10);
  EXPECT_EQ(r.latency_distribution[0].latency_ns, 2 * kMs);
  EXPECT_EQ(r.latency_distribution[2].latency_ns, 6 * kMs);
  EXPECT_EQ(r.latency_distribution[7].percentage, 99.9);
  EXPECT_EQ(r.latency_distribution[7].latency_ns, 10 * kMs);
  // 11 marks from the fastest to the slowest OK call; every OK call counted.
  ASSERT_EQ(r.histogram.size(), 11u);
  EXPECT_DOUBLE_EQ(r.histogram.front().mark_s, 0.001);
  EXPECT_DOUBLE_EQ(r.histogram.back().mark_s, 0.010);
  int64_t counted = 0;
  double frequency = 0;
  for (const GhzBucket& b : r.histogram) {
    counted += b.count;
    frequency += b.frequency;
  }
  EXPECT_EQ(counted, 10);
  EXPECT_NEAR(frequency, 1.0, 1e-9);
  EXPECT_EQ(r.histogram.front().count, 1);
}

TEST(GhzReportTest, SummaryTextHasGhzSections) {
  const std::string text = GhzSummaryText(SampleReport());
  for (const char* line :
       {"Summary:\n", "  Count:\t12\n", "  Total:\t100.00 ms\n",
        "  Slowest:\t20.00 ms\n", "  Fastest:\t1.00 ms\n",
        "  Requests/sec:\t120.00\n", "Response time histogram:\n",
        "Latency distribution:\n", "  10 % in 2.00 ms\n",
        "  99.9 % in 10.00 ms\n", "Status code distribution:\n",
        "  [OK]\t10 responses\n", "  [Unavailable]\t2 responses\n",
        "Error distribution:\n",
        "  [2]\trpc error: code = Unavailable desc = down\n"}) {
    EXPECT_THAT(text, HasSubstr(line));
  }
}

TEST(GhzReportTest, CsvHasOneLinePerCall) {
  const std::string csv = GhzCsv(SampleReport());
  EXPECT_THAT(csv,
              ::testing::StartsWith("duration (ms),status,error\n1.00,OK,\n"));
  EXPECT_THAT(
      csv, HasSubstr("20.00,Unavailable,rpc error: code = Unavailable desc = "
                     "down\n"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 13);
}

pb::Struct ParseJson(const std::string& text) {
  pb::Struct s;
  EXPECT_TRUE(pb::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

// Every key of `want` is in `got` with the same JSON kind; objects and the
// first element of lists are compared the same way. `path` names the spot
// for the failure message. Keys of the maps that hold data (the
// distributions) and of "options" beyond ours are not part of the shape.
void ExpectSameShape(const pb::Value& want, const pb::Value& got,
                     const std::string& path) {
  ASSERT_EQ(want.kind_case(), got.kind_case()) << path;
  if (want.has_struct_value()) {
    if (path.ends_with("Distribution") || path.ends_with("data")) return;
    for (const auto& [key, value] : want.struct_value().fields()) {
      if (path == ".options" && (key == "proto" || key == "dialTimeout")) {
        continue;  // ghz's own options: aisle knows its protos
      }
      auto it = got.struct_value().fields().find(key);
      ASSERT_NE(it, got.struct_value().fields().end())
          << "missing " << path << "." << key;
      ExpectSameShape(value, it->second, path + "." + key);
    }
  } else if (want.has_list_value() && want.list_value().values_size() > 0) {
    ASSERT_GT(got.list_value().values_size(), 0) << path;
    ExpectSameShape(want.list_value().values(0), got.list_value().values(0),
                    path + "[0]");
  }
}

TEST(GhzReportTest, JsonHasTheShapeOfGhzDocumentedSample) {
  std::ifstream in(AISLE_CLI_TESTDATA "/ghz_report_sample.json");
  ASSERT_TRUE(in) << "cli/testdata/ghz_report_sample.json";
  const std::string sample_text(std::istreambuf_iterator<char>(in), {});
  pb::Value sample;
  *sample.mutable_struct_value() = ParseJson(sample_text);

  for (bool pretty : {false, true}) {
    pb::Value ours;
    *ours.mutable_struct_value() =
        ParseJson(GhzJson(SampleReport(), pretty, /*details=*/true));
    ExpectSameShape(sample, ours, "");
    if (HasFailure()) return;
    const auto& f = ours.struct_value().fields();
    EXPECT_EQ(f.at("count").number_value(), 12);
    EXPECT_EQ(f.at("total").number_value(), 100 * kMs);
    EXPECT_EQ(f.at("statusCodeDistribution")
                  .struct_value()
                  .fields()
                  .at("OK")
                  .number_value(),
              10);
    EXPECT_EQ(f.at("details").list_value().values_size(), 12);
    EXPECT_EQ(f.at("options")
                  .struct_value()
                  .fields()
                  .at("data")
                  .struct_value()
                  .fields()
                  .at("service")
                  .string_value(),
              "");
  }
  // Without details the key is left out (ghz writes one entry per call;
  // aisle leaves them to -O csv).
  const pb::Struct brief = ParseJson(GhzJson(SampleReport(), false, false));
  EXPECT_FALSE(brief.fields().contains("details"));
}

}  // namespace
}  // namespace aisle::cli
