// The engine's retrieval through the ANN index (models of at least
// ann_min_items items), apart from engine_test.cc: building an index takes
// hnswlib's per-node locks, thousands of them, which overwhelm
// ThreadSanitizer's lock-order graph (scripts/sanitizers/
// tsan_suppressions.txt), so this binary runs without TSan's deadlock
// detector; the engine's own locks are checked by engine_test.cc and the
// server's tests.
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine.h"
#include "core/engine_test_util.h"
#include "core/test_vectors.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

// Read by the ThreadSanitizer runtime only (see the file comment).
extern "C" const char* __tsan_default_options() { return "detect_deadlocks=0"; }

namespace aisle::core {
namespace {

// 400 items a0..a399 priced 0..399, in `categories` categories (c0..),
// with 4-factor vectors pointing by i % 4: upserted into `engine` and a
// model over them (with an ANN index: ann_min_items is 100) swapped in.
struct Catalog400 {
  std::vector<Item> items;
  std::vector<std::string> ids;
};

Catalog400 SwapInCatalog400(Engine& engine, const EngineOptions& options,
                            int categories) {
  Catalog400 c;
  RowMatrix y(400, 4);
  for (int i = 0; i < 400; ++i) {
    c.ids.push_back(absl::StrCat("a", i));
    c.items.push_back(
        MakeItem(c.ids.back(), absl::StrCat("c", i % categories), i));
    y.row(i).setConstant(0.01f);
    y(i, i % 4) = 1.0f + 0.001f * i;
  }
  engine.UpsertItems(c.items);
  ModelMetadata meta;
  meta.version = "ann";
  meta.factors = 4;
  meta.parameters = {{"regularization", "0.1"}};
  auto model =
      FactorModel::Create(meta, c.ids, y, {}, RowMatrix(), options.model);
  EXPECT_OK(model);
  if (!model.ok()) return c;
  EXPECT_NE((*model)->ann(), nullptr);
  engine.SwapModel(*model);
  return c;
}

EngineOptions AnnOptionsFor400() {
  EngineOptions options;
  options.model.ann_min_items = 100;
  options.model.ann.threads = 1;
  return options;
}

TEST(EngineTest, AnnPathOverFetchesAndSelectiveFiltersGoExact) {
  const EngineOptions options = AnnOptionsFor400();
  Engine engine(options);
  // Vectors pointing by category.
  SwapInCatalog400(engine, options, 4);
  // The user has seen the 60 best c0 items; over-fetch must get past them.
  std::vector<Event> events;
  for (int i = 399; events.size() < 60; --i) {
    if (i % 4 == 0)
      events.push_back(Ev("u", absl::StrCat("a", i), EventType::kPurchase));
  }
  engine.ApplyEvents(events);
  RecommendTrace trace;
  auto req = Req(Scenario::kForYou, "u", 10);
  auto r = engine.Recommend(req, &trace);
  ASSERT_OK(r);
  EXPECT_TRUE(trace.used_ann);
  ASSERT_EQ(r->items.size(), 10u);
  for (const auto& s : r->items) {
    EXPECT_EQ(s.source, Source::kFactorModel);
    const int i = std::stoi(s.item_id.substr(1));
    EXPECT_EQ(i % 4, 0) << s.item_id;
    EXPECT_LT(i, 160) << "seen item " << s.item_id;
  }
  // A filter keeping 1% of the catalog: exact with the predicate.
  RecommendTrace exact_trace;
  req.filter.max_price = 3;
  auto few = engine.Recommend(req, &exact_trace);
  ASSERT_OK(few);
  EXPECT_TRUE(exact_trace.used_exact);
  EXPECT_EQ(Ids(*few), (std::vector<std::string>{"a0", "a1", "a2", "a3"}));
}

// The share of the catalog an unfiltered request can reach is kept between
// requests (Runner::Selectivity); deleting most of the catalog must still
// send the next request to exact search, and listing it again to the index.
TEST(EngineTest, UnfilteredShareFollowsTheCatalog) {
  const EngineOptions options = AnnOptionsFor400();
  Engine engine(options);
  const Catalog400 catalog = SwapInCatalog400(engine, options, 1);
  const std::vector<std::string>& ids = catalog.ids;
  const std::vector<Item>& items = catalog.items;
  engine.ApplyEvents(std::vector<Event>{Ev("u", "a0", EventType::kPurchase)});
  const auto req = Req(Scenario::kForYou, "u", 5);
  auto traced = [&](RecommendTrace* trace) {
    auto r = engine.Recommend(req, trace);
    EXPECT_OK(r);
    return r.ok() ? Ids(*r) : std::vector<std::string>();
  };
  RecommendTrace before;
  traced(&before);
  EXPECT_TRUE(before.used_ann);
  // 2% of the model's items left: below exact_below_selectivity (5%).
  std::vector<std::string> gone(ids.begin() + 8, ids.end());
  engine.DeleteItems(gone);
  RecommendTrace after_delete;
  const std::vector<std::string> left = traced(&after_delete);
  EXPECT_TRUE(after_delete.used_exact);
  EXPECT_FALSE(after_delete.used_ann);
  for (const std::string& id : left) {
    EXPECT_LT(std::stoi(id.substr(1)), 8) << id;
  }
  engine.UpsertItems(std::vector<Item>(items.begin() + 8, items.end()));
  RecommendTrace relisted;
  traced(&relisted);
  EXPECT_TRUE(relisted.used_ann);
}

// SIMILAR_ITEMS ranks by cosine. Through the index's cosine graph it
// answers what exact search answers, also where an item's nearest
// neighbours by angle are short vectors (items with few events), which an
// inner-product search ranks low.
TEST(EngineTest, SimilarItemsThroughTheIndexAgreeWithExactSearch) {
  constexpr int kItems = 3000;
  std::vector<Item> items;
  std::vector<std::string> ids;
  RowMatrix y = test_vectors::Gaussian(kItems, 8, 1.0f, 51);
  std::mt19937_64 rng(53);
  std::uniform_real_distribution<float> scale(0.05f, 5.0f);
  for (int i = 0; i < kItems; ++i) {
    y.row(i) *= scale(rng);
    ids.push_back(absl::StrCat("a", i));
    items.push_back(MakeItem(ids.back(), "c"));
  }
  ModelMetadata meta;
  meta.version = "cosine";
  meta.factors = 8;
  meta.parameters = {{"regularization", "0.1"}};
  auto answers = [&](int32_t ann_min_items, bool* used_ann) {
    EngineOptions options = WithoutSession();
    options.model.ann_min_items = ann_min_items;
    options.model.ann.threads = 1;
    Engine engine(options);
    engine.UpsertItems(items);
    auto model =
        FactorModel::Create(meta, ids, y, {}, RowMatrix(), options.model);
    EXPECT_OK(model);
    engine.SwapModel(*model);
    std::vector<std::vector<std::string>> out;
    for (int c = 0; c < 40; ++c) {
      RecommendRequest req = Req(Scenario::kSimilarItems, "", 10);
      req.context_item_ids = {absl::StrCat("a", c * 71 % kItems)};
      RecommendTrace trace;
      auto r = engine.Recommend(req, &trace);
      EXPECT_OK(r);
      *used_ann = *used_ann || trace.used_ann;
      out.push_back(Ids(*r));
    }
    return out;
  };
  bool exact_used_ann = false, indexed_used_ann = false;
  const auto exact = answers(kItems + 1, &exact_used_ann);
  const auto indexed = answers(100, &indexed_used_ann);
  EXPECT_FALSE(exact_used_ann);
  EXPECT_TRUE(indexed_used_ann);
  int same = 0, total = 0;
  for (size_t c = 0; c < exact.size(); ++c) {
    ASSERT_EQ(exact[c].size(), 10u);
    const std::set<std::string> want(exact[c].begin(), exact[c].end());
    for (const std::string& id : indexed[c]) same += want.count(id);
    total += 10;
  }
  EXPECT_GE(same, 0.95 * total) << same << " of " << total;
}

}  // namespace
}  // namespace aisle::core
