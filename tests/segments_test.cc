// Learned segments through the real gRPC API: a store whose users come in
// groups with planted tastes (each group buys one category, price range
// and brand), a model trained with segments and dropped into the model
// inbox the way `aisle train` does; ListSegments, ExportSegment and
// GetUser must show segments that separate the groups (measured as
// purity, not by hard-coded segment ids), give a new user a segment at
// once, and refuse bad requests naming the field.
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/training.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kGroups = 4;
constexpr int kUsersPerGroup = 25;
constexpr int kItemsPerGroup = 15;

std::string Category(int g) { return absl::StrCat("dept", g, "/line", g); }
std::string Brand(int g) { return absl::StrCat("brand", g); }

class SegmentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_,
                         StartTestServer(TestServerConfig(dir_.Sub("data"))));
    v1::UpsertItemsRequest items;
    for (int g = 0; g < kGroups; ++g) {
      for (int i = 0; i < kItemsPerGroup; ++i) {
        v1::Item* item = items.add_items();
        item->set_item_id(absl::StrCat("g", g, "-i", i));
        item->set_title(absl::StrCat("Item ", i, " of ", g));
        item->add_categories(Category(g));
        item->set_price(10.0 * (g + 1) * (g + 1) + i);  // a band per group
        (*item->mutable_attributes())["brand"] = Brand(g);
        item->set_available(true);
      }
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(FromGrpc(server_.stub->UpsertItems(ContextWithDeadline().get(),
                                                 items, &upserted)));
    // Each user buys 6 items of their group and views one item anywhere.
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> pick(0, kItemsPerGroup - 1);
    std::uniform_int_distribution<int> any_group(0, kGroups - 1);
    for (int g = 0; g < kGroups; ++g) {
      for (int u = 0; u < kUsersPerGroup; ++u) {
        const std::string user = absl::StrCat("user-", g, "-", u);
        group_of_[user] = g;
        v1::FeedbackRequest events;
        for (int k = 0; k < 6; ++k) {
          AddEvent(&events, user, absl::StrCat("g", g, "-i", pick(rng)),
                   v1::PURCHASE);
        }
        AddEvent(&events, user,
                 absl::StrCat("g", any_group(rng), "-i", pick(rng)), v1::VIEW);
        v1::FeedbackResponse fed;
        ASSERT_OK(FromGrpc(
            server_.stub->Feedback(ContextWithDeadline().get(), events, &fed)));
      }
    }
  }

  static void AddEvent(v1::FeedbackRequest* request, const std::string& user,
                       const std::string& item, v1::EventType type) {
    v1::Event* e = request->add_events();
    e->set_user_id(user);
    e->set_item_id(item);
    e->set_type(type);
  }

  // Trains a model with `segments` segments on the server's events and
  // lets the server pick it up from its inbox.
  void ServeModelWithSegments(int segments) {
    core::TrainingOptions options = SmallModelOptions("20260101T000000Z-segs");
    options.segments.k = segments;
    ASSERT_OK(TrainAndServeModel(*server_.server, options));
  }

  absl::StatusOr<std::vector<std::string>> Export(int32_t segment,
                                                  int32_t page_size,
                                                  int* pages) {
    v1::ExportSegmentRequest request;
    request.set_segment_id(segment);
    request.set_page_size(page_size);
    auto ctx = ContextWithDeadline();
    auto reader = server_.stub->ExportSegment(ctx.get(), request);
    std::vector<std::string> users;
    v1::ExportSegmentResponse page;
    *pages = 0;
    while (reader->Read(&page)) {
      ++*pages;
      users.insert(users.end(), page.user_ids().begin(), page.user_ids().end());
    }
    if (absl::Status s = FromGrpc(reader->Finish()); !s.ok()) return s;
    return users;
  }

  v1::UserProfile GetUser(const std::string& user) {
    v1::GetUserRequest request;
    request.set_user_id(user);
    v1::UserProfile profile;
    EXPECT_OK(FromGrpc(
        server_.stub->GetUser(ContextWithDeadline().get(), request, &profile)));
    return profile;
  }

  TempDir dir_;
  TestServer server_;
  std::map<std::string, int> group_of_;
};

TEST_F(SegmentsTest, SegmentsSeparatePlantedTastes) {
  v1::ListSegmentsResponse list;
  EXPECT_THAT(
      FromGrpc(
          server_.stub->ListSegments(ContextWithDeadline().get(), {}, &list)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--segments")))
      << "no model yet";
  ServeModelWithSegments(kGroups);
  ASSERT_OK(FromGrpc(
      server_.stub->ListSegments(ContextWithDeadline().get(), {}, &list)));
  ASSERT_EQ(list.segments_size(), kGroups);
  EXPECT_EQ(list.model_version(), "20260101T000000Z-segs");

  // Purity: the share of users whose segment's majority group is their
  // own. Chance level for 4 equal groups is about 0.25.
  int majority_total = 0, exported = 0;
  std::set<std::string> seen;
  for (const v1::Segment& segment : list.segments()) {
    int pages = 0;
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> users,
                         Export(segment.id(), 10, &pages));
    EXPECT_EQ(static_cast<int64_t>(users.size()), segment.members());
    EXPECT_EQ(pages, (static_cast<int>(users.size()) + 9) / 10);
    std::map<int, int> groups;
    for (const std::string& user : users) {
      EXPECT_TRUE(seen.insert(user).second) << user << " in two segments";
      ++groups[group_of_.at(user)];
    }
    int best = 0, best_group = -1;
    for (const auto& [g, n] : groups) {
      if (n > best) best = n, best_group = g;
    }
    majority_total += best;
    exported += static_cast<int>(users.size());
    // The label names what the majority buys, and its price band.
    if (best_group >= 0) {
      EXPECT_THAT(segment.label(), HasSubstr(Category(best_group)));
      ASSERT_GT(segment.top_categories_size(), 0);
      EXPECT_EQ(segment.top_categories(0).category(), Category(best_group));
      EXPECT_FALSE(segment.price_band().empty());
      ASSERT_GT(segment.top_item_ids_size(), 0);
      EXPECT_THAT(segment.top_item_ids(0),
                  HasSubstr(absl::StrCat("g", best_group, "-")));
    }
  }
  EXPECT_EQ(exported, kGroups * kUsersPerGroup) << "every user has a segment";
  EXPECT_GE(static_cast<double>(majority_total) / exported, 0.9);

  // GetUser agrees with the export and describes the user's taste.
  const v1::UserProfile p = GetUser("user-2-0");
  ASSERT_TRUE(p.has_segment_id());
  int pages = 0;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> members,
                       Export(p.segment_id(), 0, &pages));
  EXPECT_THAT(members, ::testing::Contains("user-2-0"));
  EXPECT_EQ(p.segment_label(), list.segments(p.segment_id()).label());
  ASSERT_GT(p.category_weights_size(), 0);
  EXPECT_EQ(p.category_weights(0).category(), Category(2));
  EXPECT_GT(p.category_weights(0).share(), 0.5);
  ASSERT_GT(p.preferred_attributes_size(), 0);
  EXPECT_EQ(p.preferred_attributes(0).key(), "brand");
  EXPECT_EQ(p.preferred_attributes(0).value(), Brand(2));
  EXPECT_FALSE(p.price_band().empty());
  EXPECT_EQ(p.activity_level(), p.segment()) << "old field keeps its tiers";

  // A user who arrives after training gets a segment from their first
  // events: the one most of their group is in.
  v1::FeedbackRequest events;
  for (int i = 0; i < 3; ++i) {
    AddEvent(&events, "newcomer", absl::StrCat("g2-i", i), v1::PURCHASE);
  }
  v1::FeedbackResponse fed;
  ASSERT_OK(FromGrpc(
      server_.stub->Feedback(ContextWithDeadline().get(), events, &fed)));
  const v1::UserProfile newcomer = GetUser("newcomer");
  ASSERT_TRUE(newcomer.has_segment_id());
  EXPECT_EQ(newcomer.segment_id(), p.segment_id());
}

TEST_F(SegmentsTest, ExportSegmentRejectsBadRequestsNamingTheField) {
  int pages = 0;
  EXPECT_THAT(Export(0, 0, &pages),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no learned segments")));
  ServeModelWithSegments(3);
  EXPECT_THAT(
      Export(-1, 0, &pages),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("segment_id")));
  EXPECT_THAT(
      Export(0, 20000, &pages),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  EXPECT_THAT(Export(3, 0, &pages), StatusIs(absl::StatusCode::kNotFound,
                                             HasSubstr("segment 3 not found")));
  EXPECT_EQ(pages, 0);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> users, Export(2, 0, &pages));
  EXPECT_FALSE(users.empty());
}

TEST_F(SegmentsTest, ModelWithoutSegmentsServesAndSaysSo) {
  ServeModelWithSegments(0);
  v1::ListSegmentsResponse list;
  EXPECT_THAT(FromGrpc(server_.stub->ListSegments(ContextWithDeadline().get(),
                                                  {}, &list)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trained without them")));
  const v1::UserProfile p = GetUser("user-1-1");
  EXPECT_FALSE(p.has_segment_id());
  EXPECT_TRUE(p.has_vector());
  ASSERT_GT(p.category_weights_size(), 0);
  EXPECT_EQ(p.category_weights(0).category(), Category(1));
}

}  // namespace
}  // namespace aisle::testing
