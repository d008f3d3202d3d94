// The attribute source through the Engine: counts independent of the
// order of events, attributes and snapshots; erasure removes a user's
// share.
#include "core/attribute_popularity.h"

#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/demo_data.h"
#include "core/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

std::vector<std::string> ForYou(const Engine& engine, const std::string& user,
                                Source* source = nullptr) {
  RecommendRequest req;
  req.user_id = user;
  req.count = 10;
  absl::StatusOr<Recommendation> rec = engine.Recommend(req);
  EXPECT_TRUE(rec.ok());
  std::vector<std::string> ids;
  if (!rec.ok()) return ids;
  for (const ScoredItem& s : rec->items) ids.push_back(s.item_id);
  if (source != nullptr) *source = rec->source;
  return ids;
}

// Top keeps its answers; every change of a count it read must show.
TEST(AttributePopularityTest, TopSeesEveryChangeOfTheCountsItRead) {
  AttributePopularity counts;
  const auto north = counts.Intern({{"region", "north"}});
  const auto south = counts.Intern({{"region", "south"}});
  counts.Add(north, 1, 5.0);
  counts.Add(north, 2, 1.0);
  counts.Add(south, 3, 4.0);
  const auto first = [&](const AttributePopularity::Values& v) {
    return counts.Top(v, 10, 2).front().first;
  };
  EXPECT_EQ(first(north), 1);
  EXPECT_EQ(first(north), 1);  // the kept answer
  counts.Add(north, 2, 10.0);  // the value's own counts change
  EXPECT_EQ(first(north), 2);
  EXPECT_EQ(counts.Top(north, 1, 2).size(), 1u);  // a shorter limit
  EXPECT_EQ(counts.Top(north, 10, 2).size(), 3u);
  const auto score_of_3 = [&] {
    for (const auto& [item, score] : counts.Top(north, 10, 2)) {
      if (item == 3) return score;
    }
    return -1.0;
  };
  const double before = score_of_3();
  counts.Add(south, 3, 100.0);  // for north, only the total moves
  EXPECT_GT(score_of_3(), before);
  counts.Clear();  // value ids are reused afterwards: "east" is north's id
  const auto again = counts.Intern({{"region", "east"}});
  EXPECT_TRUE(counts.Top(again, 10, 1).empty());
  counts.Add(again, 7, 1.0);
  EXPECT_EQ(first(again), 7);
}

// Values are named by their ids alone (the engine keeps only the ids), and
// a key or value holding "=" is its own value.
TEST(AttributePopularityTest, InternedValuesNameTheirAttributesBack) {
  AttributePopularity counts;
  const std::map<std::string, std::string> one = {{"a=b", "c"}, {"z", ""}};
  const std::map<std::string, std::string> other = {{"a", "b=c"}};
  const auto a = counts.Intern(one);
  const auto b = counts.Intern(other);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(b[0], a[0]);
  EXPECT_NE(b[0], a[1]);
  EXPECT_EQ(counts.Intern(one), a);  // the same pairs, the same ids
  EXPECT_EQ(counts.Attributes(a), one);
  EXPECT_EQ(counts.Attributes(b), other);
  EXPECT_TRUE(counts.Attributes({}).empty());
}

TEST(AttributePopularityTest, TopIsEmptyUntilAnAttributedUserEngages) {
  AttributePopularity counts;
  const auto values = counts.Intern({{"region", "north"}});
  EXPECT_TRUE(counts.Top(values, 10, 1).empty());
  counts.Add(values, 3, 2.0);
  EXPECT_EQ(counts.Top(values, 10, 1).size(), 1u);
  counts.Add(values, 3, -2.0);
  EXPECT_TRUE(counts.empty());
}

// A bulk load (folded early by a small byte bound, interrupted by a
// removal, with an item past its dense range) ends with the counts that
// one-by-one adds give.
TEST(AttributePopularityTest, BulkLoadCountsWhatOneByOneAddsCount) {
  AttributePopularity one, bulk;
  const std::vector<std::map<std::string, std::string>> kinds = {
      {{"region", "north"}, {"age", "18-24"}},
      {{"region", "south"}},
      {{"region", "north"}, {"tier", "gold"}},
      {}};
  constexpr int kItems = 50;
  bulk.BeginBulk(kItems, /*max_bytes=*/3 * kItems * sizeof(double));
  for (int user = 0; user < 200; ++user) {
    const auto& attributes = kinds[static_cast<size_t>(user) % kinds.size()];
    const auto a = one.Intern(attributes);
    const auto b = bulk.Intern(attributes);
    ASSERT_EQ(a, b);
    for (int k = 0; k < 7; ++k) {
      const int32_t item = (user * 13 + k * 7) % (kItems + 5);  // some >= 50
      const double w = 1.0 + (user + k) % 4;
      one.Add(a, item, w);
      bulk.Add(b, item, w);
    }
    if (user == 120) {  // a removal in the middle of the load
      one.Add(a, 3, -0.5);
      bulk.Add(b, 3, -0.5);
    }
  }
  // Before EndBulk, Top sees only what was folded in; after, everything.
  bulk.EndBulk();
  for (const auto& attributes : kinds) {
    const auto values = one.Intern(attributes);
    const auto expected = one.Top(values, 100, 150);
    const auto got = bulk.Top(bulk.Intern(attributes), 100, 150);
    ASSERT_EQ(got.size(), expected.size());
    ASSERT_FALSE(got.empty());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].first, expected[i].first) << i;
      EXPECT_NEAR(got[i].second, expected[i].second, 1e-9 * expected[i].second);
    }
  }
}

class EngineAttributesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DemoOptions o;
    o.items = 400;
    o.users = 300;
    o.events = 20000;
    demo_ = GenerateDemoData(o);
  }
  DemoData demo_;
};

TEST_F(EngineAttributesTest, SameListsWhateverTheOrderOfEventsAndAttributes) {
  Engine before{EngineOptions{}};
  before.UpsertItems(demo_.items);
  before.UpsertUsers(demo_.users);
  before.ReplayEvents(demo_.events);

  Engine after{EngineOptions{}};
  after.UpsertItems(demo_.items);
  after.ReplayEvents(demo_.events);
  after.UpsertUsers(demo_.users);

  // A snapshot holds no attributes: given before it is loaded, they are
  // counted against the users it brings.
  Engine restored{EngineOptions{}};
  restored.UpsertUsers(demo_.users);
  ASSERT_OK(restored.LoadSnapshot(before.SaveSnapshot()));
  restored.UpsertItems(demo_.items);

  // The start-up path: attributes counted in bulk, in batches.
  Engine bulk{EngineOptions{}};
  bulk.UpsertItems(demo_.items);
  bulk.ReplayEvents(demo_.events);
  bulk.BeginUserLoad();
  for (size_t i = 0; i < demo_.users.size(); i += 64) {
    bulk.UpsertUsers(
        std::span<const UserAttributes>(demo_.users)
            .subspan(i, std::min<size_t>(64, demo_.users.size() - i)));
  }
  bulk.EndUserLoad();

  const std::vector<UserAttributes> newcomers = {
      {"new-a", {{"region", "north"}, {"age_band", "25-34"}}, 0},
      {"new-b", {{"region", "west"}}, 0}};
  for (Engine* e : {&before, &after, &restored, &bulk}) {
    e->UpsertUsers(newcomers);
  }
  for (const UserAttributes& n : newcomers) {
    Source source = Source::kUnspecified;
    const std::vector<std::string> list = ForYou(before, n.user_id, &source);
    EXPECT_EQ(source, Source::kAttributes);
    EXPECT_EQ(ForYou(after, n.user_id), list);
    EXPECT_EQ(ForYou(restored, n.user_id), list);
    EXPECT_EQ(ForYou(bulk, n.user_id), list);
  }
}

TEST_F(EngineAttributesTest, ErasureRemovesTheUsersShare) {
  Engine engine{EngineOptions{}};
  engine.UpsertItems(demo_.items);
  engine.ReplayEvents(demo_.events);
  engine.UpsertUsers(demo_.users);
  const std::vector<UserAttributes> newcomer = {
      {"new", {{"region", "east"}}, 0}};
  engine.UpsertUsers(newcomer);
  Source source = Source::kUnspecified;
  const std::vector<std::string> without = ForYou(engine, "new", &source);
  EXPECT_EQ(source, Source::kAttributes);
  // One easterner buys one item many times: it tops the easterners' list,
  // and goes back down once the buyer is erased.
  const std::vector<UserAttributes> buyer = {
      {"buyer", {{"region", "east"}}, 0}};
  engine.UpsertUsers(buyer);
  std::vector<Event> buys;
  for (int k = 0; k < 200; ++k) {
    buys.push_back({absl::StrCat("b", k), "buyer", "i399", EventType::kPurchase,
                    1, 1793491200000 + k, "", ""});
  }
  engine.ApplyEvents(buys);
  EXPECT_EQ(ForYou(engine, "new").front(), "i399");
  ASSERT_TRUE(engine.EraseUser("buyer"));
  EXPECT_EQ(ForYou(engine, "new"), without);
  EXPECT_FALSE(engine.GetUser("buyer").has_value());
}

}  // namespace
}  // namespace aisle::core
