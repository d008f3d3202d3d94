#include "core/demo_data.h"

#include <map>
#include <set>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/engine.h"
#include "core/eval.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

DemoOptions Small() {
  DemoOptions o;
  o.items = 2000;
  o.users = 600;
  o.events = 60000;
  o.days = 30;
  return o;
}

TEST(DemoDataTest, SameSeedSameOutputOtherSeedDifferent) {
  const DemoData a = GenerateDemoData(Small());
  const DemoData b = GenerateDemoData(Small());
  ASSERT_EQ(a.items.size(), b.items.size());
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.items.size(); ++i) {
    EXPECT_EQ(a.items[i].title, b.items[i].title);
    EXPECT_EQ(a.items[i].price, b.items[i].price);
    EXPECT_EQ(a.items[i].categories, b.items[i].categories);
  }
  for (size_t i = 0; i < a.events.size(); ++i) {
    ASSERT_EQ(a.events[i].event_id, b.events[i].event_id);
    ASSERT_EQ(a.events[i].user_id, b.events[i].user_id);
    ASSERT_EQ(a.events[i].item_id, b.events[i].item_id);
    ASSERT_EQ(a.events[i].type, b.events[i].type);
    ASSERT_EQ(a.events[i].timestamp_ms, b.events[i].timestamp_ms);
  }
  DemoOptions other = Small();
  other.seed = 7;
  const DemoData c = GenerateDemoData(other);
  int same = 0;
  for (size_t i = 0; i < std::min(a.events.size(), c.events.size()); ++i) {
    same += a.events[i].item_id == c.events[i].item_id ? 1 : 0;
  }
  EXPECT_LT(same, static_cast<int>(a.events.size() / 10));
}

TEST(DemoDataTest, SizesIdsAndShapeAreAsSpecified) {
  const DemoOptions o = Small();
  const DemoData d = GenerateDemoData(o);
  ASSERT_EQ(d.items.size(), 2000u);
  EXPECT_GE(static_cast<int64_t>(d.events.size()), o.events);
  EXPECT_LT(static_cast<int64_t>(d.events.size()), o.events + 16);

  absl::flat_hash_set<std::string> item_ids;
  int available = 0;
  std::set<std::string> leaves;
  for (const Item& item : d.items) {
    EXPECT_EQ(item.item_id[0], 'i');
    EXPECT_TRUE(item_ids.insert(item.item_id).second);
    ASSERT_EQ(item.categories.size(), 1u);
    EXPECT_EQ(
        std::count(item.categories[0].begin(), item.categories[0].end(), '/'),
        2);
    leaves.insert(item.categories[0]);
    EXPECT_GT(item.price, 0);
    EXPECT_FALSE(item.title.empty());
    available += item.available ? 1 : 0;
  }
  EXPECT_EQ(leaves.size(), 8u * 5 * 4);
  EXPECT_NEAR(available / 2000.0, 0.95, 0.02);

  std::map<EventType, int> by_type;
  absl::flat_hash_set<std::string> event_ids, users;
  int64_t last_ts = 0;
  for (const Event& e : d.events) {
    EXPECT_TRUE(event_ids.insert(e.event_id).second);
    EXPECT_TRUE(item_ids.contains(e.item_id)) << e.item_id;
    EXPECT_EQ(e.user_id[0], 'u');
    EXPECT_GE(e.timestamp_ms, last_ts);
    last_ts = e.timestamp_ms;
    EXPECT_GE(e.timestamp_ms, o.end_ms - int64_t{o.days + 2} * 86400000);
    ++by_type[e.type];
    users.insert(e.user_id);
  }
  EXPECT_GT(users.size(), 500u);
  // The funnel: view >> click > add_to_cart > purchase; the rest occur.
  EXPECT_GT(by_type[EventType::kView], 3 * by_type[EventType::kClick]);
  EXPECT_GT(by_type[EventType::kClick], by_type[EventType::kAddToCart]);
  EXPECT_GT(by_type[EventType::kAddToCart], by_type[EventType::kPurchase]);
  EXPECT_GT(by_type[EventType::kPurchase], 0);
  EXPECT_GT(by_type[EventType::kRating], 0);
  EXPECT_GT(by_type[EventType::kDislike], 0);
  EXPECT_GT(by_type[EventType::kImpression], 0);
  EXPECT_GT(by_type[EventType::kRemoveFromCart], 0);
}

// The planted tastes are learnable: ALS trained on the first 80% of the
// period ranks the items users go on to interact with (new to them) better
// than popularity does.
TEST(DemoDataTest, AlsBeatsPopularityOnHeldOutEvents) {
  const DemoData d = GenerateDemoData(Small());
  const int64_t cutoff =
      d.events.front().timestamp_ms +
      (d.events.back().timestamp_ms - d.events.front().timestamp_ms) * 8 / 10;
  std::vector<Event> train;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> seen, held;
  for (const Event& e : d.events) {
    if (e.timestamp_ms < cutoff) {
      train.push_back(e);
      if (e.type != EventType::kImpression) seen[e.user_id].insert(e.item_id);
    }
  }
  for (const Event& e : d.events) {
    if (e.timestamp_ms >= cutoff && e.type != EventType::kImpression &&
        e.type != EventType::kDislike && seen.contains(e.user_id) &&
        !seen[e.user_id].contains(e.item_id)) {
      held[e.user_id].insert(e.item_id);
    }
  }
  ASSERT_GT(held.size(), 200u);

  const auto ndcg = [&](const Engine& engine) {
    double sum = 0;
    for (const auto& [user, items] : held) {
      RecommendRequest req;
      req.user_id = user;
      req.count = 10;
      auto rec = engine.Recommend(req);
      EXPECT_OK(rec);
      std::vector<std::string> ids;
      for (const auto& s : rec->items) ids.push_back(s.item_id);
      sum += ScoreRanking(ids, items, 10).ndcg;
    }
    return sum / held.size();
  };

  EngineOptions popular_options;
  popular_options.for_you = {false, false, false, false, false};
  Engine popular(popular_options);
  popular.UpsertItems(d.items);
  popular.ReplayEvents(train);

  Engine als(EngineOptions{});
  als.UpsertItems(d.items);
  als.ReplayEvents(train);
  Engine::TrainingData data = als.ExportTrainingData();
  AlsOptions ao;
  ao.factors = 32;
  ao.regularization = 5;
  ao.iterations = 10;
  auto factors = TrainAls(data.user_items, ao);
  ASSERT_OK(factors);
  ModelMetadata meta;
  meta.version = "demo";
  meta.factors = ao.factors;
  ModelOptions mo;
  mo.als = ao;
  auto model = FactorModel::Create(meta, data.item_ids, factors->items,
                                   data.user_ids, factors->users, mo);
  ASSERT_OK(model);
  als.SwapModel(*model);

  const double pop_ndcg = ndcg(popular);
  const double als_ndcg = ndcg(als);
  std::cout << "[demo] held-out nDCG@10 popular " << pop_ndcg << " als "
            << als_ndcg << " (" << held.size() << " users)\n";
  EXPECT_GT(als_ndcg, 1.3 * pop_ndcg);
}

}  // namespace
}  // namespace aisle::core
