// Engine::SaveSnapshot / LoadSnapshot: a loaded snapshot plus the events
// after it gives the same engine as replaying every event; damage, another
// format or other options are refused and leave the engine fresh.
#include <span>
#include <string>
#include <vector>

#include "core/demo_data.h"
#include "core/engine.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;

DemoData SmallDemo() {
  DemoOptions o;
  o.items = 300;
  o.users = 120;
  o.events = 12000;
  return GenerateDemoData(o);
}

// Every scenario for a few users and items, with explanations: whatever
// the derived state feeds (history, counters, co-occurrence) shows here.
std::vector<std::string> Fingerprint(const Engine& engine) {
  std::vector<std::string> out;
  const EngineStats st = engine.Stats();
  out.push_back(std::to_string(st.items) + "/" + std::to_string(st.users) +
                "/" + std::to_string(st.events));
  for (int u = 0; u < 120; u += 7) {
    const std::string user = "u" + std::to_string(u);
    std::optional<UserProfile> p = engine.GetUser(user);
    if (!p.has_value()) {
      out.push_back(user + " unknown");
      continue;
    }
    std::string line = user;
    for (const auto& [type, n] : p->event_counts) {
      line += " " + std::to_string(static_cast<int>(type)) + ":" +
              std::to_string(n);
    }
    for (const std::string& i : p->recent_item_ids) line += " " + i;
    for (const std::string& c : p->top_categories) line += " " + c;
    line += " " + std::to_string(p->first_seen_ms) + "-" +
            std::to_string(p->last_seen_ms) + " " + p->segment;
    out.push_back(line);
    for (Scenario sc :
         {Scenario::kForYou, Scenario::kRecentlyViewed, Scenario::kTrending,
          Scenario::kSimilarItems, Scenario::kFrequentlyBoughtTogether}) {
      RecommendRequest req;
      req.user_id = user;
      req.scenario = sc;
      req.count = 10;
      req.explain = true;
      req.context_item_ids = {"i" + std::to_string(u)};
      absl::StatusOr<Recommendation> r = engine.Recommend(req);
      std::string rec = std::string(ScenarioName(sc)) + ":";
      if (!r.ok()) {
        rec += r.status().ToString();
      } else {
        for (const ScoredItem& s : r->items) {
          rec += " " + s.item_id + "=" + std::to_string(s.score);
          for (const Reason& why : s.reasons) rec += "/" + why.related_item_id;
        }
      }
      out.push_back(rec);
    }
  }
  return out;
}

TEST(EngineSnapshotTest, SnapshotPlusTailEqualsFullReplay) {
  const DemoData demo = SmallDemo();
  const size_t half = demo.events.size() / 2;
  std::span<const Event> head(demo.events.data(), half);
  std::span<const Event> tail(demo.events.data() + half,
                              demo.events.size() - half);

  Engine full{EngineOptions{}};
  full.UpsertItems(demo.items);
  full.ReplayEvents(demo.events);
  ASSERT_TRUE(full.EraseUser("u3"));

  Engine before{EngineOptions{}};
  before.UpsertItems(demo.items);
  before.ReplayEvents(head);
  const std::vector<std::string> pieces = before.SaveSnapshot();

  Engine restored{EngineOptions{}};
  ASSERT_OK(restored.LoadSnapshot(pieces));
  restored.UpsertItems(demo.items);
  restored.ReplayEvents(tail);
  ASSERT_TRUE(restored.EraseUser("u3"));

  EXPECT_EQ(Fingerprint(restored), Fingerprint(full));
}

// The session signal's transitions are derived state too: with FOR_YOU
// fed by them alone, a snapshot that lost them would answer differently.
TEST(EngineSnapshotTest, SessionTransitionsSurviveASnapshot) {
  EngineOptions o;
  o.for_you = {false, false, false, true, false};
  o.session.co_occurrence_weight = 0;
  const DemoData demo = SmallDemo();
  const size_t half = demo.events.size() / 2;

  Engine full{o};
  full.UpsertItems(demo.items);
  full.ReplayEvents(demo.events);

  Engine before{o};
  before.UpsertItems(demo.items);
  before.ReplayEvents(std::span<const Event>(demo.events.data(), half));
  Engine restored{o};
  ASSERT_OK(restored.LoadSnapshot(before.SaveSnapshot()));
  restored.UpsertItems(demo.items);
  restored.ReplayEvents(std::span<const Event>(demo.events.data() + half,
                                               demo.events.size() - half));

  const std::vector<std::string> want = Fingerprint(full);
  EXPECT_EQ(Fingerprint(restored), want);
  // And the check can fail: the tail alone gives other answers.
  Engine tail_only{o};
  tail_only.UpsertItems(demo.items);
  tail_only.ReplayEvents(std::span<const Event>(demo.events.data() + half,
                                                demo.events.size() - half));
  EXPECT_NE(Fingerprint(tail_only), want);
}

TEST(EngineSnapshotTest, AnErasedUserIsNotInALaterSnapshot) {
  const DemoData demo = SmallDemo();
  Engine engine{EngineOptions{}};
  engine.UpsertItems(demo.items);
  engine.ReplayEvents(demo.events);
  ASSERT_TRUE(engine.GetUser("u17").has_value());
  ASSERT_TRUE(engine.EraseUser("u17"));

  const std::vector<std::string> pieces = engine.SaveSnapshot();
  std::string bytes;
  for (const std::string& p : pieces) bytes += p;
  // "u17" would be followed by nothing else in an id of that length: look
  // for the length-prefixed form the format writes.
  const std::string encoded = std::string("\x03\0\0\0", 4) + "u17";
  EXPECT_EQ(bytes.find(encoded), std::string::npos);
  EXPECT_NE(bytes.find(std::string("\x03\0\0\0", 4) + "u18"),
            std::string::npos);

  Engine restored{EngineOptions{}};
  ASSERT_OK(restored.LoadSnapshot(pieces));
  EXPECT_FALSE(restored.GetUser("u17").has_value());
  EXPECT_TRUE(restored.GetUser("u18").has_value());
}

TEST(EngineSnapshotTest, PiecesMayBeCutAnywhere) {
  const DemoData demo = SmallDemo();
  Engine engine{EngineOptions{}};
  engine.ReplayEvents(demo.events);
  std::string bytes;
  for (const std::string& p : engine.SaveSnapshot()) bytes += p;
  std::vector<std::string> recut;
  for (size_t i = 0, n = 1; i < bytes.size(); i += n, n = n * 3 + 1) {
    recut.push_back(bytes.substr(i, n));
  }
  Engine restored{EngineOptions{}};
  ASSERT_OK(restored.LoadSnapshot(recut));
  EXPECT_EQ(restored.Stats().events, engine.Stats().events);
  EXPECT_EQ(restored.Stats().users, engine.Stats().users);
}

TEST(EngineSnapshotTest, DamageIsDetectedAndLeavesTheEngineFresh) {
  const DemoData demo = SmallDemo();
  Engine engine{EngineOptions{}};
  engine.ReplayEvents(demo.events);
  const std::vector<std::string> good = engine.SaveSnapshot();
  std::string bytes;
  for (const std::string& p : good) bytes += p;

  Engine target{EngineOptions{}};
  for (size_t at : {size_t{0}, size_t{9}, bytes.size() / 2, bytes.size() - 5,
                    bytes.size() - 1}) {
    std::string damaged = bytes;
    damaged[at] ^= 0x20;
    EXPECT_THAT(target.LoadSnapshot(std::vector<std::string>{damaged}),
                StatusIs(absl::StatusCode::kDataLoss, ::testing::_))
        << "byte " << at;
  }
  for (size_t keep : {size_t{0}, size_t{10}, bytes.size() - 1}) {
    EXPECT_THAT(
        target.LoadSnapshot(std::vector<std::string>{bytes.substr(0, keep)}),
        StatusIs(absl::StatusCode::kDataLoss, ::testing::_))
        << "first " << keep << " bytes";
  }
  EXPECT_THAT(target.LoadSnapshot(std::vector<std::string>{
                  "not a snapshot, but long enough to have a trailer"}),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  EXPECT_EQ(target.Stats().events, 0);
  EXPECT_EQ(target.Stats().users, 0);
  // Still fresh: the intact snapshot loads.
  ASSERT_OK(target.LoadSnapshot(good));
  EXPECT_EQ(target.Stats().events, engine.Stats().events);
  // Not fresh any more: a second load is refused.
  EXPECT_THAT(target.LoadSnapshot(good),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
}

TEST(EngineSnapshotTest, OtherOptionsAreRefused) {
  const DemoData demo = SmallDemo();
  Engine engine{EngineOptions{}};
  engine.ReplayEvents(demo.events);
  const std::vector<std::string> pieces = engine.SaveSnapshot();

  EngineOptions other;
  other.weights.purchase = 9;
  Engine target(other);
  EXPECT_THAT(target.LoadSnapshot(pieces),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  EngineOptions shorter;
  shorter.max_history_per_user = 10;
  Engine target2(shorter);
  EXPECT_THAT(target2.LoadSnapshot(pieces),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  // Options that only shape reading (not the derived state) are fine.
  EngineOptions reading;
  reading.exact_below_selectivity = 0.5;
  reading.user_half_life_days = 30;
  Engine target3(reading);
  EXPECT_OK(target3.LoadSnapshot(pieces));
}

TEST(EngineSnapshotTest, EmptyEngineRoundTrips) {
  Engine engine{EngineOptions{}};
  Engine restored{EngineOptions{}};
  ASSERT_OK(restored.LoadSnapshot(engine.SaveSnapshot()));
  EXPECT_EQ(restored.Stats().events, 0);
}

}  // namespace
}  // namespace aisle::core
