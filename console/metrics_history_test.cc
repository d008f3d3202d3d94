#include "console/metrics_history.h"

#include <memory>

#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace aisle::console {
namespace {

// A registry with the server's metric names (docs/metrics.md).
class MetricsHistoryTest : public ::testing::Test {
 protected:
  MetricsHistoryTest()
      : registry_(std::make_shared<prometheus::Registry>()),
        requests_(prometheus::BuildCounter()
                      .Name("aisle_grpc_requests_total")
                      .Register(*registry_)),
        recommend_ok_(requests_.Add({{"method", "Recommend"}, {"code", "OK"}})),
        recommend_err_(requests_.Add(
            {{"method", "Recommend"}, {"code", "INVALID_ARGUMENT"}})),
        get_item_(requests_.Add({{"method", "GetItem"}, {"code", "OK"}})),
        events_(prometheus::BuildCounter()
                    .Name("aisle_events_total")
                    .Register(*registry_)
                    .Add({{"type", "click"}})),
        latency_(prometheus::BuildHistogram()
                     .Name("aisle_grpc_request_duration_seconds")
                     .Register(*registry_)
                     .Add({{"method", "Recommend"}},
                          prometheus::Histogram::BucketBoundaries{0.001, 0.01,
                                                                  0.1})) {}

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Counter& recommend_ok_;
  prometheus::Counter& recommend_err_;
  prometheus::Counter& get_item_;
  prometheus::Counter& events_;
  prometheus::Histogram& latency_;
};

TEST_F(MetricsHistoryTest, PointsAreDifferencesOverTime) {
  MetricsHistory history(registry_, 10);
  recommend_ok_.Increment(100);
  history.Sample(1'000);
  recommend_ok_.Increment(30);
  recommend_err_.Increment(10);
  get_item_.Increment(500);  // another method: not in the Recommend rate
  events_.Increment(8);
  for (int i = 0; i < 98; ++i) latency_.Observe(0.005);  // (1 ms, 10 ms]
  latency_.Observe(0.05);                                // (10 ms, 100 ms]
  latency_.Observe(0.05);
  history.Sample(3'000);  // 2 s later

  google::protobuf::ListValue points;
  google::protobuf::Struct totals;
  history.ToStruct(&points, &totals);
  ASSERT_EQ(points.values_size(), 1);
  const auto& p = points.values(0).struct_value().fields();
  EXPECT_DOUBLE_EQ(p.at("t_ms").number_value(), 3000);
  EXPECT_DOUBLE_EQ(p.at("recommend_per_s").number_value(), 20);  // 40 / 2 s
  EXPECT_DOUBLE_EQ(p.at("events_per_s").number_value(), 4);
  EXPECT_DOUBLE_EQ(p.at("feedback_per_s").number_value(), 0);
  EXPECT_DOUBLE_EQ(p.at("recommend_p50_ms").number_value(), 10);
  EXPECT_DOUBLE_EQ(p.at("recommend_p99_ms").number_value(), 100);
  EXPECT_DOUBLE_EQ(totals.fields().at("recommend_total").number_value(), 140);
}

TEST_F(MetricsHistoryTest, KeepsTheLastSamplesAndDropsTooCloseOnes) {
  MetricsHistory history(registry_, 3);
  for (int i = 0; i < 6; ++i) history.Sample(1'000 * (i + 1));
  history.Sample(6'050);  // 50 ms after the last: dropped
  google::protobuf::ListValue points;
  google::protobuf::Struct totals;
  history.ToStruct(&points, &totals);
  ASSERT_EQ(points.values_size(), 2);
  EXPECT_DOUBLE_EQ(
      points.values(1).struct_value().fields().at("t_ms").number_value(), 6000);
  // No call finished: no latency rather than a made-up one.
  EXPECT_DOUBLE_EQ(points.values(1)
                       .struct_value()
                       .fields()
                       .at("recommend_p99_ms")
                       .number_value(),
                   0);
}

TEST(MetricsHistoryWithoutMetrics, HasNoPoints) {
  MetricsHistory history(nullptr, 5);
  history.Sample(1'000);
  history.Sample(2'000);
  google::protobuf::ListValue points;
  google::protobuf::Struct totals;
  history.ToStruct(&points, &totals);
  EXPECT_EQ(points.values_size(), 0);
  EXPECT_TRUE(totals.fields().empty());
}

}  // namespace
}  // namespace aisle::console
