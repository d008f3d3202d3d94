// ContentIndex (TF-IDF vectors, matching) and the engine's use of it: new
// items in SIMILAR_ITEMS and FOR_YOU slots, search steering, snapshots.
#include "core/content.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

Item MakeItem(std::string id, std::string title, std::string category,
              std::vector<std::string> tags) {
  Item item;
  item.item_id = std::move(id);
  item.title = std::move(title);
  item.categories = {std::move(category)};
  item.tags = std::move(tags);
  return item;
}

Event Ev(std::string user, std::string item, EventType type, int64_t ts) {
  Event e;
  e.user_id = std::move(user);
  e.item_id = std::move(item);
  e.type = type;
  e.timestamp_ms = ts;
  e.event_id = e.user_id + e.item_id + std::to_string(ts);
  return e;
}

TEST(ContentIndexTest, WordsDropStopWordsAndShortWordsKeepUtf8) {
  EXPECT_EQ(ContentIndex::Words("The Best of JAZZ, Vol. 2 - café"),
            (std::vector<std::string>{"best", "jazz", "vol", "café"}));
}

TEST(ContentIndexTest, TermsCoverCategoryPrefixesTagsAttributesAndTitle) {
  Item item = MakeItem("i", "Blue Train", "Music/Jazz", {"Vinyl"});
  item.attributes["label"] = "Blue Note";
  const std::vector<std::string> terms = ContentIndex::ItemTerms(item);
  for (const char* want : {"c:music", "c:music/jazz", "t:vinyl",
                           "a:label=blue note", "w:jazz", "w:train"}) {
    EXPECT_NE(std::find(terms.begin(), terms.end(), want), terms.end()) << want;
  }
}

// Norms are remembered between catalog changes: a vector read before
// other items moved its terms' idf must follow them (as an index built
// with the whole catalog at once does), and the same after a removal.
TEST(ContentIndexTest, VectorsFollowIdfAfterTheCatalogChanges) {
  const std::vector<Item> items = {
      MakeItem("a", "Blue Train", "music/jazz", {"vinyl"}),
      MakeItem("b", "Kind of Blue", "music/jazz", {"cd"}),
      MakeItem("c", "Giant Steps", "music/jazz", {"vinyl"}),
      MakeItem("d", "Blue Monk", "music/bebop", {"vinyl"})};
  ContentIndex live;
  live.Upsert(0, items[0]);
  const ContentVector alone = live.ItemVector(0);
  ContentIndex whole;
  for (size_t k = 0; k < items.size(); ++k) {
    live.Upsert(static_cast<int32_t>(k), items[k]);
    whole.Upsert(static_cast<int32_t>(k), items[k]);
  }
  const auto unit = [](const ContentVector& v) {
    double sum = 0;
    for (const auto& [term, w] : v) sum += static_cast<double>(w) * w;
    return std::abs(sum - 1) < 1e-5;
  };
  const ContentVector after = live.ItemVector(0);
  EXPECT_TRUE(unit(after));
  EXPECT_EQ(after, whole.ItemVector(0));
  EXPECT_NE(after, alone) << "idf did not move: the test proves nothing";
  live.Remove(3);
  EXPECT_TRUE(unit(live.ItemVector(0)));
  EXPECT_NE(live.ItemVector(0), after);
  EXPECT_EQ(live.ItemVector(0), live.ItemVector(0));
}

// Prefetch is a hint: it takes any ids (unknown, removed, negative) and
// leaves every vector and norm as it was.
TEST(ContentIndexTest, PrefetchTakesAnyIdsAndChangesNothing) {
  ContentIndex index;
  index.Upsert(0, MakeItem("a", "Blue Train", "music/jazz", {"vinyl"}));
  index.Upsert(2, MakeItem("c", "Giant Steps", "music/jazz", {"vinyl"}));
  index.Upsert(3, MakeItem("d", "Blue Monk", "music/bebop", {"cd"}));
  index.Remove(3);
  std::vector<ContentVector> before;
  for (int32_t i = 0; i < 5; ++i) before.push_back(index.ItemVector(i));
  ASSERT_FALSE(before[0].empty());
  ASSERT_TRUE(before[1].empty());
  ASSERT_TRUE(before[3].empty());
  const std::vector<int32_t> ids = {0, 1, 2, 3, 4, -1, 1 << 30, 2, 0};
  index.Prefetch(ids);
  index.Prefetch({});
  for (int32_t i = 0; i < 5; ++i) EXPECT_EQ(index.ItemVector(i), before[i]);
}

// A FOR_YOU profile sums items without building their vectors: the sums
// must be the ones Accumulate gives from ItemVector, to the last bit (a
// profile's term order and norm depend on them), for any id.
TEST(ContentIndexTest, AccumulateItemSumsWhatItemVectorHolds) {
  ContentIndex index;
  index.Upsert(0, MakeItem("a", "Blue Train", "music/jazz", {"vinyl"}));
  index.Upsert(2, MakeItem("c", "Giant Steps", "music/jazz", {"vinyl"}));
  index.Upsert(3, MakeItem("d", "Blue Monk Blue", "music/bebop", {"cd"}));
  const std::vector<std::pair<int32_t, double>> adds = {
      {0, 1.0},  {2, 0.37},      {3, 2.5}, {1, 1.0},
      {-1, 1.0}, {1 << 30, 1.0}, {3, 0.1}};
  ContentProfile direct, through_vectors;
  for (const auto& [item, weight] : adds) {
    index.AccumulateItem(item, weight, &direct);
    ContentIndex::Accumulate(index.ItemVector(item), weight, &through_vectors);
  }
  ASSERT_FALSE(direct.empty());
  EXPECT_EQ(direct, through_vectors);
}

TEST(ContentIndexTest, VectorsAreUnitAndSharedRareTermsMatchBest) {
  ContentIndex index;
  index.Upsert(0, MakeItem("a", "Blue Train", "music/jazz", {"vinyl"}));
  index.Upsert(1, MakeItem("b", "Kind of Blue", "music/jazz", {"vinyl"}));
  index.Upsert(2, MakeItem("c", "Nevermind", "music/rock", {"cd"}));
  const ContentVector a = index.ItemVector(0);
  EXPECT_NEAR(ContentIndex::Dot(a, a), 1.0, 1e-5);
  const auto matches = index.Match(a, 1000);
  ASSERT_GE(matches.size(), 3u);
  EXPECT_EQ(matches[0].first, 0);
  EXPECT_EQ(matches[1].first, 1);  // shares jazz, vinyl, blue
  EXPECT_GT(matches[1].second, matches[2].second);
  const auto shared = index.SharedTerms(a, 1, 5);
  EXPECT_NE(std::find(shared.begin(), shared.end(), "jazz"), shared.end());
  // Removal takes the item out of every posting list.
  index.Remove(1);
  EXPECT_TRUE(index.ItemVector(1).empty());
  for (const auto& [item, cos] : index.Match(a, 1000)) EXPECT_NE(item, 1);
  EXPECT_EQ(index.items(), 2);
}

TEST(ContentIndexTest, QueryVectorUsesKnownWordsOnly) {
  ContentIndex index;
  index.Upsert(0, MakeItem("a", "Blue Train", "music/jazz", {}));
  EXPECT_TRUE(index.QueryVector("polka").empty());
  const ContentVector q = index.QueryVector("JAZZ polka");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_NEAR(q[0].second, 1.0, 1e-6);
}

TEST(ContentIndexTest, MatchFreshSeesOnlyItemsStillMarkedNew) {
  ContentIndex index;
  index.Upsert(0, MakeItem("a", "Blue Train", "music/jazz", {"vinyl"}));
  index.Upsert(1, MakeItem("b", "Kind of Blue", "music/jazz", {"vinyl"}));
  index.SetFresh(1, true);
  const ContentVector q = index.ItemVector(0);
  EXPECT_EQ(index.Match(q, 1000).size(), 2u);
  auto fresh = index.MatchFresh(q, 1000, 10);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].first, 1);
  EXPECT_NEAR(fresh[0].second, index.Match(q, 1000)[1].second, 1e-9);
  // A re-upsert, changed or not, keeps the mark; an event ends it.
  index.Upsert(1, MakeItem("b", "Kind of Blue", "music/jazz", {"vinyl"}));
  EXPECT_EQ(index.MatchFresh(q, 1000, 10).size(), 1u);
  index.Upsert(1, MakeItem("b", "Kind of Blue", "music/jazz", {"cd"}));
  EXPECT_EQ(index.MatchFresh(q, 1000, 10).size(), 1u);
  index.SetFresh(1, false);
  EXPECT_TRUE(index.MatchFresh(q, 1000, 10).empty());
  // Removing an item drops its mark with it.
  index.SetFresh(1, true);
  index.Remove(1);
  EXPECT_FALSE(index.IsFresh(1));
  EXPECT_TRUE(index.MatchFresh(q, 1000, 10).empty());
  EXPECT_EQ(index.items(), 1);
  index.SetFresh(7, true);  // not indexed: ignored
  EXPECT_FALSE(index.IsFresh(7));
}

// Among many new items under several of the query's terms (more than
// twice `limit`, so that the best are first chosen by the norm each item
// had when indexed), MatchFresh gives the `limit` best new items by
// cosine, as Match (every item, exact norms) ranks them. Every item is
// indexed twice, so that each one's indexed norm is its norm in the
// final catalog.
TEST(ContentIndexTest, MatchFreshOverManyNewItemsGivesTheBestByCosine) {
  ContentIndex index;
  const std::vector<std::string> words = {
      "blue",  "train", "night", "moon",  "river", "city",  "rain",
      "gold",  "stone", "fire",  "glass", "wind",  "smoke", "sun",
      "north", "ghost", "honey", "iron",  "paper", "velvet"};
  const std::vector<std::string> tags = {"vinyl", "cd",       "tape",
                                         "live",  "remaster", "box"};
  std::vector<Item> items;
  uint32_t h = 12345;
  const auto draw = [&h](size_t n) {
    h = h * 1664525u + 1013904223u;
    return static_cast<size_t>(h >> 8) % n;
  };
  for (int i = 0; i < 400; ++i) {
    std::string title;
    for (int w = 0; w < 3; ++w) title += words[draw(words.size())] + " ";
    items.push_back(MakeItem(absl::StrCat("i", i), title,
                             absl::StrCat("music/g", draw(4)),
                             {tags[draw(tags.size())]}));
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 400; ++i) index.Upsert(i, items[i]);
  }
  for (int i = 100; i < 400; ++i) index.SetFresh(i, true);
  for (const int asker : {0, 7, 42}) {
    const ContentVector q = index.ItemVector(asker);
    std::vector<std::pair<int32_t, double>> expected;
    for (const auto& [item, cos] : index.Match(q, 100000)) {
      if (item >= 100 && expected.size() < 10) expected.emplace_back(item, cos);
    }
    const auto got = index.MatchFresh(q, 100000, 10);
    ASSERT_EQ(got.size(), expected.size()) << "asker " << asker;
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].first, expected[k].first) << "asker " << asker;
      EXPECT_NEAR(got[k].second, expected[k].second, 1e-9);
    }
  }
}

// An answer kept for a query is given again only while nothing it
// depends on changed: fresh marks, the catalog (idf, norms).
TEST(ContentIndexTest, MatchFreshKeptAnswersFollowEveryChange) {
  ContentIndex index;
  index.Upsert(0, MakeItem("a", "Blue Train", "music/jazz", {"vinyl"}));
  index.Upsert(1, MakeItem("b", "Kind of Blue", "music/jazz", {"vinyl"}));
  index.Upsert(2, MakeItem("c", "Blue Note", "music/jazz", {"cd"}));
  index.SetFresh(1, true);
  index.SetFresh(2, true);
  const ContentVector q = index.ItemVector(0);
  const auto ask = [&] { return index.MatchFresh(q, 1000, 10); };
  const auto before = ask();
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(ask(), before);  // seen twice: kept
  EXPECT_EQ(ask(), before);  // given again
  index.SetFresh(1, false);
  auto after = ask();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].first, 2);
  EXPECT_EQ(ask(), after);
  EXPECT_EQ(ask(), after);
  // A catalog change moves idf, so every cosine: not the kept answer.
  index.Upsert(3, MakeItem("d", "Vinyl cleaner", "care", {"vinyl"}));
  const auto moved = ask();
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_NE(moved[0].second, after[0].second);
  ContentIndex fresh_copy;  // the same catalog, nothing kept
  fresh_copy.Upsert(0, MakeItem("a", "Blue Train", "music/jazz", {"vinyl"}));
  fresh_copy.Upsert(1, MakeItem("b", "Kind of Blue", "music/jazz", {"vinyl"}));
  fresh_copy.Upsert(2, MakeItem("c", "Blue Note", "music/jazz", {"cd"}));
  fresh_copy.Upsert(3, MakeItem("d", "Vinyl cleaner", "care", {"vinyl"}));
  fresh_copy.SetFresh(2, true);
  EXPECT_EQ(ask(), fresh_copy.MatchFresh(q, 1000, 10));
  index.SetFresh(3, true);
  EXPECT_EQ(ask().size(), 2u);
}

// Two taste groups with events and no word in common, and one new jazz
// item without any events.
std::unique_ptr<Engine> Store() {
  auto engine = std::make_unique<Engine>(EngineOptions{});
  std::vector<Item> items;
  for (int i = 0; i < 6; ++i) {
    items.push_back(MakeItem("jazz" + std::to_string(i), "Bebop session",
                             "jazz/bebop", {"saxophone"}));
    items.push_back(MakeItem("rock" + std::to_string(i), "Indie record",
                             "rock/indie", {"guitar"}));
  }
  // Shares the "jazz" prefix, a tag and a title word, not the leaf.
  items.push_back(
      MakeItem("newjazz", "Fusion session", "jazz/fusion", {"saxophone"}));
  engine->UpsertItems(items);
  std::vector<Event> events;
  int64_t ts = 1000;
  for (int u = 0; u < 6; ++u) {
    for (int i = 0; i < 6; ++i) {
      events.push_back(Ev(absl::StrCat("u", u),
                          absl::StrCat(u % 2 == 0 ? "jazz" : "rock", i),
                          EventType::kView, ts++));
    }
  }
  engine->ApplyEvents(events);
  return engine;
}

bool Has(const Recommendation& r, const std::string& id) {
  for (const ScoredItem& s : r.items) {
    if (s.item_id == id) return true;
  }
  return false;
}

// FOR_YOU top 3 for u0, a jazz listener, seen items kept, with reasons.
RecommendRequest JazzListenerTop3() {
  RecommendRequest req;
  req.user_id = "u0";
  req.count = 3;
  req.include_seen = true;
  req.explain = true;
  return req;
}

// A query whose strongest term has max_postings fresh items or more reads
// that term alone, through a per-term list kept until the term's fresh
// items change: every change must show, and the answer must be the scan's.
TEST(ContentIndexTest, MatchFreshOnOneTermSeesEveryChangeOfItsFreshItems) {
  ContentIndex index;
  constexpr int kItems = 40;
  for (int i = 0; i < kItems; ++i) {
    // Titles of different lengths: different norms, so a clear order.
    std::string title = "jazz";
    for (int w = 0; w < i % 7; ++w)
      title += " word" + std::to_string(i * 10 + w);
    index.Upsert(i, MakeItem("i" + std::to_string(i), title, "music", {}));
    index.SetFresh(i, true);
  }
  const ContentVector q = index.QueryVector("jazz");
  ASSERT_EQ(q.size(), 1u);
  // max_postings 30 <= 40 fresh items with the term: the kept list; 1000:
  // the scan over every posting. The newest 30 are items 10..39.
  const auto kept = index.MatchFresh(q, 30, 5);
  ASSERT_EQ(kept.size(), 5u);
  for (const auto& [item, cos] : kept) EXPECT_GE(item, 10);
  EXPECT_EQ(index.MatchFresh(q, 30, 5), kept);  // the kept answer again
  // The best one gets an event: it must go, at once.
  index.SetFresh(kept[0].first, false);
  const auto after = index.MatchFresh(q, 30, 5);
  ASSERT_EQ(after.size(), 5u);
  for (const auto& [item, cos] : after) EXPECT_NE(item, kept[0].first);
  EXPECT_EQ(after[0], kept[1]);
  // A new item matching better (the term twice in its title) comes first.
  index.Upsert(kItems, MakeItem("new", "jazz jazz", "music", {}));
  index.SetFresh(kItems, true);
  EXPECT_EQ(index.MatchFresh(q, 30, 5)[0].first, kItems);
  // With every fresh item of the term read, the scan gives the same order.
  const auto scan = index.MatchFresh(q, 1000, 5);
  const auto one_term = index.MatchFresh(q, kItems, 5);
  ASSERT_EQ(scan.size(), one_term.size());
  for (size_t k = 0; k < scan.size(); ++k) {
    EXPECT_EQ(scan[k].first, one_term[k].first);
    EXPECT_NEAR(scan[k].second, one_term[k].second, 1e-12);
  }
}

// Items leave the fresh lists at their first event without a scan of
// those lists: what MatchFresh reads must still be exactly the items
// marked fresh, each once, the newest first, across compactions, items
// coming back and items re-indexed with other content.
void ExpectFreshListsFollowTheItems(ContentIndex& index) {
  constexpr int kItems = 300;
  // Items in the order they entered the fresh lists (marked fresh, or
  // re-indexed while fresh: both append).
  std::vector<int32_t> freshened;
  const auto upsert = [&](int i, int words) {
    std::string title = "jazz";
    for (int w = 0; w < words; ++w) title += " word" + std::to_string(i + w);
    const bool was_fresh = index.IsFresh(i);
    index.Upsert(i, MakeItem("i" + std::to_string(i), title, "music", {}));
    if (was_fresh) freshened.push_back(i);
  };
  const auto freshen = [&](int i) {
    index.SetFresh(i, true);
    freshened.push_back(i);
  };
  for (int i = 0; i < kItems; ++i) {
    upsert(i, i % 5);
    freshen(i);
  }
  // Most leave (several compactions), some come back, some are
  // re-indexed with other content while fresh, some while not.
  for (int i = 0; i < kItems; ++i) {
    if (i % 4 != 0) index.SetFresh(i, false);
  }
  for (int i = 1; i < kItems; i += 8) freshen(i);
  for (int i = 0; i < kItems; i += 12) upsert(i, 6);  // fresh: stays fresh
  for (int i = 2; i < kItems; i += 16) upsert(i, 6);  // not fresh: stays out
  const ContentVector q = index.QueryVector("jazz");
  // Every fresh item once, with Match's cosine.
  std::map<int32_t, double> expected;
  for (const auto& [item, cos] : index.Match(q, 100000)) {
    if (index.IsFresh(item)) expected[item] = cos;
  }
  ASSERT_GT(expected.size(), 50u);
  const auto all = index.MatchFresh(q, 100000, 100000);
  std::map<int32_t, double> got;
  for (const auto& [item, cos] : all) {
    EXPECT_TRUE(got.emplace(item, cos).second) << "twice: " << item;
  }
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [item, cos] : expected) {
    ASSERT_TRUE(got.contains(item)) << item;
    EXPECT_NEAR(got[item], cos, 1e-9) << item;
  }
  // Reading at most 20 postings reads the 20 newest fresh ones.
  std::set<int32_t> newest;
  for (auto it = freshened.rbegin(); it != freshened.rend(); ++it) {
    if (newest.size() == 20) break;
    if (index.IsFresh(*it)) newest.insert(*it);  // its latest entry
  }
  std::set<int32_t> read;
  for (const auto& [item, cos] : index.MatchFresh(q, 20, 20)) read.insert(item);
  EXPECT_EQ(read, newest);
}

TEST(ContentIndexTest, MatchFreshReadsTheFreshItemsOnlyAsTheyComeAndGo) {
  ContentIndex index;
  ExpectFreshListsFollowTheItems(index);
}

// The same when the 32-bit number the lists are ordered by wraps halfway:
// the fresh items are numbered again, in the same order.
TEST(ContentIndexTest, FreshListsKeepTheirOrderWhenTheirNumberingWraps) {
  ContentIndex index(std::numeric_limits<uint32_t>::max() - 150);
  ExpectFreshListsFollowTheItems(index);
}

TEST(EngineContentTest, NewItemTakesASlotForMatchingUsersOnly) {
  auto engine = Store();
  RecommendRequest req = JazzListenerTop3();
  ASSERT_OK_AND_ASSIGN(Recommendation jazz, engine->Recommend(req));
  ASSERT_TRUE(Has(jazz, "newjazz"));
  EXPECT_EQ(jazz.items.back().item_id, "newjazz");  // the last slot
  EXPECT_EQ(jazz.items.back().reasons[0].code, ReasonCode::kNewItem);
  EXPECT_EQ(jazz.items.back().reasons[1].code, ReasonCode::kSimilarContent);
  req.user_id = "u1";  // rock
  ASSERT_OK_AND_ASSIGN(Recommendation rock, engine->Recommend(req));
  EXPECT_FALSE(Has(rock, "newjazz"));
  req.user_id = "u0";
  req.new_item_slots = 0;
  ASSERT_OK_AND_ASSIGN(Recommendation off, engine->Recommend(req));
  EXPECT_FALSE(Has(off, "newjazz"));
}

TEST(EngineContentTest, AnItemStopsBeingNewAtItsFirstEvent) {
  auto engine = Store();
  RecommendRequest req = JazzListenerTop3();
  ASSERT_OK_AND_ASSIGN(Recommendation before, engine->Recommend(req));
  ASSERT_TRUE(Has(before, "newjazz"));
  // A first view, by a shopper with no other history (no co-occurrence).
  const std::vector<Event> first = {
      Ev("other", "newjazz", EventType::kView, 5000)};
  engine->ApplyEvents(first);
  ASSERT_OK_AND_ASSIGN(Recommendation after, engine->Recommend(req));
  for (const ScoredItem& s : after.items) {
    ASSERT_FALSE(s.reasons.empty());
    EXPECT_NE(s.reasons[0].code, ReasonCode::kNewItem) << s.item_id;
  }
}

TEST(EngineContentTest, NewItemIsSimilarToItemsSharingItsContent) {
  auto engine = Store();
  RecommendRequest req;
  req.scenario = Scenario::kSimilarItems;
  req.context_item_ids = {"jazz0"};
  req.count = 8;           // without a model, after the 5 co-occurring items
  req.new_item_slots = 0;  // found by content similarity, not the slot
  req.explain = true;
  ASSERT_OK_AND_ASSIGN(Recommendation r, engine->Recommend(req));
  ASSERT_TRUE(Has(r, "newjazz"));
  for (const ScoredItem& s : r.items) {
    if (s.item_id != "newjazz") continue;
    EXPECT_EQ(s.reasons[0].code, ReasonCode::kSimilarContent);
    EXPECT_EQ(s.reasons[0].related_item_id, "jazz0");
    EXPECT_NE(s.reasons[0].detail.find("jazz"), std::string::npos);
  }
  req.context_item_ids = {"rock0"};
  ASSERT_OK_AND_ASSIGN(Recommendation rock, engine->Recommend(req));
  EXPECT_FALSE(Has(rock, "newjazz"));
}

TEST(EngineContentTest, SearchIsKeptInSnapshotsAndErasedWithTheUser) {
  auto engine = Store();
  Event search = Ev("u1", "", EventType::kSearch, 9000);
  search.query = "saxophone jazz";
  engine->ApplyEvents(std::vector<Event>{search});
  const auto scores = [](const Engine& e) {
    return e.ContentScores("u1", std::vector<std::string>{"newjazz"})[0];
  };
  const double after_search = scores(*engine);
  EXPECT_GT(after_search, scores(*Store()));  // the query counts
  // A restart from a snapshot (then the catalog) has the same profile.
  Engine restored{EngineOptions{}};
  ASSERT_OK(restored.LoadSnapshot(engine->SaveSnapshot()));
  std::vector<Item> items;
  for (const std::string genre : {"jazz", "rock"}) {
    for (int i = 0; i < 6; ++i) {
      items.push_back(*engine->GetItem(genre + std::to_string(i)));
    }
  }
  items.push_back(*engine->GetItem("newjazz"));
  restored.UpsertItems(items);
  EXPECT_DOUBLE_EQ(scores(restored), after_search);
  EXPECT_TRUE(engine->EraseUser("u1"));
  EXPECT_EQ(scores(*engine), 0);
}

}  // namespace
}  // namespace aisle::core
