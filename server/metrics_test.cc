#include "server/metrics.h"

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace aisle::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Scrape(Metrics& metrics) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, metrics.collectable()->Collect());
  return out.str();
}

// The metrics named in the table of docs/metrics.md, with their types:
// "| `aisle_up` | gauge | ...".
std::map<std::string, std::string> ContractMetrics() {
  std::ifstream in(AISLE_METRICS_DOC);
  EXPECT_TRUE(in) << "cannot read " << AISLE_METRICS_DOC;
  const std::regex row(R"(^\| `(aisle_[a-z_]+)` \| ([a-z]+) \|)");
  std::map<std::string, std::string> metrics;
  std::string line;
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, row)) metrics[match[1]] = match[2];
  }
  return metrics;
}

// The "# TYPE <name> <type>" lines of a scrape.
std::map<std::string, std::string> ExportedMetrics(const std::string& text) {
  const std::regex type_line(R"(^# TYPE (\S+) (\S+)$)");
  std::map<std::string, std::string> metrics;
  std::istringstream in(text);
  std::string line;
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, type_line)) {
      metrics[match[1]] = match[2];
    }
  }
  return metrics;
}

// docs/metrics.md is the contract with deploy/: every metric it lists is
// exported with its type, and nothing else is, even before anything
// happened (the lazily created series are touched once here).
TEST(MetricsTest, ExportsExactlyTheContract) {
  Metrics metrics("1.2.3");
  metrics.RpcStarted(Method::kRecommend);
  metrics.RpcFinished(Method::kRecommend, grpc::StatusCode::OK, 0.001);
  metrics.EventAttributed(core::Scenario::kForYou, "default",
                          core::EventType::kClick);
  metrics.Recommended(core::Scenario::kForYou, "default", false, 10);
  metrics.SetModel("v1", 1000);
  const std::string text = Scrape(metrics);
  const std::map<std::string, std::string> contract = ContractMetrics();
  EXPECT_EQ(contract.size(), 42u);
  EXPECT_EQ(ExportedMetrics(text), contract);
  EXPECT_THAT(text, HasSubstr("aisle_build_info{version=\"1.2.3\"} 1"));
  EXPECT_THAT(text, HasSubstr("aisle_grpc_requests_total{code=\"OK\",method="
                              "\"Recommend\"} 1"));
  EXPECT_THAT(text, HasSubstr("aisle_grpc_requests_in_flight{method="
                              "\"Recommend\"} 0"));
  // Contract buckets: 0.0001 .. 5 s.
  EXPECT_THAT(text, HasSubstr("aisle_grpc_request_duration_seconds_bucket{"
                              "method=\"Recommend\",le=\"0.0001\"} 0"));
  EXPECT_THAT(text, HasSubstr("aisle_grpc_request_duration_seconds_bucket{"
                              "method=\"Recommend\",le=\"0.001\"} 1"));
  EXPECT_THAT(text, HasSubstr("aisle_grpc_request_duration_seconds_bucket{"
                              "method=\"Recommend\",le=\"5\"} 1"));
  EXPECT_THAT(text, HasSubstr("aisle_attributed_events_total{scenario="
                              "\"for_you\",type=\"click\",variant="
                              "\"default\"} 1"));
  EXPECT_THAT(text, HasSubstr("aisle_recommended_items_total{scenario="
                              "\"for_you\",variant=\"default\"} 10"));
  EXPECT_THAT(text, HasSubstr("aisle_model_info{version=\"v1\"} 1"));
  EXPECT_THAT(text, HasSubstr("aisle_model_trained_timestamp_seconds 1"));
  // Refusals and rejected ids are exported at 0 before the first one.
  EXPECT_THAT(text, HasSubstr("aisle_auth_refused_total{code=\"PERMISSION_"
                              "DENIED\",method=\"DeleteUser\"} 0"));
  EXPECT_THAT(text, HasSubstr("aisle_attribution_rejected_total{reason="
                              "\"forged\"} 0"));
}

TEST(MetricsTest, ModelInfoKeepsOneSeries) {
  Metrics metrics("x");
  metrics.SetModel("v1", 1000);
  metrics.SetModel("v2", 5000);
  metrics.UpdateModelAge(8000);
  std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("aisle_model_info{version=\"v2\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("version=\"v1\"")));
  EXPECT_THAT(text, HasSubstr("aisle_model_age_seconds 3"));
  metrics.SetModel("", 0);
  text = Scrape(metrics);
  EXPECT_THAT(text, Not(HasSubstr("aisle_model_info{")));
  EXPECT_THAT(text, HasSubstr("aisle_model_trained_timestamp_seconds 0"));
}

TEST(MetricsTest, OnlyFunnelEventsAreAttributed) {
  Metrics metrics("x");
  metrics.EventAttributed(core::Scenario::kTrending, "default",
                          core::EventType::kView);
  metrics.EventAttributed(core::Scenario::kTrending, "default",
                          core::EventType::kImpression);
  metrics.EventAttributed(core::Scenario::kTrending, "default",
                          core::EventType::kPurchase);
  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, Not(HasSubstr("type=\"view\",variant")));
  EXPECT_THAT(text, HasSubstr("aisle_attributed_events_total{scenario="
                              "\"trending\",type=\"impression\",variant="
                              "\"default\"} 1"));
  EXPECT_THAT(text, HasSubstr("aisle_attributed_events_total{scenario="
                              "\"trending\",type=\"purchase\",variant="
                              "\"default\"} 1"));
}

TEST(MetricsTest, ShedAndAdmissionSeriesExistFromTheStart) {
  Metrics metrics("x");
  metrics.Shed(Method::kRecommend, ShedReason::kLimit);
  metrics.Shed(Method::kRecommend, ShedReason::kLimit);
  metrics.SetAdmission(MethodClass::kRead, 16, 3);
  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("aisle_rpc_shed_total{method=\"Recommend\","
                              "reason=\"limit\"} 2"));
  EXPECT_THAT(text, HasSubstr("aisle_rpc_shed_total{method=\"Feedback\","
                              "reason=\"cancelled\"} 0"));
  EXPECT_THAT(text, HasSubstr("aisle_admission_limit{class=\"read\"} 16"));
  EXPECT_THAT(text, HasSubstr("aisle_admission_in_flight{class=\"read\"} 3"));
  EXPECT_THAT(text, HasSubstr("aisle_admission_limit{class=\"admin\"} 0"));
}

TEST(MetricsTest, ScrapeCallbackRunsBeforeCollection) {
  Metrics metrics("x");
  metrics.SetScrapeCallback([&metrics] { metrics.SetCatalog(42, 7); });
  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("aisle_catalog_items 42"));
  EXPECT_THAT(text, HasSubstr("aisle_known_users 7"));
}

// The index's own counts restart at 0 with each model version; the
// exported counters only ever add what is new.
TEST(MetricsTest, AnnCacheCountersAddAcrossANewIndex) {
  Metrics metrics("x");
  metrics.SetAnnCache(30, 70, 50);
  metrics.SetAnnCache(45, 80, 60);  // the same index: +15, +10
  std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("aisle_ann_cache_hits_total 45"));
  EXPECT_THAT(text, HasSubstr("aisle_ann_cache_misses_total 80"));
  EXPECT_THAT(text, HasSubstr("aisle_ann_cache_entries 60"));
  metrics.SetAnnCache(5, 20, 20);  // a new index counting from 0
  text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("aisle_ann_cache_hits_total 50"));
  EXPECT_THAT(text, HasSubstr("aisle_ann_cache_misses_total 100"));
  EXPECT_THAT(text, HasSubstr("aisle_ann_cache_entries 20"));
}

// Dashboards and alerts see every series whose labels are known before
// the first event (docs/metrics.md, conventions).
TEST(MetricsTest, KnownSeriesExistFromStartAtZero) {
  Metrics metrics("x");
  const std::string text = Scrape(metrics);
  auto count = [&](const std::string& prefix) {
    int n = 0;
    size_t at = 0;
    while ((at = text.find("\n" + prefix + "{", at)) != std::string::npos) {
      ++n;
      const size_t end = text.find('\n', at + 1);
      EXPECT_EQ(text.substr(end - 2, 2), " 0") << text.substr(at, end - at);
      at = end;
    }
    return n;
  };
  EXPECT_EQ(count("aisle_grpc_requests_total"), kNumMethods * 17);
  EXPECT_EQ(count("aisle_auth_refused_total"), kNumMethods * 2);
  EXPECT_EQ(count("aisle_rpc_shed_total"), kNumMethods * kNumShedReasons);
  EXPECT_EQ(count("aisle_attributed_events_total"),
            (core::kNumScenarios - 1) * 4);
  EXPECT_EQ(count("aisle_recommended_items_total"), core::kNumScenarios - 1);
  EXPECT_EQ(count("aisle_attribution_rejected_total"), kNumIdRejections);
  int named_types = 0;  // a number without a type has no series
  for (int t = 1; t < core::kNumEventTypes; ++t) {
    named_types +=
        core::EventTypeName(static_cast<core::EventType>(t)).empty() ? 0 : 1;
  }
  EXPECT_EQ(count("aisle_events_total"), named_types);
}

}  // namespace
}  // namespace aisle::server
