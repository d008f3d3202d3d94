#include "core/segments.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "core/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::testing::HasSubstr;

// Two groups of users with planted tastes: group 0 buys cheap books
// (items 0..9), group 1 expensive shoes (items 10..19); everyone also
// buys item 20, a bestseller. User vectors point one way per group (with
// a different length per user: activity must not split a group).
struct Planted {
  SparseRows user_items;
  RowMatrix user_factors;
  std::vector<std::string> item_ids;
  ItemFacts facts;
  std::vector<int> group;
};

Planted MakePlanted() {
  Planted p;
  const int users = 40, items = 21;
  std::vector<Triplet> t;
  p.user_factors.resize(users, 3);
  for (int u = 0; u < users; ++u) {
    const int g = u % 2;
    p.group.push_back(g);
    for (int k = 0; k < 4; ++k) t.push_back({u, g * 10 + (u + k) % 10, 2.0f});
    t.push_back({u, 20, 1.0f});
    const float scale = 1.0f + static_cast<float>(u % 5);
    p.user_factors.row(u) << (g == 0 ? scale : 0.1f), (g == 1 ? scale : 0.1f),
        0.05f * static_cast<float>(u % 3);
  }
  p.user_items = SparseRows::FromTriplets(users, items, std::move(t));
  for (int i = 0; i < items; ++i) {
    p.item_ids.push_back("i" + std::to_string(i));
    if (i < 10) {
      p.facts.categories.push_back({"books/fiction"});
      p.facts.prices.push_back(5 + i);
    } else if (i < 20) {
      p.facts.categories.push_back({"shoes/running"});
      p.facts.prices.push_back(100 + i);
    } else {
      p.facts.categories.push_back({"gifts"});
      p.facts.prices.push_back(40);
    }
  }
  return p;
}

TEST(LearnSegmentsTest, SeparatesPlantedTastesAndLabelsThem) {
  const Planted p = MakePlanted();
  ASSERT_OK_AND_ASSIGN(LearnedSegments learned,
                       LearnSegments(p.user_items, p.user_factors, p.item_ids,
                                     p.facts, {.k = 2}));
  const Segments& s = learned.segments;
  ASSERT_EQ(s.info.size(), 2u);
  // Each segment holds one group only, and is named after its taste.
  std::map<int32_t, std::map<int, int>> groups;
  for (int u = 0; u < p.user_factors.rows(); ++u) {
    const Eigen::VectorXf v = p.user_factors.row(u).transpose();
    groups[s.Assign(v)][p.group[u]]++;
  }
  ASSERT_EQ(groups.size(), 2u);
  for (const auto& [segment, by_group] : groups) {
    ASSERT_EQ(by_group.size(), 1u) << "segment " << segment << " mixes groups";
    const int g = by_group.begin()->first;
    const SegmentInfo& info = s.info[segment];
    EXPECT_EQ(info.users, 20);
    ASSERT_FALSE(info.top_categories.empty());
    EXPECT_EQ(info.top_categories[0].first,
              g == 0 ? "books/fiction" : "shoes/running");
    EXPECT_EQ(info.price_band, g == 0 ? "budget" : "premium");
    EXPECT_THAT(info.label, HasSubstr(info.top_categories[0].first));
    EXPECT_THAT(info.label, HasSubstr(info.price_band));
    // The bestseller everyone buys does not lead a segment's items.
    ASSERT_FALSE(info.top_items.empty());
    EXPECT_NE(info.top_items[0], "i20");
  }
  EXPECT_GT(learned.silhouette, 0.5);
}

TEST(LearnSegmentsTest, FewerUsersThanKLowersKAndZeroVectorsHaveNoSegment) {
  Planted p = MakePlanted();
  ASSERT_OK_AND_ASSIGN(LearnedSegments learned,
                       LearnSegments(p.user_items, p.user_factors, p.item_ids,
                                     p.facts, {.k = 100}));
  EXPECT_EQ(learned.segments.info.size(), 40u);
  EXPECT_EQ(learned.segments.Assign(Eigen::VectorXf::Zero(3)), -1);
  EXPECT_EQ(learned.segments.Assign(Eigen::VectorXf::Ones(4)), -1);
  p.facts.prices.pop_back();
  EXPECT_FALSE(
      LearnSegments(p.user_items, p.user_factors, p.item_ids, p.facts, {.k = 2})
          .ok());
}

TEST(PriceBandsTest, NamesAndWeightedMedian) {
  PriceBands bands{.budget_below = 10, .premium_above = 50};
  EXPECT_EQ(bands.Name(5), "budget");
  EXPECT_EQ(bands.Name(30), "mid-range");
  EXPECT_EQ(bands.Name(60), "premium");
  EXPECT_EQ(bands.Name(0), "");
  EXPECT_EQ(PriceBands{}.Name(30), "");
  EXPECT_EQ(WeightedMedianPrice({{5, 1}, {60, 3}}), 60);
  EXPECT_EQ(WeightedMedianPrice({{5, 3}, {60, 1}}), 5);
  EXPECT_EQ(WeightedMedianPrice({}), 0);
}

std::shared_ptr<const FactorModel> ModelWith(Segments segments) {
  RowMatrix items = RowMatrix::Random(4, 3);
  ModelMetadata metadata;
  metadata.version = "v";
  metadata.factors = 3;
  auto model =
      FactorModel::Create(metadata, {"a", "b", "c", "d"}, items, {},
                          RowMatrix(0, 3), ModelOptions{}, std::move(segments));
  EXPECT_OK(model);
  return model.ok() ? *model : nullptr;
}

TEST(ModelSegmentsTest, SegmentsSurviveTheBlobAndFormatOneStillLoads) {
  const Planted p = MakePlanted();
  ASSERT_OK_AND_ASSIGN(LearnedSegments learned,
                       LearnSegments(p.user_items, p.user_factors, p.item_ids,
                                     p.facts, {.k = 2}));
  auto model = ModelWith(learned.segments);
  ASSERT_NE(model, nullptr);
  ASSERT_OK_AND_ASSIGN(auto loaded,
                       FactorModel::Deserialize(model->Serialize(), {}));
  const Segments& s = loaded->segments();
  ASSERT_EQ(s.info.size(), 2u);
  EXPECT_TRUE(s.centroids.isApprox(learned.segments.centroids));
  EXPECT_EQ(s.price_bands.premium_above,
            learned.segments.price_bands.premium_above);
  for (int c = 0; c < 2; ++c) {
    EXPECT_EQ(s.info[c].id, c);
    EXPECT_EQ(s.info[c].label, learned.segments.info[c].label);
    EXPECT_EQ(s.info[c].users, learned.segments.info[c].users);
    EXPECT_EQ(s.info[c].top_categories,
              learned.segments.info[c].top_categories);
    EXPECT_EQ(s.info[c].top_items, learned.segments.info[c].top_items);
  }

  // A format-1 blob (stored before segments existed) is the format-2 body
  // without the segments section: it loads, with no segments.
  const std::string v2 = ModelWith({})->Serialize();
  // Empty segments: 0x0 matrix (8) + two bands (16) + count (4).
  std::string body = v2.substr(24, v2.size() - 24 - 28);
  std::string v1 = v2.substr(0, 8);
  const uint32_t format = 1, crc = Crc32c(body);
  const uint64_t length = body.size();
  v1.append(reinterpret_cast<const char*>(&format), 4);
  v1.append(reinterpret_cast<const char*>(&crc), 4);
  v1.append(reinterpret_cast<const char*>(&length), 8);
  v1 += body;
  ASSERT_OK_AND_ASSIGN(auto old, FactorModel::Deserialize(v1, {}));
  EXPECT_TRUE(old->segments().empty());
  EXPECT_EQ(old->num_items(), 4);
}

TEST(ModelSegmentsTest, CentroidsOfAnotherWidthAreRefused) {
  Segments bad;
  bad.centroids = RowMatrix::Ones(1, 5);
  bad.info.resize(1);
  RowMatrix items = RowMatrix::Random(2, 3);
  ModelMetadata metadata;
  metadata.version = "v";
  metadata.factors = 3;
  EXPECT_FALSE(FactorModel::Create(metadata, {"a", "b"}, items, {},
                                   RowMatrix(0, 3), ModelOptions{}, bad)
                   .ok());
}

}  // namespace
}  // namespace aisle::core
