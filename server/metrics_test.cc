#include "server/metrics.h"

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

// Every name in notes/metrics.md (the contract with deploy/) is exported,
// even before anything happened.
TEST(MetricsTest, ExportsEveryContractName) {
  Metrics metrics("1.2.3");
  metrics.RpcStarted(Method::kRecommend);
  metrics.RpcFinished(Method::kRecommend, grpc::StatusCode::OK, 0.001);
  metrics.EventAttributed(core::Scenario::kForYou, "default",
                          core::EventType::kClick);
  metrics.Recommended(core::Scenario::kForYou, "default", false, 10);
  metrics.SetModel("v1", 1000);
  const std::string text = Scrape(metrics);
  for (const char* name : {
           "aisle_build_info",
           "aisle_up",
           "aisle_grpc_requests_total",
           "aisle_grpc_request_duration_seconds",
           "aisle_grpc_requests_in_flight",
           "aisle_model_info",
           "aisle_model_trained_timestamp_seconds",
           "aisle_model_age_seconds",
           "aisle_catalog_items",
           "aisle_known_users",
           "aisle_events_total",
           "aisle_events_duplicate_total",
           "aisle_fold_in_duration_seconds",
           "aisle_retrieval_duration_seconds",
           "aisle_candidates_total",
           "aisle_recommendations_total",
           "aisle_recommend_fallback_total",
           "aisle_storage_write_duration_seconds",
           "aisle_storage_read_duration_seconds",
           "aisle_storage_live_data_bytes",
           "aisle_storage_pending_compaction_bytes",
           "aisle_storage_memtable_bytes",
           "aisle_attributed_events_total",
           "aisle_recommended_items_total",
       }) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + name + " ")) << name;
  }
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

TEST(MetricsTest, ScrapeCallbackRunsBeforeCollection) {
  Metrics metrics("x");
  metrics.SetScrapeCallback([&metrics] { metrics.SetCatalog(42, 7); });
  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("aisle_catalog_items 42"));
  EXPECT_THAT(text, HasSubstr("aisle_known_users 7"));
}

}  // namespace
}  // namespace aisle::server
