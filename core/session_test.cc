// The session signal: transitions (directed, pruned), a session's recency
// decay, the blend's adaptation to how fresh the session is, "just viewed"
// reasons, and anonymous context items as a session.
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine.h"
#include "core/eval.h"
#include "core/session_ranker.h"
#include "core/transitions.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;  // ms
constexpr int64_t kMinute = 60'000;

Event View(const std::string& user, const std::string& item, int64_t ts) {
  static int next = 0;
  Event e;
  e.event_id = absl::StrCat("s", next++);
  e.user_id = user;
  e.item_id = item;
  e.type = EventType::kView;
  e.timestamp_ms = ts;
  return e;
}

// Items "a".."h"; `pairs` users each view `from` then `to` a minute apart.
void AddItems(Engine& engine) {
  std::vector<Item> items;
  for (char c = 'a'; c <= 'h'; ++c) {
    Item item;
    item.item_id = std::string(1, c);
    item.title = absl::StrCat("Title ", item.item_id);
    items.push_back(item);
  }
  engine.UpsertItems(items);
}
void AddFollows(Engine& engine, const std::string& from, const std::string& to,
                int users, int64_t ts = kT0) {
  std::vector<Event> events;
  for (int u = 0; u < users; ++u) {
    const std::string user = absl::StrCat("f-", from, to, u);
    events.push_back(View(user, from, ts));
    events.push_back(View(user, to, ts + kMinute));
  }
  engine.ApplyEvents(events);
}

// Only the session source, transitions only: the other sources would mask
// what is measured.
EngineOptions TransitionsOnly() {
  EngineOptions o;
  o.for_you = {false, false, false, true, false};
  o.session.co_occurrence_weight = 0;
  return o;
}

RecommendRequest ForYou(const std::string& user, int count = 1) {
  RecommendRequest r;
  r.user_id = user;
  r.scenario = Scenario::kForYou;
  r.count = count;
  r.explain = true;
  return r;
}

TEST(TransitionsTest, ProbabilitiesAndPruningKeepTheStrongest) {
  Transitions t(/*max_neighbors=*/2);
  t.Add(0, 1, 3);
  t.Add(0, 2, 1);
  EXPECT_EQ(t.Next(0)->at(1), 3);
  EXPECT_EQ(t.Out(0), 4);
  EXPECT_EQ(t.Next(1), nullptr) << "directed: nothing follows 1";
  for (int32_t to = 3; to < 8; ++to) t.Add(0, to, 0.5f);
  ASSERT_LE(t.Next(0)->size(), 4u) << "pruned past twice max_neighbors";
  EXPECT_TRUE(t.Next(0)->contains(1));
  EXPECT_TRUE(t.Next(0)->contains(2));
  EXPECT_EQ(t.Out(0), 6.5f) << "pruning does not lower the outgoing total";
}

TEST(SessionTest, TheVeryNextRecommendFollowsTheLastEventWithAReason) {
  Engine engine(TransitionsOnly());
  AddItems(engine);
  AddFollows(engine, "a", "b", 3);
  AddFollows(engine, "c", "d", 3);
  engine.ApplyEvents(std::vector<Event>{View("me", "c", kT0 + 10 * kMinute)});
  ASSERT_OK_AND_ASSIGN(Recommendation r, engine.Recommend(ForYou("me")));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "d");
  EXPECT_EQ(r.items[0].source, Source::kSession);
  ASSERT_FALSE(r.items[0].reasons.empty());
  EXPECT_EQ(r.items[0].reasons[0].code, ReasonCode::kJustViewed);
  EXPECT_EQ(r.items[0].reasons[0].related_item_id, "c");
  EXPECT_EQ(r.items[0].reasons[0].detail, "Because you just viewed Title c");

  engine.ApplyEvents(std::vector<Event>{View("me", "a", kT0 + 11 * kMinute)});
  ASSERT_OK_AND_ASSIGN(r, engine.Recommend(ForYou("me")));
  EXPECT_EQ(r.items[0].item_id, "b") << "the latest event leads";
}

TEST(SessionTest, TransitionsAreDirected) {
  Engine engine(TransitionsOnly());
  AddItems(engine);
  AddFollows(engine, "a", "b", 3);
  engine.ApplyEvents(std::vector<Event>{View("me", "b", kT0 + kMinute)});
  ASSERT_OK_AND_ASSIGN(Recommendation r, engine.Recommend(ForYou("me")));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_NE(r.items[0].source, Source::kSession)
      << "nothing follows b: the list comes from popularity";
}

TEST(SessionTest, OlderSessionItemsWeighLess) {
  EngineOptions o = TransitionsOnly();
  o.session.position_decay = 0.5;
  Engine engine(o);
  AddItems(engine);
  // a -> b is the stronger transition, but c (what leads to d) is newer.
  AddFollows(engine, "a", "b", 3);
  AddFollows(engine, "c", "d", 3);
  engine.ApplyEvents(std::vector<Event>{View("me", "a", kT0 + 10 * kMinute),
                                        View("me", "c", kT0 + 11 * kMinute)});
  ASSERT_OK_AND_ASSIGN(Recommendation r, engine.Recommend(ForYou("me", 2)));
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].item_id, "d");
  EXPECT_EQ(r.items[1].item_id, "b");
  EXPECT_GT(r.items[0].score, r.items[1].score);
}

TEST(SessionTest, AnonymousContextItemsAreTheSessionInOrder) {
  Engine engine(TransitionsOnly());
  AddItems(engine);
  AddFollows(engine, "a", "b", 3);
  AddFollows(engine, "c", "d", 3);
  RecommendRequest req = ForYou("", 2);
  req.context_item_ids = {"a", "c"};  // c is the latest
  ASSERT_OK_AND_ASSIGN(Recommendation r, engine.Recommend(req));
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].item_id, "d");
  EXPECT_EQ(r.items[0].reasons[0].code, ReasonCode::kJustViewed);
  EXPECT_EQ(r.items[0].reasons[0].related_item_id, "c");
  EXPECT_EQ(r.items[1].item_id, "b");
  EXPECT_FALSE(r.fallback);
}

// With a factor model: a fresh session leads, a stale one leaves the
// model alone.
TEST(SessionTest, BlendAdaptsToHowFreshTheSessionIs) {
  EngineOptions o;
  o.for_you = {true, false, false, true, false};
  o.session.co_occurrence_weight = 0;
  o.session.fresh_half_life_seconds = 60;
  Engine engine(o);
  AddItems(engine);
  // Taste: many users like e, f, g together; "me" too (without g).
  std::vector<Event> taste;
  for (int u = 0; u < 8; ++u) {
    const std::string user = absl::StrCat("t", u);
    for (const char* i : {"e", "f", "g"}) {
      taste.push_back(View(user, i, kT0 - 1000 * kMinute));
    }
  }
  taste.push_back(View("me", "e", kT0 - 1000 * kMinute));
  taste.push_back(View("me", "f", kT0 - 1000 * kMinute));
  engine.ApplyEvents(taste);
  AddFollows(engine, "a", "b", 2);
  AlsOptions als;
  als.factors = 4;
  als.threads = 1;
  ASSERT_OK(InstallAls(als, o.model, engine));
  const int64_t now = kT0 + 10 * kMinute;
  engine.ApplyEvents(std::vector<Event>{View("me", "a", now)});

  RecommendRequest fresh = ForYou("me");
  fresh.now_ms = now;
  ASSERT_OK_AND_ASSIGN(Recommendation r, engine.Recommend(fresh));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "b");
  EXPECT_EQ(r.items[0].source, Source::kSession);

  RecommendRequest stale = ForYou("me");
  stale.now_ms = now + 100 * kMinute;  // 100 half-lives later
  ASSERT_OK_AND_ASSIGN(r, engine.Recommend(stale));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "g");
}

// The learned re-scoring: its features, and a ranking that follows its
// weights rather than the hand blend.
TEST(SessionTest, RankerWeightsReScoreTheCandidates) {
  EngineOptions o;
  o.for_you = {true, false, false, true, false};
  o.session.co_occurrence_weight = 0;
  o.session.ranker_model_candidates = 1;  // the model's top pick only
  const auto make = [](EngineOptions options, int64_t now) {
    auto engine = std::make_unique<Engine>(options);
    AddItems(*engine);
    std::vector<Event> taste;
    for (int u = 0; u < 8; ++u) {
      const std::string user = absl::StrCat("t", u);
      for (const char* i : {"e", "f", "g"}) {
        taste.push_back(View(user, i, kT0 - 1000 * kMinute));
      }
    }
    taste.push_back(View("me", "e", kT0 - 1000 * kMinute));
    taste.push_back(View("me", "f", kT0 - 1000 * kMinute));
    engine->ApplyEvents(taste);
    AddFollows(*engine, "a", "b", 2);
    AlsOptions als;
    als.factors = 4;
    als.threads = 1;
    EXPECT_OK(InstallAls(als, options.model, *engine));
    engine->ApplyEvents(std::vector<Event>{View("me", "a", now)});
    return engine;
  };
  const int64_t now = kT0 + 10 * kMinute;
  RecommendRequest req = ForYou("me");
  req.now_ms = now;

  const std::unique_ptr<Engine> hand = make(o, now);
  const std::vector<SessionRankerRow> rows = hand->SessionRankerRows(req);
  const SessionRankerRow* b = nullptr;
  const SessionRankerRow* g = nullptr;
  for (const SessionRankerRow& r : rows) {
    if (r.item_id == "b") b = &r;
    if (r.item_id == "g") g = &r;
  }
  ASSERT_NE(b, nullptr);
  ASSERT_NE(g, nullptr);
  EXPECT_DOUBLE_EQ(b->features[kRankerTransLast], 1.0) << "b always follows a";
  EXPECT_EQ(b->features[kRankerInModelTop], 0.0);
  EXPECT_EQ(g->features[kRankerTransLast], 0.0);
  EXPECT_EQ(g->features[kRankerInModelTop], 1.0) << "the model's top pick";
  EXPECT_DOUBLE_EQ(g->features[kRankerModel], 1.0);
  // The session is a, f, e (e and f 16 hours earlier): only a leads to b.
  EXPECT_DOUBLE_EQ(b->features[kRankerSeeds], 1.0 / 3);
  ASSERT_OK_AND_ASSIGN(Recommendation r, hand->Recommend(req));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "b") << "the hand blend follows the session";

  // Weights on the model's score alone: the model's pick wins.
  o.session.ranker_weights.assign(kSessionRankerFeatures, 0.0);
  o.session.ranker_weights[kRankerModel] = 1;
  const std::unique_ptr<Engine> learned = make(o, now);
  ASSERT_OK_AND_ASSIGN(r, learned->Recommend(req));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "g");
  EXPECT_TRUE(learned->SessionRankerRows(ForYou("nobody")).empty());

  // A session less fresh than ranker_min_freshness keeps the hand blend.
  o.session.ranker_min_freshness = 1;
  const std::unique_ptr<Engine> strict = make(o, now);
  RecommendRequest later = req;
  later.now_ms = now + kMinute;  // freshness 2^(-1/60) < 1
  ASSERT_OK_AND_ASSIGN(r, strict->Recommend(later));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "b");
  EXPECT_TRUE(strict->SessionRankerRows(later).empty());
  ASSERT_OK_AND_ASSIGN(r, strict->Recommend(req));  // freshness 1
  EXPECT_EQ(r.items[0].item_id, "g");
}

// The weights stored with the model version (`aisle train`) re-score a
// fresh session when SessionOptions::ranker_weights is empty; explicit
// weights override them; a version without weights keeps the hand blend.
TEST(SessionTest, ModelVersionWeightsReScoreUnlessConfigured) {
  EngineOptions o;
  o.for_you = {true, false, false, true, false};
  o.session.co_occurrence_weight = 0;
  o.session.ranker_model_candidates = 1;
  const int64_t now = kT0 + 10 * kMinute;
  const auto make = [=](EngineOptions options,
                        std::map<std::string, std::string> parameters) {
    auto engine = std::make_unique<Engine>(options);
    AddItems(*engine);
    std::vector<Event> taste;
    for (int u = 0; u < 8; ++u) {
      const std::string user = absl::StrCat("t", u);
      for (const char* i : {"e", "f", "g"}) {
        taste.push_back(View(user, i, kT0 - 1000 * kMinute));
      }
    }
    taste.push_back(View("me", "e", kT0 - 1000 * kMinute));
    taste.push_back(View("me", "f", kT0 - 1000 * kMinute));
    engine->ApplyEvents(taste);
    AddFollows(*engine, "a", "b", 2);
    AlsOptions als;
    als.factors = 4;
    als.threads = 1;
    EXPECT_OK(InstallAls(als, options.model, *engine, parameters));
    engine->ApplyEvents(std::vector<Event>{View("me", "a", now)});
    return engine;
  };
  RecommendRequest req = ForYou("me");
  req.now_ms = now;
  std::vector<double> model_only(kSessionRankerFeatures, 0.0);
  model_only[kRankerModel] = 1;
  const std::map<std::string, std::string> stored = {
      {std::string(kSessionRankerWeightsParameter),
       FormatSessionRankerWeights(model_only)}};

  // Without stored weights: the hand blend follows the session.
  ASSERT_OK_AND_ASSIGN(Recommendation r, make(o, {})->Recommend(req));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "b");
  // Unreadable stored weights: the hand blend too.
  ASSERT_OK_AND_ASSIGN(
      r, make(o, {{std::string(kSessionRankerWeightsParameter), "1,2"}})
             ->Recommend(req));
  EXPECT_EQ(r.items[0].item_id, "b");

  // The version's weights (the model's score alone): the model's pick.
  const std::unique_ptr<Engine> engine = make(o, stored);
  ASSERT_OK_AND_ASSIGN(r, engine->Recommend(req));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "g");

  // Swapping in a version without weights brings the hand blend back.
  AlsOptions als;
  als.factors = 4;
  als.threads = 1;
  ASSERT_OK(InstallAls(als, o.model, *engine));
  ASSERT_OK_AND_ASSIGN(r, engine->Recommend(req));
  EXPECT_EQ(r.items[0].item_id, "b");

  // Explicit weights override the version's: the session's transition.
  o.session.ranker_weights.assign(kSessionRankerFeatures, 0.0);
  o.session.ranker_weights[kRankerTransLast] = 1;
  ASSERT_OK_AND_ASSIGN(r, make(o, stored)->Recommend(req));
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].item_id, "b");
}

TEST(SessionTest, RankerWeightsRoundTripAsText) {
  std::vector<double> w(kSessionRankerFeatures, 0.0);
  w[0] = 0.123456789;
  w[kRankerLogReverse] = -3.5e-7;
  ASSERT_OK_AND_ASSIGN(
      std::vector<double> back,
      ParseSessionRankerWeights(FormatSessionRankerWeights(w)));
  EXPECT_EQ(back, w);
  EXPECT_FALSE(ParseSessionRankerWeights("1,2").ok());
  EXPECT_FALSE(ParseSessionRankerWeights("").ok());
  w[1] = std::nan("");
  EXPECT_FALSE(ParseSessionRankerWeights(FormatSessionRankerWeights(w)).ok());
}

TEST(SessionTest, OptionsOutOfRangeNameTheField) {
  SessionOptions o;
  EXPECT_OK(ValidateSessionOptions(o));
  o.blend_weight = 2;
  EXPECT_THAT(ValidateSessionOptions(o),
              ::aisle::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                         ::testing::HasSubstr("blend_weight")));
  o.blend_weight = 0.9;
  o.ranker_weights = {1.0, 2.0};
  EXPECT_THAT(
      ValidateSessionOptions(o),
      ::aisle::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                 ::testing::HasSubstr("ranker_weights")));
  o.ranker_weights.assign(kSessionRankerFeatures, 0.5);
  EXPECT_OK(ValidateSessionOptions(o));
}

}  // namespace
}  // namespace aisle::core
