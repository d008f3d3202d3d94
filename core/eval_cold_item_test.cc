// The cold-item protocol on a small store whose content predicts taste,
// and the MovieLens item reader.
#include "core/eval_cold_item.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

// 40 items in two genres; 30 users each rating 12 items of one genre (and
// one of the other, so a held-out item is not trivially in one group).
struct Store {
  std::vector<Item> items;
  std::vector<Rating> ratings;
};

Store TwoGenres() {
  Store s;
  for (int i = 0; i < 40; ++i) {
    Item item;
    item.item_id = absl::StrCat("m", i);
    const bool western = i % 2 == 0;
    item.title = western ? "Gunfight at the Ranch" : "Space Station Odyssey";
    item.categories = {western ? "western" : "sci-fi"};
    item.attributes["decade"] = western ? "1950s" : "1990s";
    s.items.push_back(item);
  }
  int64_t ts = 1;
  for (int u = 0; u < 30; ++u) {
    const int genre = u % 2;
    for (int k = 0; k < 12; ++k) {
      const int i = 2 * ((u + 3 * k) % 20) + genre;
      s.ratings.push_back(
          {absl::StrCat("u", u), absl::StrCat("m", i), 4, 1000 * ts++});
    }
    const int other = 2 * (u % 20) + (1 - genre);
    s.ratings.push_back(
        {absl::StrCat("u", u), absl::StrCat("m", other), 2, 1000 * ts++});
  }
  return s;
}

TEST(EvalColdItemTest, ContentBeatsRandomWhenContentPredictsTaste) {
  const Store s = TwoGenres();
  ColdItemOptions options;
  options.holdout = 0.25;
  options.k = 3;
  ASSERT_OK_AND_ASSIGN(ColdItemReport r,
                       EvaluateColdItem(s.ratings, s.items, options));
  EXPECT_EQ(r.held_out_items, 10);
  EXPECT_GT(r.users_evaluated, 0);
  EXPECT_GT(r.content.auc, r.random.auc);
  EXPECT_GT(r.content.ndcg, r.random.ndcg);
  EXPECT_GT(r.content.recall, r.random.recall);
  EXPECT_NEAR(r.random.auc, 0.5, 0.1);
  // Deterministic for a seed.
  ASSERT_OK_AND_ASSIGN(ColdItemReport again,
                       EvaluateColdItem(s.ratings, s.items, options));
  EXPECT_EQ(again.content.ndcg, r.content.ndcg);
  EXPECT_EQ(again.random.ndcg, r.random.ndcg);
}

TEST(EvalColdItemTest, WithoutContentTheRankingIsNoBetterThanItsTies) {
  Store s = TwoGenres();
  for (Item& item : s.items) {
    item.title.clear();
    item.categories.clear();
    item.attributes.clear();
  }
  ColdItemOptions options;
  options.holdout = 0.25;
  ASSERT_OK_AND_ASSIGN(ColdItemReport r,
                       EvaluateColdItem(s.ratings, s.items, options));
  EXPECT_DOUBLE_EQ(r.content.auc, 0.5);  // every score 0: all ties
}

TEST(EvalColdItemTest, RefusesBadOptions) {
  const Store s = TwoGenres();
  ColdItemOptions options;
  options.holdout = 1;
  EXPECT_FALSE(EvaluateColdItem(s.ratings, s.items, options).ok());
  options = ColdItemOptions();
  options.k = 0;
  EXPECT_FALSE(EvaluateColdItem(s.ratings, s.items, options).ok());
}

TEST(EvalColdItemTest, ReadsMovieLensItems) {
  const std::string path =
      ::testing::TempDir() + "/u.item." + std::to_string(::getpid());
  {
    std::ofstream out(path);
    out << "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|"
           "0|0|0|0|0|0|0\n"
        << "267|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n";
  }
  ASSERT_OK_AND_ASSIGN(std::vector<Item> items, LoadMovieLensItems(path));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].item_id, "1");
  EXPECT_EQ(items[0].title, "Toy Story");
  EXPECT_EQ(items[0].categories,
            (std::vector<std::string>{"animation", "children's", "comedy"}));
  EXPECT_EQ(items[0].attributes.at("year"), "1995");
  EXPECT_EQ(items[0].attributes.at("decade"), "1990s");
  EXPECT_EQ(items[1].categories, (std::vector<std::string>{"unknown"}));
  EXPECT_TRUE(items[1].attributes.empty());
  {
    std::ofstream out(path);
    out << "1|too|few\n";
  }
  EXPECT_EQ(LoadMovieLensItems(path).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
  EXPECT_EQ(LoadMovieLensItems(path).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace aisle::core
