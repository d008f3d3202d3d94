#include "server/item_activity.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

core::Recommendation Answer(const std::vector<std::string>& ids) {
  core::Recommendation rec;
  for (const std::string& id : ids) rec.items.push_back({.item_id = id});
  return rec;
}

core::Event Event(const std::string& item, core::EventType type) {
  core::Event e;
  e.user_id = "u1";
  e.item_id = item;
  e.type = type;
  return e;
}

TEST(ItemActivityTest, CountsAnswersAndEventsPerItem) {
  ItemActivity activity(1234);
  activity.Recommended(Answer({"a", "b"}));
  activity.Recommended(Answer({"a"}));
  activity.EventStored(Event("a", core::EventType::kClick));
  activity.EventStored(Event("a", core::EventType::kPurchase));
  activity.EventStored(Event("b", core::EventType::kPurchase));

  const ItemActivity::Counts a = activity.Get("a");
  EXPECT_EQ(a.recommended, 2);
  EXPECT_EQ(a.events[static_cast<int>(core::EventType::kClick)], 1);
  EXPECT_EQ(a.events[static_cast<int>(core::EventType::kPurchase)], 1);
  EXPECT_EQ(activity.Get("b").recommended, 1);
  EXPECT_EQ(activity.Get("b").events[static_cast<int>(core::EventType::kClick)],
            0);
  EXPECT_EQ(activity.Get("never").recommended, 0);
  EXPECT_EQ(activity.started_ms(), 1234);
  EXPECT_FALSE(activity.full());
}

TEST(ItemActivityTest, StopsAddingItemsAtItsLimitButKeepsCounting) {
  ItemActivity activity(0, /*max_items=*/2);
  activity.Recommended(Answer({"a", "b", "c"}));
  EXPECT_TRUE(activity.full());
  EXPECT_EQ(activity.Get("c").recommended, 0);
  activity.Recommended(Answer({"a", "b"}));
  EXPECT_EQ(activity.Get("a").recommended, 2);
  EXPECT_EQ(activity.Get("b").recommended, 2);
}

TEST(ItemActivityTest, ConcurrentCountsAreAllKept) {
  ItemActivity activity(0);
  constexpr int kThreads = 4, kCalls = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&activity, t] {
      for (int i = 0; i < kCalls; ++i) {
        activity.Recommended(Answer({"shared", absl::StrCat("own", t)}));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(activity.Get("shared").recommended, kThreads * kCalls);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(activity.Get(absl::StrCat("own", t)).recommended, kCalls);
  }
}

}  // namespace
}  // namespace aisle::server
