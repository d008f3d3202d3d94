// Engine::Rank (re-ranking the caller's items) and exploration (the
// popularity penalty and the slots for under-exposed items).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::testing::ElementsAre;

constexpr int64_t kNow = 1'700'000'000'000;

// Items p0..p19 in one category; p_i viewed by 20 - i crowd users, so p0 is
// the most popular.
std::unique_ptr<Engine> PopularityLadder() {
  auto engine = std::make_unique<Engine>(EngineOptions{});
  std::vector<Item> items;
  std::vector<Event> events;
  for (int i = 0; i < 20; ++i) {
    Item item;
    item.item_id = absl::StrCat("p", i);
    item.categories = {"all"};
    items.push_back(item);
    for (int u = 0; u < 20 - i; ++u) {
      Event e;
      e.event_id = absl::StrCat("e", i, "-", u);
      e.user_id = absl::StrCat("crowd", u);
      e.item_id = item.item_id;
      e.type = EventType::kView;
      e.timestamp_ms = kNow;
      events.push_back(e);
    }
  }
  engine->UpsertItems(items);
  engine->ApplyEvents(events);
  return engine;
}

// A model over p0..p2 with one factor: p2 scores highest for any user
// with a positive vector.
std::shared_ptr<const FactorModel> SmallModel() {
  RowMatrix y(3, 1);
  y << 0.1f, 0.5f, 1.0f;
  ModelMetadata meta;
  meta.version = "small";
  meta.factors = 1;
  auto m = FactorModel::Create(meta, {"p0", "p1", "p2"}, y, {}, RowMatrix(),
                               ModelOptions{});
  EXPECT_OK(m);
  return *m;
}

std::vector<std::string> Ids(const std::vector<ScoredItem>& items) {
  std::vector<std::string> ids;
  for (const ScoredItem& s : items) ids.push_back(s.item_id);
  return ids;
}

TEST(RankTest, ModelScoresFirstThenPopularityThenUnknownItems) {
  auto engine = PopularityLadder();
  engine->SwapModel(SmallModel());
  Event e;
  e.event_id = "mine";
  e.user_id = "u";
  e.item_id = "p1";
  e.type = EventType::kPurchase;
  e.timestamp_ms = kNow;
  engine->ApplyEvents(std::vector<Event>{e});

  RankRequest request{"u", {"nope", "p5", "p0", "p2", "p1", "p4"}, true};
  const RankResult r = engine->Rank(request);
  EXPECT_FALSE(r.fallback);
  EXPECT_EQ(r.model_version, "small");
  // The model's items by score (p2 > p1 > p0), the others by popularity,
  // the unknown one last; the user's own item p1 is kept.
  EXPECT_THAT(Ids(r.items), ElementsAre("p2", "p1", "p0", "p4", "p5", "nope"));
  EXPECT_THAT(r.unknown_item_ids, ElementsAre("nope"));
  EXPECT_EQ(r.items[0].source, Source::kFactorModel);
  EXPECT_EQ(r.items[3].source, Source::kPopularity);
  EXPECT_FALSE(r.items[0].reasons.empty());

  const RankResult stranger = engine->Rank({"stranger", {"p5", "p0"}, false});
  EXPECT_TRUE(stranger.fallback);
  EXPECT_EQ(stranger.fallback_reason, "unknown user");
  EXPECT_THAT(Ids(stranger.items), ElementsAre("p0", "p5"));
}

double MeanIndex(const Recommendation& r) {
  double sum = 0;
  for (const ScoredItem& s : r.items) sum += std::stoi(s.item_id.substr(1));
  return sum / static_cast<double>(r.items.size());
}

TEST(ExplorationTest, MovesRecommendationsTowardsTheLongTail) {
  auto engine = PopularityLadder();
  RecommendRequest request;
  request.scenario = Scenario::kTrending;
  request.count = 5;
  double previous = -1;
  for (double e : {0.0, 0.5, 1.0}) {
    request.exploration = e;
    absl::StatusOr<Recommendation> r = engine->Recommend(request);
    ASSERT_OK(r);
    ASSERT_EQ(r->items.size(), 5u);
    const double mean = MeanIndex(*r);  // higher = less popular
    EXPECT_GT(mean, previous) << "exploration " << e;
    previous = mean;
  }
  request.exploration = 0;
  absl::StatusOr<Recommendation> plain = engine->Recommend(request);
  ASSERT_OK(plain);
  EXPECT_THAT(Ids(plain->items), ElementsAre("p0", "p1", "p2", "p3", "p4"));
}

TEST(ExplorationTest, SlotsGoToTheLeastShownCandidates) {
  auto engine = PopularityLadder();
  // Every candidate past the head but p9 has been shown a lot.
  std::vector<Event> shown;
  for (int i = 0; i < 20; ++i) {
    if (i == 9) continue;
    for (int k = 0; k < 50; ++k) {
      Event e;
      e.event_id = absl::StrCat("imp", i, "-", k);
      e.user_id = "viewer";
      e.item_id = absl::StrCat("p", i);
      e.type = EventType::kImpression;
      e.timestamp_ms = kNow;
      shown.push_back(e);
    }
  }
  engine->ApplyEvents(shown);
  RecommendRequest request;
  request.scenario = Scenario::kTrending;
  request.count = 4;
  request.exploration = 0.5;  // one slot of four
  absl::StatusOr<Recommendation> r = engine->Recommend(request);
  ASSERT_OK(r);
  EXPECT_THAT(Ids(r->items), ::testing::Contains("p9"));
}

}  // namespace
}  // namespace aisle::core
