#include "core/engine.h"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/check.h"
#include "core/engine_test_util.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Catalog: 4 leaf categories x 6 items ("t0".."t5" trail shoes,
// "r0".."r5" road shoes, "b0".."b5" fiction books, "k0".."k5" kitchen),
// prices 10 * (index + 1), the last of each unavailable.
std::vector<Item> Catalog() {
  std::vector<Item> items;
  const std::vector<std::pair<std::string, std::string>> cats = {
      {"t", "shoes/running/trail"},
      {"r", "shoes/running/road"},
      {"b", "books/fiction"},
      {"k", "home/kitchen"}};
  for (const auto& [prefix, cat] : cats) {
    for (int i = 0; i < 6; ++i) {
      items.push_back(
          MakeItem(absl::StrCat(prefix, i), cat, 10.0 * (i + 1), i != 5));
    }
  }
  return items;
}

// Popularity: b0 > b1 > k0 > ... (views by distinct crowd users).
void AddCrowd(Engine& engine) {
  std::vector<Event> events;
  const std::vector<std::pair<std::string, int>> views = {
      {"b0", 9}, {"b1", 8}, {"k0", 7}, {"k1", 6}, {"t0", 5}, {"r0", 4}};
  int user = 0;
  for (const auto& [item, n] : views) {
    for (int i = 0; i < n; ++i) {
      events.push_back(
          Ev(absl::StrCat("crowd", user++), item, EventType::kView));
    }
  }
  engine.ApplyEvents(events);
}

// The sources before the session signal (core/session_test.cc tests it):
// these tests pin what the others do.
std::unique_ptr<Engine> NewEngine(EngineOptions options = {}) {
  auto engine = std::make_unique<Engine>(options);
  const auto items = Catalog();
  engine->UpsertItems(items);
  return engine;
}

// A model with 2 factors: shoes point along x, books along y, kitchen
// along both (weaker). Fold-in regularization is small so that a user's
// vector follows their items.
std::shared_ptr<const FactorModel> TasteModel(const std::string& version,
                                              ModelOptions options = {}) {
  std::vector<std::string> ids;
  RowMatrix y(24, 2);
  int row = 0;
  for (const char* prefix : {"t", "r", "b", "k"}) {
    for (int i = 0; i < 6; ++i, ++row) {
      ids.push_back(absl::StrCat(prefix, i));
      const float s = 1.0f - 0.05f * i;  // lower index, stronger
      if (prefix[0] == 't' || prefix[0] == 'r') {
        y.row(row) << s, 0.05f * i;
      } else if (prefix[0] == 'b') {
        y.row(row) << 0.05f * i, s;
      } else {
        y.row(row) << 0.3f * s, 0.3f * s;
      }
    }
  }
  ModelMetadata meta;
  meta.version = version;
  meta.trained_at_ms = kT0;
  meta.factors = 2;
  meta.parameters = {{"alpha", "1"}, {"regularization", "0.1"}};
  auto m = FactorModel::Create(meta, ids, y, {}, RowMatrix(), options);
  EXPECT_OK(m);
  return *m;
}

TEST(EngineTest, EventWeightsPerType) {
  EventWeights w;
  EXPECT_EQ(w.For(EventType::kView, 0), 1.0f);
  EXPECT_EQ(w.For(EventType::kPurchase, 3), 8.0f);
  EXPECT_EQ(w.For(EventType::kRemoveFromCart, 1), -2.0f);
  EXPECT_EQ(w.For(EventType::kRating, 4), 4.0f);
  EXPECT_EQ(w.For(EventType::kImpression, 0), 0.0f);
  EXPECT_EQ(w.For(EventType::kDislike, 0), 0.0f);
}

TEST(EngineTest, ColdStartFallsBackToPopularityWithReason) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  struct Case {
    std::string user;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{{"", "anonymous user"},
                                         {"stranger", "unknown user"}}) {
    auto req = Req(Scenario::kForYou, c.user, 3);
    req.explain = true;
    auto r = engine->Recommend(req);
    ASSERT_OK(r);
    EXPECT_EQ(Ids(*r), (std::vector<std::string>{"b0", "b1", "k0"})) << c.user;
    EXPECT_TRUE(r->fallback);
    EXPECT_EQ(r->fallback_reason, c.reason);
    EXPECT_EQ(r->source, Source::kPopularity);
    EXPECT_TRUE(r->model_version.empty());
    ASSERT_EQ(r->items[0].reasons.size(), 2u);
    EXPECT_EQ(r->items[0].reasons[0].code, ReasonCode::kPopular);
    EXPECT_EQ(r->items[0].reasons[1].code, ReasonCode::kNewUserFallback);
    EXPECT_GT(r->items[0].score, r->items[2].score);
  }
}

TEST(EngineTest, CountIsFilledWheneverEnoughEligibleItemsExist) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  std::vector<Event> events;
  for (const char* item : {"b0", "b1", "b2", "k0", "k1", "t0", "t1", "r0"}) {
    events.push_back(Ev("u", item, EventType::kView));
  }
  engine->ApplyEvents(events);
  for (int count : {1, 5, 10, 16}) {
    auto r = engine->Recommend(Req(Scenario::kForYou, "u", count));
    ASSERT_OK(r);
    EXPECT_EQ(r->items.size(), static_cast<size_t>(count)) << count;
    const std::vector<std::string> ids = Ids(*r);
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
    for (const auto& id : ids) {
      EXPECT_FALSE(
          Contains({"b0", "b1", "b2", "k0", "k1", "t0", "t1", "r0"}, id))
          << id;
    }
  }
  // 24 items - 8 seen = 16 eligible: asking for more returns all 16.
  auto r = engine->Recommend(Req(Scenario::kForYou, "u", 50));
  ASSERT_OK(r);
  EXPECT_EQ(r->items.size(), 16u);
  EXPECT_TRUE(engine->Recommend(Req(Scenario::kForYou, "u", 0))->items.empty());
}

TEST(EngineTest, FiltersApplyToEveryCandidate) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  engine->DeleteItems(std::vector<std::string>{"b2"});
  struct Case {
    std::string name;
    Filter filter;
    std::function<bool(const std::string&)> ok;
    size_t expected;
  };
  const auto starts = [](const std::string& p) {
    return [p](const std::string& id) { return id.rfind(p, 0) == 0; };
  };
  std::vector<Case> cases;
  cases.push_back(
      {"include_department",
       {},
       [](const std::string& id) { return id[0] == 't' || id[0] == 'r'; },
       12});
  cases.back().filter.include_categories = {"shoes"};
  cases.push_back({"include_leaf_with_slash", {}, starts("t"), 6});
  cases.back().filter.include_categories = {"/shoes/running/trail/"};
  cases.push_back({"prefix_is_per_segment", {}, starts("none"), 0});
  cases.back().filter.include_categories = {"sho"};
  cases.push_back(
      {"exclude",
       {},
       [](const std::string& id) { return id[0] == 'b' || id[0] == 'k'; },
       11});  // b2 deleted
  cases.back().filter.exclude_categories = {"shoes/running"};
  cases.push_back({"exclude_ids",
                   {},
                   [](const std::string& id) {
                     return id != "b0" && id != "k0" && id != "b2";
                   },
                   21});
  cases.back().filter.exclude_item_ids = {"b0", "k0", "unknown"};
  cases.push_back(
      {"price_range",
       {},
       [](const std::string& id) { return id[1] == '1' || id[1] == '2'; },
       7});
  cases.back().filter.min_price = 20;
  cases.back().filter.max_price = 30;
  cases.push_back({"available_only",
                   {},
                   [](const std::string& id) { return id[1] != '5'; },
                   19});
  cases.back().filter.available_only = true;
  for (const Case& c : cases) {
    for (Scenario s : {Scenario::kForYou, Scenario::kTrending}) {
      auto req = Req(s, "", 100);
      req.filter = c.filter;
      auto r = engine->Recommend(req);
      ASSERT_OK(r) << c.name;
      EXPECT_EQ(r->items.size(), c.expected) << c.name;
      for (const auto& id : Ids(*r)) {
        EXPECT_TRUE(c.ok(id)) << c.name << " returned " << id;
        EXPECT_NE(id, "b2") << "deleted item returned";
      }
    }
  }
}

TEST(EngineTest, IncludeSeenControlsInteractedItemsButNotImpressions) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  engine->ApplyEvents(std::vector<Event>{
      Ev("u", "b0", EventType::kView), Ev("u", "b1", EventType::kImpression)});
  auto req = Req(Scenario::kForYou, "u", 3);
  auto unseen = engine->Recommend(req);
  ASSERT_OK(unseen);
  EXPECT_FALSE(Contains(Ids(*unseen), "b0"));
  EXPECT_TRUE(Contains(Ids(*unseen), "b1"));  // only an impression
  req.include_seen = true;
  req.count = 24;
  EXPECT_TRUE(Contains(Ids(*engine->Recommend(req)), "b0"));
}

TEST(EngineTest, DislikeBlocksTheItemEverywhereUntilErased) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  engine->ApplyEvents(std::vector<Event>{
      Ev("u", "b0", EventType::kView, kT0),
      Ev("u", "b1", EventType::kView, kT0 + 1),
      Ev("u", "b0", EventType::kDislike, kT0 + 2),
      Ev("u", "b0", EventType::kPurchase, kT0 + 3)});  // still blocked
  for (Scenario s : {Scenario::kForYou, Scenario::kTrending,
                     Scenario::kRecentlyViewed, Scenario::kSimilarItems}) {
    auto req = Req(s, "u", 30);
    req.include_seen = true;
    req.context_item_ids = {"b1"};
    auto r = engine->Recommend(req);
    ASSERT_OK(r) << ScenarioName(s);
    EXPECT_FALSE(Contains(Ids(*r), "b0")) << ScenarioName(s);
  }
  // No longer a positive: not exported for training.
  const auto data = engine->ExportTrainingData();
  for (size_t u = 0; u < data.user_ids.size(); ++u) {
    if (data.user_ids[u] != "u") continue;
    for (int64_t k = data.user_items.row_ptr[u];
         k < data.user_items.row_ptr[u + 1]; ++k) {
      EXPECT_NE(data.item_ids[data.user_items.col[k]], "b0");
    }
  }
  EXPECT_TRUE(engine->EraseUser("u"));
  auto req = Req(Scenario::kForYou, "u", 1);
  EXPECT_EQ(Ids(*engine->Recommend(req)), std::vector<std::string>{"b0"});
}

TEST(EngineTest, CoOccurrenceDrivesForYouWithoutAModelAndReadsYourWrites) {
  auto engine = NewEngine(WithoutSession());
  AddCrowd(*engine);
  std::vector<Event> events;
  for (int u = 0; u < 4; ++u) {
    const std::string user = absl::StrCat("fan", u);
    events.push_back(Ev(user, "t3", EventType::kView, kT0 + u));
    events.push_back(Ev(user, "k4", EventType::kView, kT0 + u));
  }
  engine->ApplyEvents(events);
  auto req = Req(Scenario::kForYou, "u", 3);
  req.explain = true;
  auto before = engine->Recommend(req);
  ASSERT_OK(before);
  EXPECT_TRUE(before->fallback);
  EXPECT_FALSE(Contains(Ids(*before), "k4"));

  engine->ApplyEvents(std::vector<Event>{Ev("u", "t3", EventType::kClick)});
  auto after = engine->Recommend(req);
  ASSERT_OK(after);
  ASSERT_FALSE(after->items.empty());
  EXPECT_EQ(after->items[0].item_id, "k4");
  EXPECT_EQ(after->items[0].source, Source::kCoOccurrence);
  EXPECT_FALSE(after->fallback);
  EXPECT_EQ(after->source, Source::kCoOccurrence);
  ASSERT_FALSE(after->items[0].reasons.empty());
  EXPECT_EQ(after->items[0].reasons[0].code, ReasonCode::kBecauseYouInteracted);
  EXPECT_EQ(after->items[0].reasons[0].related_item_id, "t3");
  EXPECT_EQ(after->items[0].reasons[0].detail, "Because you clicked Title t3");
  // The rest is topped up: count is met.
  EXPECT_EQ(after->items.size(), 3u);

  // Anonymous with context items: co-occurrence of the context.
  auto anon = Req(Scenario::kForYou, "", 1);
  anon.context_item_ids = {"k4"};
  EXPECT_EQ(Ids(*engine->Recommend(anon)), std::vector<std::string>{"t3"});
}

TEST(EngineTest, FrequentlyBoughtTogetherPrefersCartCoOccurrence) {
  auto engine = NewEngine();
  std::vector<Event> events;
  for (int u = 0; u < 6; ++u) {  // a and k2 viewed together often
    events.push_back(Ev(absl::StrCat("v", u), "t0", EventType::kView));
    events.push_back(Ev(absl::StrCat("v", u), "k2", EventType::kView));
  }
  for (int u = 0; u < 2; ++u) {  // t0 and r1 bought together
    events.push_back(Ev(absl::StrCat("c", u), "t0", EventType::kAddToCart));
    events.push_back(Ev(absl::StrCat("c", u), "r1", EventType::kPurchase));
  }
  engine->ApplyEvents(events);
  auto req = Req(Scenario::kFrequentlyBoughtTogether, "", 3);
  req.context_item_ids = {"t0"};
  req.explain = true;
  auto r = engine->Recommend(req);
  ASSERT_OK(r);
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].item_id, "r1");
  EXPECT_EQ(r->items[1].item_id, "k2");
  EXPECT_FALSE(Contains(Ids(*r), "t0"));  // context excluded
  EXPECT_EQ(r->items[0].reasons[0].code, ReasonCode::kBoughtTogether);
  EXPECT_EQ(r->items[0].reasons[0].related_item_id, "t0");
  EXPECT_FALSE(r->fallback);

  // Nothing co-occurs with b3: fallback (content, then popularity).
  req.context_item_ids = {"b3"};
  auto none = engine->Recommend(req);
  ASSERT_OK(none);
  EXPECT_TRUE(none->fallback);
  EXPECT_EQ(none->items.size(), 3u);
  EXPECT_EQ(none->items[0].source, Source::kContent);  // other fiction
  EXPECT_EQ(none->items[0].item_id[0], 'b');
}

TEST(EngineTest, UnknownContextItemsFallBackOrAreNotFound) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  auto req = Req(Scenario::kSimilarItems, "", 3);
  req.context_item_ids = {"nope"};
  auto r = engine->Recommend(req);
  ASSERT_OK(r);
  EXPECT_TRUE(r->fallback);
  EXPECT_EQ(r->fallback_reason, "unknown context items");
  EXPECT_EQ(r->items.size(), 3u);

  Engine empty(EngineOptions{});
  EXPECT_THAT(empty.Recommend(req), StatusIs(absl::StatusCode::kNotFound, _));
}

// The stop condition: a deadline already past means no work at all; a
// caller that gives up between stages gets Cancelled at the next check. A
// counting callback pins down exactly where the checks are.
TEST(EngineTest, StopsAtTheDeadlineOrWhenCancelled) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  auto req = Req(Scenario::kForYou, "", 3);
  req.deadline = absl::InfinitePast();
  EXPECT_THAT(engine->Recommend(req),
              StatusIs(absl::StatusCode::kDeadlineExceeded, _));

  req.deadline = absl::InfiniteFuture();
  int checks = 0;
  for (int give_up_at : {1, 2, 3}) {
    checks = 0;
    req.cancelled = [&checks, give_up_at] { return ++checks >= give_up_at; };
    EXPECT_THAT(engine->Recommend(req),
                StatusIs(absl::StatusCode::kCancelled, _))
        << give_up_at;
    EXPECT_EQ(checks, give_up_at);
  }
  // Never cancelled: checked three times (before the work, after the
  // candidate sources, after the re-rank) and the answer is unchanged.
  checks = 0;
  req.cancelled = [&checks] { return ++checks < 0; };
  auto r = engine->Recommend(req);
  ASSERT_OK(r);
  EXPECT_EQ(checks, 3);
  EXPECT_EQ(Ids(*r), (std::vector<std::string>{"b0", "b1", "k0"}));
}

// The shape of requests and events is the caller's REQUIRES: the server
// rejects bad ones with a message (server/validation_test.cc); the engine
// only asserts, in debug and sanitizer builds.
#if AISLE_DCHECK_IS_ON
TEST(EngineDeathTest, RequiresValidRequestsAndEvents) {
  auto engine = NewEngine();
  EXPECT_DEATH(engine->Recommend(Req(static_cast<Scenario>(77))).IgnoreError(),
               "REQUIRES failed");
  EXPECT_DEATH(engine->Recommend(Req(Scenario::kForYou, "u", -1)).IgnoreError(),
               "REQUIRES failed");
  EXPECT_DEATH(engine->Recommend(Req(Scenario::kSimilarItems)).IgnoreError(),
               "REQUIRES failed");
  EXPECT_DEATH(
      engine->Recommend(Req(Scenario::kFrequentlyBoughtTogether)).IgnoreError(),
      "REQUIRES failed");
  EXPECT_DEATH(
      engine->ApplyEvents(std::vector<Event>{Ev("", "b0", EventType::kView)}),
      "REQUIRES failed");
  EXPECT_DEATH(
      engine->ApplyEvents(std::vector<Event>{Ev("u", "", EventType::kView)}),
      "REQUIRES failed");
  EXPECT_DEATH(engine->ReplayEvents(
                   std::vector<Event>{Ev("u", "b0", EventType::kUnspecified)}),
               "REQUIRES failed");
  EXPECT_DEATH(engine->ApplyEvents(std::vector<Event>{
                   Ev("u", "b0", static_cast<EventType>(kNumEventTypes))}),
               "REQUIRES failed");
}
#endif

TEST(EngineTest, SimilarItemsUsesVectorsWhenTheModelKnowsTheItem) {
  auto engine = NewEngine();
  // Co-occurrence says t0 ~ b4; the vectors say t0 ~ t1 (shoes).
  std::vector<Event> events;
  for (int u = 0; u < 3; ++u) {
    events.push_back(Ev(absl::StrCat("x", u), "t0", EventType::kView));
    events.push_back(Ev(absl::StrCat("x", u), "b4", EventType::kView));
  }
  engine->ApplyEvents(events);
  auto req = Req(Scenario::kSimilarItems, "", 2);
  req.context_item_ids = {"t0"};
  req.explain = true;
  auto co = engine->Recommend(req);
  ASSERT_OK(co);
  EXPECT_EQ(co->items[0].item_id, "b4");
  EXPECT_EQ(co->items[0].source, Source::kCoOccurrence);

  engine->SwapModel(TasteModel("m1"));
  RecommendTrace trace;
  auto vec = engine->Recommend(req, &trace);
  ASSERT_OK(vec);
  EXPECT_EQ(vec->model_version, "m1");
  ASSERT_EQ(vec->items.size(), 2u);
  EXPECT_EQ(vec->items[0].source, Source::kItemSimilarity);
  EXPECT_EQ(vec->items[0].item_id[0] == 't' || vec->items[0].item_id[0] == 'r',
            true)
      << vec->items[0].item_id;
  EXPECT_NEAR(vec->items[0].score, 1.0, 0.01);  // cosine
  EXPECT_EQ(vec->items[0].reasons[0].code, ReasonCode::kSimilarTo);
  EXPECT_EQ(vec->items[0].reasons[0].related_item_id, "t0");
  EXPECT_TRUE(trace.used_exact);
  EXPECT_EQ(
      trace.candidates_by_source[static_cast<int>(Source::kItemSimilarity)], 2);
}

TEST(EngineTest, ForYouFollowsTheUsersVectorAndExplainsWithTheirItem) {
  auto engine = NewEngine();
  AddCrowd(*engine);  // books are the most popular
  engine->SwapModel(TasteModel("m1"));
  engine->ApplyEvents(std::vector<Event>{Ev("u", "t2", EventType::kPurchase),
                                         Ev("u", "b5", EventType::kView)});
  auto req = Req(Scenario::kForYou, "u", 4);
  req.explain = true;
  RecommendTrace trace;
  auto r = engine->Recommend(req, &trace);
  ASSERT_OK(r);
  ASSERT_EQ(r->items.size(), 4u);
  EXPECT_FALSE(r->fallback);
  EXPECT_EQ(r->source, Source::kFactorModel);
  EXPECT_EQ(r->items[0].source, Source::kFactorModel);
  EXPECT_TRUE(r->items[0].item_id[0] == 't' || r->items[0].item_id[0] == 'r');
  EXPECT_FALSE(Contains(Ids(*r), "t2"));
  EXPECT_EQ(r->items[0].reasons[0].code, ReasonCode::kMatchesYourTaste);
  EXPECT_EQ(r->items[0].reasons[0].related_item_id, "t2");
  EXPECT_EQ(r->items[0].reasons[0].detail, "Because you bought Title t2");
  EXPECT_TRUE(trace.used_exact);
  EXPECT_FALSE(trace.used_ann);
  EXPECT_TRUE(engine->GetUser("u")->has_vector);

  // Read-your-writes: a strong turn towards books changes the list.
  std::vector<Event> books;
  for (const char* b : {"b0", "b1", "b2"})
    books.push_back(Ev("u", b, EventType::kPurchase));
  engine->ApplyEvents(books);
  auto after = engine->Recommend(req);
  ASSERT_OK(after);
  EXPECT_EQ(after->items[0].item_id[0], 'b') << after->items[0].item_id;
}

// An engine serving TasteModel("m1") with a catalog item it lacks, "new".
std::unique_ptr<Engine> EngineWithANewItem() {
  auto engine = NewEngine(WithoutSession());
  engine->UpsertItems(std::vector<Item>{MakeItem("new", "books/fiction")});
  engine->SwapModel(TasteModel("m1"));  // has no vector for "new"
  return engine;
}

// Three shoppers f0..f2 view "new"; FOR_YOU `req` must then blend it in.
void ExpectNewBlendedInAfterViews(Engine& engine, const RecommendRequest& req) {
  std::vector<Event> views;
  for (int u = 0; u < 3; ++u) {
    views.push_back(Ev(absl::StrCat("f", u), "new", EventType::kView));
  }
  engine.ApplyEvents(views);
  auto r = engine.Recommend(req);
  ASSERT_OK(r);
  EXPECT_TRUE(Contains(Ids(*r), "new")) << "cold item not blended in";
}

TEST(EngineTest, ForYouBlendsItemsTheModelDoesNotKnow) {
  auto engine = EngineWithANewItem();
  std::vector<Event> events;
  for (int u = 0; u < 3; ++u) {
    events.push_back(Ev(absl::StrCat("f", u), "t0", EventType::kView));
    events.push_back(Ev(absl::StrCat("f", u), "new", EventType::kView));
  }
  events.push_back(Ev("u", "t0", EventType::kPurchase));
  engine->ApplyEvents(events);
  auto req = Req(Scenario::kForYou, "u", 4);
  req.explain = true;
  RecommendTrace trace;
  auto r = engine->Recommend(req, &trace);
  ASSERT_OK(r);
  ASSERT_EQ(r->items.size(), 4u);
  const auto ids = Ids(*r);
  const auto it = std::find(ids.begin(), ids.end(), "new");
  ASSERT_NE(it, ids.end()) << "cold item not blended in";
  const auto& cold = r->items[it - ids.begin()];
  EXPECT_EQ(cold.source, Source::kCoOccurrence);
  EXPECT_EQ(cold.reasons[0].code, ReasonCode::kBecauseYouInteracted);
  EXPECT_EQ(cold.reasons[0].related_item_id, "t0");
  EXPECT_EQ(r->items[0].source, Source::kFactorModel);
  EXPECT_EQ(trace.candidates_by_source[static_cast<int>(Source::kCoOccurrence)],
            1);
  EXPECT_EQ(trace.candidates_by_source[static_cast<int>(Source::kFactorModel)],
            3);
}

// Whether a seed's list holds a cold item is remembered per seed
// (ModelFlags): a pair gained after a call must still bring the item in.
TEST(EngineTest, ForYouBlendsAColdItemPairedAfterTheSeedWasLookedAt) {
  auto engine = EngineWithANewItem();
  std::vector<Event> events = {Ev("u", "t0", EventType::kPurchase)};
  for (int u = 0; u < 3; ++u) {
    events.push_back(Ev(absl::StrCat("f", u), "t0", EventType::kView));
  }
  engine->ApplyEvents(events);
  const auto req = Req(Scenario::kForYou, "u", 4);
  auto before = engine->Recommend(req);
  ASSERT_OK(before);
  EXPECT_FALSE(Contains(Ids(*before), "new"));
  ExpectNewBlendedInAfterViews(*engine, req);
}

// A cold item is one a model trained now would learn and this one lacks:
// an item whose every interaction was undone has co-occurrences but is
// left out of training on purpose, and is not blended in as cold until a
// user takes to it again (no new pair: its lists must be looked at again).
TEST(EngineTest, ForYouBlendsAColdItemOnlyWhileSomeoneLikesIt) {
  auto engine = EngineWithANewItem();
  std::vector<Event> events = {Ev("u", "t0", EventType::kPurchase)};
  for (int u = 0; u < 3; ++u) {
    events.push_back(Ev(absl::StrCat("f", u), "t0", EventType::kView));
    events.push_back(Ev(absl::StrCat("f", u), "new", EventType::kView));
    events.push_back(
        Ev(absl::StrCat("f", u), "new", EventType::kRemoveFromCart));
  }
  engine->ApplyEvents(events);
  auto req = Req(Scenario::kForYou, "u", 4);
  RecommendTrace trace;
  auto undone = engine->Recommend(req, &trace);
  ASSERT_OK(undone);
  EXPECT_FALSE(Contains(Ids(*undone), "new"));
  EXPECT_EQ(trace.candidates_by_source[static_cast<int>(Source::kCoOccurrence)],
            0);
  ExpectNewBlendedInAfterViews(*engine, req);
}

TEST(EngineTest, ContentCoversUsersWhoseItemsCoOccurWithNothing) {
  auto engine = NewEngine();
  AddCrowd(*engine);  // books and kitchen are the popular ones
  engine->ApplyEvents(std::vector<Event>{Ev("solo", "r4", EventType::kView)});
  auto req = Req(Scenario::kForYou, "solo", 7);
  req.explain = true;
  auto r = engine->Recommend(req);
  ASSERT_OK(r);
  ASSERT_EQ(r->items.size(), 7u);
  EXPECT_FALSE(r->fallback);
  // r0 is the most popular road shoe; the other four follow in id order.
  EXPECT_EQ(r->items[0].item_id, "r0");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r->items[i].source, Source::kContent) << i;
    EXPECT_EQ(r->items[i].item_id[0], 'r') << i;
  }
  EXPECT_EQ(r->items[0].reasons[0].code, ReasonCode::kSameCategory);
  EXPECT_EQ(r->items[0].reasons[0].related_item_id, "r4");
  EXPECT_EQ(r->items[5].source, Source::kPopularity);
  EXPECT_EQ(r->items[5].item_id, "b0");
}

// A category larger than the list: only its most popular eligible items,
// best first (ties by id), each once though it is in both of the seed's
// categories, the context item never.
TEST(EngineTest, ContentTakesTheMostPopularOfALargeCategoryOnce) {
  Engine engine(WithoutSession());
  std::vector<Item> items;
  for (int i = 0; i < 300; ++i) {
    items.push_back(MakeItem(absl::StrCat("x", i), "big/a"));
    items.back().categories.push_back("big/b");
  }
  items[120].available = false;
  engine.UpsertItems(items);
  // One viewer per view: popularity without co-occurrence.
  int viewer = 0;
  for (const auto& [item, views] :
       std::vector<std::pair<std::string, int>>{{"x250", 3},
                                                {"x120", 3},
                                                {"x7", 2},
                                                {"x0", 2},
                                                {"x181", 2},
                                                {"x3", 1},
                                                {"x299", 1}}) {
    for (int v = 0; v < views; ++v) {
      engine.ApplyEvents(std::vector<Event>{
          Ev(absl::StrCat("v", viewer++), item, EventType::kView)});
    }
  }
  auto req = Req(Scenario::kFrequentlyBoughtTogether, "", 5);
  req.context_item_ids = {"x0"};
  req.filter.available_only = true;
  auto r = engine.Recommend(req);
  ASSERT_OK(r);
  EXPECT_EQ(Ids(*r),
            (std::vector<std::string>{"x250", "x7", "x181", "x3", "x299"}));
  for (const auto& item : r->items) {
    EXPECT_EQ(item.source, Source::kContent) << item.item_id;
  }
}

// background_idle: the work after a swap runs under SCHED_IDLE (observed
// on the thread that reports it done), so that it never holds a core a
// request wants.
TEST(EngineTest, BackgroundWorkRunsUnderTheIdlePolicyWhenAsked) {
  std::vector<std::string> ids;
  RowMatrix y(8, 2);
  std::vector<Item> items;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(absl::StrCat("a", i));
    items.push_back(MakeItem(ids.back(), "c", i));
    y.row(i).setConstant(0.5f + 0.1f * i);
  }
  for (const bool idle : {false, true}) {
    SCOPED_TRACE(idle ? "idle" : "nice");
    EngineOptions options = WithoutSession();
    options.refold_in_background = true;
    options.background_idle = idle;
    std::atomic<int> policy{-1};
    options.on_background_done = [&policy](const std::string&) {
      policy = sched_getscheduler(0);
    };
    Engine engine(options);
    engine.UpsertItems(items);
    engine.ReplayEvents(
        std::vector<Event>{Ev("u", "a1", EventType::kPurchase)});
    ModelMetadata meta;
    meta.version = "idle";
    meta.factors = 2;
    auto model =
        FactorModel::Create(meta, ids, y, {}, RowMatrix(), ModelOptions());
    ASSERT_OK(model);
    engine.SwapModel(*model);
    int64_t users = 0;
    engine.WaitForRefold(&users);
    EXPECT_EQ(users, 1);
    EXPECT_EQ(policy.load(), idle ? SCHED_IDLE : sched_getscheduler(0));
  }
}

// The server's mode: SwapModel returns at once, the deferred ANN graph and
// the users' vectors come from a background worker, and until then FOR_YOU
// solves a stale user's vector on the fly. Every answer must equal the
// synchronous engine's, before and after the background work.
TEST(EngineTest, BackgroundRefoldAndDeferredAnnGiveTheSameResults) {
  constexpr int kItems = 400;
  std::vector<Item> items;
  std::vector<std::string> ids;
  RowMatrix y(kItems, 4);
  for (int i = 0; i < kItems; ++i) {
    ids.push_back(absl::StrCat("a", i));
    items.push_back(MakeItem(ids.back(), absl::StrCat("c", i % 4), i));
    y.row(i).setConstant(0.01f);
    y(i, i % 4) = 1.0f + 0.001f * i;
  }
  std::vector<Event> history;
  for (int u = 0; u < 50; ++u) {
    for (int k = 0; k < 5; ++k) {
      history.push_back(Ev(absl::StrCat("u", u),
                           absl::StrCat("a", (u * 7 + k * 4) % kItems),
                           EventType::kPurchase));
    }
  }
  ModelMetadata meta;
  meta.version = "bg";
  meta.factors = 4;
  meta.parameters = {{"regularization", "0.1"}};

  auto make_engine = [&](bool background, std::vector<std::string>* log,
                         const std::string& ann_cache = "") {
    EngineOptions options = WithoutSession();
    options.model.ann_min_items = 100;
    options.model.ann.threads = 1;
    options.model.ann_cache_dir = ann_cache;
    options.refold_in_background = background;
    if (log != nullptr) {
      options.on_background_done = [log](const std::string& m) {
        log->push_back(m);
      };
    }
    auto engine = std::make_unique<Engine>(options);
    engine->UpsertItems(items);
    engine->ReplayEvents(history);
    ModelOptions model_options = options.model;
    model_options.defer_ann = background;
    auto model =
        FactorModel::Create(meta, ids, y, {}, RowMatrix(), model_options);
    EXPECT_OK(model);
    EXPECT_EQ((*model)->ann() == nullptr, background);
    engine->SwapModel(*model);
    return engine;
  };
  auto answers = [](const Engine& engine, bool* used_ann) {
    std::vector<std::vector<std::string>> out;
    for (int u = 0; u < 50; ++u) {
      RecommendTrace trace;
      auto r = engine.Recommend(
          Req(Scenario::kForYou, absl::StrCat("u", u), 10), &trace);
      EXPECT_OK(r);
      EXPECT_FALSE(r->fallback) << "u" << u;
      *used_ann = *used_ann || trace.used_ann;
      out.push_back(Ids(*r));
    }
    return out;
  };

  auto sync = make_engine(false, nullptr);
  EXPECT_EQ(sync->Stats().users_with_vectors, 50);
  bool sync_ann = false;
  const auto expected = answers(*sync, &sync_ann);
  EXPECT_TRUE(sync_ann);

  std::vector<std::string> log;
  auto background = make_engine(true, &log);
  bool ann_during = false;
  // Whatever the worker has reached, answers are the same.
  EXPECT_EQ(answers(*background, &ann_during), expected);
  int64_t users = 0;
  background->WaitForRefold(&users);
  EXPECT_EQ(users, 50);
  EXPECT_EQ(background->Stats().users_with_vectors, 50);
  bool ann_after = false;
  EXPECT_EQ(answers(*background, &ann_after), expected);
  EXPECT_TRUE(ann_after) << "the deferred ANN index was never used";
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("built the ANN index over 400 items of model bg"),
            std::string::npos)
      << log[0];
  EXPECT_NE(log[1].find("re-solved 50 user vectors"), std::string::npos)
      << log[1];

  // A user whose vector is not stored (replayed, never re-folded) is
  // solved for the request: the on-the-fly path, deterministically.
  sync->ReplayEvents(std::vector<Event>{Ev("late", "a8", EventType::kPurchase),
                                        Ev("late", "a12", EventType::kView)});
  EXPECT_EQ(sync->Stats().users_with_vectors, 50);
  auto late = sync->Recommend(Req(Scenario::kForYou, "late", 5));
  ASSERT_OK(late);
  EXPECT_FALSE(late->fallback);
  ASSERT_EQ(late->items.size(), 5u);
  for (const auto& item : late->items) {
    EXPECT_EQ(item.source, Source::kFactorModel) << item.item_id;
    EXPECT_EQ(std::stoi(item.item_id.substr(1)) % 4, 0) << item.item_id;
  }
  EXPECT_TRUE(sync->GetUser("late")->has_vector);

  // A user who arrives later is solved at once by ApplyEvents, as before.
  background->ApplyEvents(
      std::vector<Event>{Ev("new", "a8", EventType::kPurchase)});
  EXPECT_TRUE(background->GetUser("new")->has_vector);

  // With a cache directory the first engine builds the index and keeps
  // it; the next (a restart) loads it before SwapModel returns, so even
  // its first request searches with it, and nothing is built again.
  std::string cache = ::testing::TempDir() + "/ann-cache-XXXXXX";
  ASSERT_NE(mkdtemp(cache.data()), nullptr);
  std::vector<std::string> first_log;
  make_engine(true, &first_log, cache)->WaitForRefold();
  ASSERT_FALSE(first_log.empty());
  EXPECT_NE(first_log[0].find("built the ANN index"), std::string::npos)
      << first_log[0];
  std::vector<std::string> restart_log;
  auto restarted = make_engine(true, &restart_log, cache);
  RecommendTrace first_trace;
  ASSERT_OK(
      restarted->Recommend(Req(Scenario::kForYou, "u1", 10), &first_trace));
  EXPECT_TRUE(first_trace.used_ann);
  // The log is read once the background work, which appends to it, is done.
  restarted->WaitForRefold();
  ASSERT_FALSE(restart_log.empty());
  EXPECT_NE(restart_log[0].find("loaded the stored ANN index over 400 items "
                                "of model bg"),
            std::string::npos)
      << restart_log[0];
  for (const std::string& line : restart_log) {
    EXPECT_EQ(line.find("built"), std::string::npos) << line;
  }
  bool ann_restarted = false;
  EXPECT_EQ(answers(*restarted, &ann_restarted), expected);
  std::filesystem::remove_all(cache);
}

TEST(EngineTest, RecentlyViewedIsTheUsersOwnDistinctHistory) {
  auto engine = NewEngine();
  engine->ApplyEvents(
      std::vector<Event>{Ev("u", "b0", EventType::kView, kT0 + 1),
                         Ev("u", "k1", EventType::kView, kT0 + 2),
                         Ev("u", "b0", EventType::kClick, kT0 + 3),
                         Ev("u", "t1", EventType::kView, kT0 + 4),
                         Ev("u", "t1", EventType::kDislike, kT0 + 5),
                         Ev("u", "r2", EventType::kImpression, kT0 + 6),
                         Ev("u", "k5", EventType::kView, kT0 + 7)});
  auto req = Req(Scenario::kRecentlyViewed, "u", 10);
  req.explain = true;
  auto r = engine->Recommend(req);
  ASSERT_OK(r);
  EXPECT_EQ(Ids(*r), (std::vector<std::string>{"k5", "b0", "k1"}));
  EXPECT_EQ(r->items[0].source, Source::kUserHistory);
  EXPECT_EQ(r->items[0].reasons[0].code, ReasonCode::kRecentlyViewedByYou);
  req.filter.available_only = true;  // k5 is unavailable
  EXPECT_EQ(Ids(*engine->Recommend(req)),
            (std::vector<std::string>{"b0", "k1"}));
  EXPECT_TRUE(engine->Recommend(Req(Scenario::kRecentlyViewed, "nobody"))
                  ->items.empty());
}

TEST(EngineTest, TrendingDecaysFasterThanPopularity) {
  auto engine = NewEngine();
  std::vector<Event> events;
  for (int u = 0; u < 10; ++u)
    events.push_back(Ev(absl::StrCat("o", u), "k3", EventType::kView, kT0));
  for (int u = 0; u < 3; ++u) {
    events.push_back(
        Ev(absl::StrCat("n", u), "r3", EventType::kView, kT0 + 10 * kDay));
  }
  engine->ApplyEvents(events);
  auto trending = engine->Recommend(Req(Scenario::kTrending, "", 2));
  ASSERT_OK(trending);
  EXPECT_EQ(Ids(*trending), (std::vector<std::string>{"r3", "k3"}));
  EXPECT_EQ(trending->items[0].source, Source::kTrending);
  // 24 h half-life, evaluated at the newest event: 3 vs 10 * 2^-10.
  EXPECT_NEAR(trending->items[0].score, 3.0, 1e-9);
  EXPECT_NEAR(trending->items[1].score, 10.0 / 1024, 1e-9);
  auto popular = engine->Recommend(Req(Scenario::kForYou, "", 2));
  EXPECT_EQ(Ids(*popular), (std::vector<std::string>{"k3", "r3"}));
  EXPECT_NEAR(popular->items[0].score, 10 * std::exp2(-10.0 / 14), 1e-9);

  EngineOptions plain;
  plain.popularity_half_life_days = 0;
  auto counts = NewEngine(plain);
  counts->ApplyEvents(events);
  EXPECT_NEAR(counts->Recommend(Req(Scenario::kForYou, "", 1))->items[0].score,
              10.0, 1e-9);
}

TEST(EngineTest, DiversitySpreadsCategories) {
  auto engine = NewEngine();
  std::vector<Event> events;
  int user = 0;
  // All trail shoes outrank everything else.
  for (int i = 0; i < 6; ++i) {
    for (int n = 0; n < 20 - i; ++n) {
      events.push_back(Ev(absl::StrCat("p", user++), absl::StrCat("t", i),
                          EventType::kView));
    }
  }
  for (const char* item : {"b0", "k0", "r0"}) {
    for (int n = 0; n < 3; ++n)
      events.push_back(Ev(absl::StrCat("p", user++), item, EventType::kView));
  }
  engine->ApplyEvents(events);
  const auto departments = [](const Recommendation& r) {
    std::set<char> d;
    for (const auto& s : r.items)
      d.insert(s.item_id[0] == 'r' ? 't' : s.item_id[0]);
    return d.size();
  };
  auto req = Req(Scenario::kForYou, "", 4);
  auto plain = engine->Recommend(req);
  EXPECT_EQ(departments(*plain), 1u);
  req.diversity = 1.0;
  auto diverse = engine->Recommend(req);
  ASSERT_EQ(diverse->items.size(), 4u);
  EXPECT_GE(departments(*diverse), 3u);
  EXPECT_EQ(diverse->items[0].item_id, "t0");  // the best still leads
}

TEST(EngineTest, GetUserProfileAndSegments) {
  auto engine = NewEngine();
  struct Case {
    std::string user;
    std::vector<EventType> types;
    std::string segment;
  };
  const std::vector<Case> cases = {
      {"new", {EventType::kView, EventType::kPurchase}, "new"},
      {"casual",
       {EventType::kView, EventType::kView, EventType::kClick},
       "casual"},
      {"loyal",
       {EventType::kView, EventType::kPurchase, EventType::kPurchase},
       "loyal"},
      {"engaged", std::vector<EventType>(20, EventType::kView), "engaged"},
  };
  for (const Case& c : cases) {
    std::vector<Event> events;
    for (size_t i = 0; i < c.types.size(); ++i) {
      events.push_back(Ev(c.user, absl::StrCat("b", i % 6), c.types[i],
                          kT0 + static_cast<int64_t>(i)));
    }
    engine->ApplyEvents(events);
    auto p = engine->GetUser(c.user);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->segment, c.segment) << c.user;
  }
  engine->ApplyEvents(
      std::vector<Event>{Ev("x", "t0", EventType::kView, kT0 + 5),
                         Ev("x", "k1", EventType::kPurchase, kT0 + 9),
                         Ev("x", "t0", EventType::kView, kT0 + 20),
                         Ev("x", "b3", EventType::kImpression, kT0 + 30)});
  auto p = engine->GetUser("x");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->event_counts[EventType::kView], 2);
  EXPECT_EQ(p->event_counts[EventType::kPurchase], 1);
  EXPECT_EQ(p->event_counts[EventType::kImpression], 1);
  EXPECT_EQ(p->recent_item_ids, (std::vector<std::string>{"t0", "k1"}));
  // The timeline keeps every event but impressions, latest first.
  ASSERT_EQ(p->recent_events.size(), 3u);
  EXPECT_EQ(p->recent_events[0].item_id, "t0");
  EXPECT_EQ(p->recent_events[0].timestamp_ms, kT0 + 20);
  EXPECT_EQ(p->recent_events[1].item_id, "k1");
  EXPECT_EQ(p->recent_events[1].type, EventType::kPurchase);
  EXPECT_EQ(p->recent_events[1].timestamp_ms, kT0 + 9);
  EXPECT_EQ(p->recent_events[2].type, EventType::kView);
  EXPECT_EQ(p->recent_events[2].timestamp_ms, kT0 + 5);
  EXPECT_EQ(p->first_seen_ms, kT0 + 5);
  EXPECT_EQ(p->last_seen_ms, kT0 + 30);
  EXPECT_EQ(p->top_categories,
            (std::vector<std::string>{"home/kitchen", "shoes/running/trail"}));
  EXPECT_FALSE(p->has_vector);
  EXPECT_FALSE(engine->GetUser("nobody").has_value());
}

TEST(EngineTest, ExportTrainingDataWeightsAndDecay) {
  EngineOptions options;
  options.user_half_life_days = 1;
  auto engine = NewEngine(options);
  engine->ApplyEvents(std::vector<Event>{
      Ev("u", "t0", EventType::kView, kT0),
      Ev("u", "t0", EventType::kPurchase, kT0),
      Ev("u", "k0", EventType::kAddToCart, kT0 + kDay),
      Ev("u", "k0", EventType::kRemoveFromCart, kT0 + kDay),
      Ev("u", "k0", EventType::kRemoveFromCart, kT0 + kDay),
      Ev("u", "k0", EventType::kRemoveFromCart, kT0 + kDay),  // floors at 0
      Ev("u", "not-in-catalog", EventType::kRating, kT0 + kDay, 4),
      Ev("u", "b0", EventType::kImpression, kT0 + kDay),
      Ev("v", "b1", EventType::kDislike, kT0)});
  const auto data = engine->ExportTrainingData();
  ASSERT_EQ(data.user_ids, std::vector<std::string>{"u"});  // v has none
  std::map<std::string, float> got;
  for (int64_t k = data.user_items.row_ptr[0]; k < data.user_items.row_ptr[1];
       ++k) {
    got[data.item_ids[data.user_items.col[k]]] = data.user_items.weight[k];
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NEAR(got["t0"], 9.0f / 2,
              1e-4);  // one day older than the user's last event
  EXPECT_NEAR(got["not-in-catalog"], 4.0f, 1e-4);
}

TEST(EngineTest, ItemsFromEventsAreRecommendedOnlyOnceInTheCatalog) {
  Engine engine(EngineOptions{});
  engine.ApplyEvents(std::vector<Event>{Ev("a", "late", EventType::kView)});
  EXPECT_TRUE(engine.Recommend(Req(Scenario::kTrending, "", 5))->items.empty());
  engine.UpsertItems(std::vector<Item>{MakeItem("late", "x")});
  EXPECT_EQ(Ids(*engine.Recommend(Req(Scenario::kTrending, "", 5))),
            std::vector<std::string>{"late"});
  EXPECT_EQ(engine.GetItem("late")->title, "Title late");
  EXPECT_EQ(engine.DeleteItems(std::vector<std::string>{"late", "never"}), 1);
  EXPECT_FALSE(engine.GetItem("late").has_value());
  EXPECT_TRUE(engine.Recommend(Req(Scenario::kTrending, "", 5))->items.empty());
}

TEST(EngineTest, EraseUserForgetsEverything) {
  auto engine = NewEngine();
  engine->SwapModel(TasteModel("m"));
  engine->ApplyEvents(std::vector<Event>{Ev("u", "t0", EventType::kPurchase)});
  EXPECT_EQ(engine->Stats().users_with_vectors, 1);
  EXPECT_TRUE(engine->EraseUser("u"));
  EXPECT_FALSE(engine->EraseUser("u"));
  EXPECT_FALSE(engine->GetUser("u").has_value());
  EXPECT_EQ(engine->Stats().users, 0);
  EXPECT_EQ(engine->Stats().users_with_vectors, 0);
  auto r = engine->Recommend(Req(Scenario::kForYou, "u", 3));
  EXPECT_TRUE(r->fallback);
  EXPECT_EQ(r->fallback_reason, "unknown user");
  EXPECT_TRUE(engine->ExportTrainingData().user_ids.empty());
  // The slot is reused cleanly.
  engine->ApplyEvents(std::vector<Event>{Ev("w", "b0", EventType::kView)});
  EXPECT_EQ(engine->GetUser("w")->recent_item_ids,
            std::vector<std::string>{"b0"});
}

TEST(EngineTest, StatsAndReplayThenRefresh) {
  auto engine = NewEngine();
  engine->ReplayEvents(std::vector<Event>{Ev("u", "t0", EventType::kView),
                                          Ev("v", "b0", EventType::kView)});
  engine->SwapModel(TasteModel("m7"));
  auto st = engine->Stats();
  EXPECT_EQ(st.items, 24);
  EXPECT_EQ(st.users, 2);
  EXPECT_EQ(st.events, 2);
  EXPECT_EQ(st.users_with_vectors, 2);  // SwapModel re-folds everyone
  EXPECT_EQ(st.model_version, "m7");
  EXPECT_EQ(st.model_trained_at_ms, kT0);
  EXPECT_EQ(engine->model()->version(), "m7");
  auto previous = engine->SwapModel(nullptr);
  EXPECT_EQ(previous->version(), "m7");
  EXPECT_EQ(engine->model(), nullptr);
  EXPECT_EQ(engine->Stats().users_with_vectors, 0);
}

TEST(EngineTest, ModelSwapsWhileServing) {
  auto engine = NewEngine();
  AddCrowd(*engine);
  const auto a = TasteModel("A");
  const auto b = TasteModel("B");
  engine->SwapModel(a);
  engine->ApplyEvents(std::vector<Event>{Ev("u", "t0", EventType::kPurchase)});
  std::atomic<bool> stop{false};
  std::atomic<int> served{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      while (!stop.load()) {
        auto req =
            Req(t == 0 ? Scenario::kForYou : Scenario::kSimilarItems, "u", 5);
        req.context_item_ids = {"t1"};
        auto r = engine->Recommend(req);
        if (!r.ok() || r->items.size() != 5 ||
            (r->model_version != "A" && r->model_version != "B" &&
             !r->model_version.empty())) {
          ++bad;
        }
        ++served;
      }
    });
  }
  std::thread writer([&] {
    // A bounded set of users, so that every swap's re-fold stays small.
    for (int i = 0; i < 2000 && !stop.load(); ++i) {
      engine->ApplyEvents(
          std::vector<Event>{Ev(absl::StrCat("w", i % 20),
                                absl::StrCat("k", i % 5), EventType::kView)});
    }
  });
  for (int i = 0; i < 200; ++i)
    engine->SwapModel(i % 3 == 2 ? nullptr : (i % 2 ? a : b));
  // Let the readers overlap the swaps: wait (bounded) until they served some.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (served.load() < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  stop = true;
  for (auto& r : readers) r.join();
  writer.join();
  EXPECT_GE(served.load(), 200);
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace aisle::core
