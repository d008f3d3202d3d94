// Content-based recommendations and SEARCH events through the real gRPC
// API: a new item nobody has touched yet is shown beside the items that
// share its content and to the users whose taste matches it (in the slots
// kept for new items); a search steers the next FOR_YOU; SEARCH events are
// validated, stored durably with their query and erased with the user.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

// Three taste groups (jazz, rock, classical), six items each with events
// from three fans, and a new fusion-jazz item without any events: it
// shares words, a tag and the "jazz" category prefix with the jazz items,
// not their leaf.
class ContentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Start();
    v1::UpsertItemsRequest items;
    const auto add_item = [&](const std::string& id, const std::string& title,
                              const std::string& category,
                              const std::string& tag) {
      v1::Item* item = items.add_items();
      item->set_item_id(id);
      item->set_title(title);
      item->add_categories(category);
      item->add_tags(tag);
      item->set_available(true);
    };
    for (int i = 0; i < 6; ++i) {
      add_item(absl::StrCat("jazz", i), absl::StrCat("Bebop Jazz Session ", i),
               "jazz/bebop", "saxophone");
      add_item(absl::StrCat("rock", i), absl::StrCat("Indie Rock Album ", i),
               "rock/indie", "guitar");
      add_item(absl::StrCat("classical", i), absl::StrCat("Piano Sonatas ", i),
               "classical/piano", "piano");
    }
    add_item("fusion", "Fusion Jazz Nights", "jazz/fusion", "saxophone");
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(FromGrpc(server_.stub->UpsertItems(ContextWithDeadline().get(),
                                                 items, &upserted)));
    v1::FeedbackRequest events;
    for (const char* genre : {"jazz", "rock", "classical"}) {
      for (int u = 0; u < 3; ++u) {
        for (int i = 0; i < 6; ++i) {
          v1::Event* e = events.add_events();
          e->set_user_id(absl::StrCat(genre, "-fan", u));
          e->set_item_id(absl::StrCat(genre, i));
          e->set_type(v1::VIEW);
        }
      }
    }
    ASSERT_OK(Feedback(events));
  }

  void Start() {
    ASSERT_OK_AND_ASSIGN(server_,
                         StartTestServer(TestServerConfig(dir_.Sub("data"))));
  }

  absl::Status Feedback(const v1::FeedbackRequest& request) {
    v1::FeedbackResponse response;
    return FromGrpc(server_.stub->Feedback(ContextWithDeadline().get(), request,
                                           &response));
  }
  absl::Status Search(const std::string& user, const std::string& query) {
    v1::FeedbackRequest request;
    v1::Event* e = request.add_events();
    e->set_user_id(user);
    e->set_type(v1::SEARCH);
    e->set_query(query);
    return Feedback(request);
  }

  v1::RecommendResponse Recommend(v1::RecommendRequest request) {
    request.set_explain(true);
    v1::RecommendResponse response;
    EXPECT_OK(FromGrpc(server_.stub->Recommend(ContextWithDeadline().get(),
                                               request, &response)));
    return response;
  }
  v1::RecommendResponse ForYou(const std::string& user, int count) {
    v1::RecommendRequest request;
    request.set_user_id(user);
    request.set_count(count);
    return Recommend(request);
  }

  static int Position(const v1::RecommendResponse& r, const std::string& id) {
    for (int i = 0; i < r.items_size(); ++i) {
      if (r.items(i).item_id() == id) return i;
    }
    return -1;
  }
  static int CountPrefix(const v1::RecommendResponse& r,
                         const std::string& prefix) {
    int n = 0;
    for (const v1::RecommendedItem& item : r.items()) {
      n += item.item_id().starts_with(prefix) ? 1 : 0;
    }
    return n;
  }
  static bool HasReason(const v1::RecommendedItem& item, v1::ReasonCode code,
                        v1::Reason* out = nullptr) {
    for (const v1::Reason& r : item.reasons()) {
      if (r.code() != code) continue;
      if (out != nullptr) *out = r;
      return true;
    }
    return false;
  }

  TempDir dir_;
  TestServer server_;
};

TEST_F(ContentTest, NewItemIsSimilarToTheItemsSharingItsContent) {
  v1::RecommendRequest request;
  request.set_scenario(v1::SIMILAR_ITEMS);
  request.add_context_item_ids("jazz0");
  request.set_count(5);
  const v1::RecommendResponse jazz = Recommend(request);
  const int at = Position(jazz, "fusion");
  ASSERT_GE(at, 0) << "the new item is similar to a jazz item";
  v1::Reason reason;
  ASSERT_TRUE(HasReason(jazz.items(at), v1::REASON_SIMILAR_CONTENT, &reason));
  EXPECT_EQ(reason.related_item_id(), "jazz0");
  EXPECT_THAT(reason.detail(), HasSubstr("saxophone"));
  EXPECT_EQ(jazz.items(at).source(), v1::SOURCE_CONTENT);

  request.set_context_item_ids(0, "rock0");
  EXPECT_EQ(Position(Recommend(request), "fusion"), -1)
      << "nothing in common with a rock item";
}

TEST_F(ContentTest, NewItemTakesTheNewItemSlotOfMatchingUsersOnly) {
  const v1::RecommendResponse fan = ForYou("jazz-fan0", 5);
  ASSERT_EQ(fan.items_size(), 5);
  EXPECT_EQ(Position(fan, "fusion"), 4) << "the last slot (default quota 1)";
  EXPECT_TRUE(HasReason(fan.items(4), v1::REASON_NEW_ITEM));
  EXPECT_TRUE(HasReason(fan.items(4), v1::REASON_SIMILAR_CONTENT));

  v1::RecommendRequest off;
  off.set_user_id("jazz-fan0");
  off.set_count(5);
  off.set_new_item_slots(0);
  EXPECT_EQ(Position(Recommend(off), "fusion"), -1) << "quota 0: no slot";
  EXPECT_EQ(Position(ForYou("rock-fan0", 5), "fusion"), -1)
      << "a rock fan's profile does not match it";
}

TEST_F(ContentTest, SearchShiftsTheNextForYouTowardMatchingItems) {
  // Before: the popular items the user has not seen, rock and classical
  // alike (equal popularity).
  const v1::RecommendResponse before = ForYou("jazz-fan1", 5);
  ASSERT_OK(Search("jazz-fan1", "piano sonatas"));
  const v1::RecommendResponse after = ForYou("jazz-fan1", 5);
  EXPECT_GT(CountPrefix(after, "classical"), CountPrefix(before, "classical"));
  ASSERT_GT(after.items_size(), 0);
  EXPECT_TRUE(after.items(0).item_id().starts_with("classical"))
      << after.items(0).item_id();
  bool named = false;
  for (const v1::RecommendedItem& item : after.items()) {
    v1::Reason reason;
    if (item.item_id().starts_with("classical") &&
        HasReason(item, v1::REASON_SIMILAR_CONTENT, &reason)) {
      EXPECT_THAT(reason.detail(), HasSubstr("your search for piano"));
      named = true;
    }
  }
  EXPECT_TRUE(named) << "a match the search brought in says so";
}

TEST_F(ContentTest, SearchEventsAreValidatedNamingTheField) {
  struct Case {
    std::string item_id;
    v1::EventType type;
    std::string query;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"", v1::SEARCH, "", "events[0].query"},
      {"", v1::SEARCH, std::string(1025, 'a'), "events[0].query"},
      {"", v1::SEARCH, "jazz\x01", "events[0].query"},
      {"jazz0", v1::VIEW, "jazz", "events[0].query"},
      {"", v1::VIEW, "", "events[0].item_id"},
      {"", v1::SEARCH, "\xff jazz", "query"},  // not UTF-8
  };
  for (const Case& c : cases) {
    v1::FeedbackRequest request;
    v1::Event* e = request.add_events();
    e->set_user_id("validator");
    e->set_item_id(c.item_id);
    e->set_type(c.type);
    e->set_query(c.query);
    EXPECT_THAT(Feedback(request), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr(c.field)))
        << c.field << " " << c.query.size();
  }
  // A search needs no item, and may name one (a search on an item page).
  EXPECT_OK(Search("validator", "jazz"));
  v1::FeedbackRequest on_page;
  v1::Event* e = on_page.add_events();
  e->set_user_id("validator");
  e->set_item_id("jazz0");
  e->set_type(v1::SEARCH);
  e->set_query("caf\xc3\xa9 jazz");
  EXPECT_OK(Feedback(on_page));
}

TEST_F(ContentTest, QueryIsDurableAndErasedWithTheUser) {
  ASSERT_OK(Search("jazz-fan2", "piano sonatas"));
  const v1::RecommendResponse before = ForYou("jazz-fan2", 5);
  server_ = TestServer();  // stop
  Start();
  ASSERT_OK_AND_ASSIGN(std::vector<core::Event> stored,
                       server_.server->store().UserEvents("jazz-fan2"));
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(stored.back().type, core::EventType::kSearch);
  EXPECT_EQ(stored.back().query, "piano sonatas");
  // Item ids are interned in another order after a restart, so equal
  // scores may swap places: the steering itself must be there.
  const v1::RecommendResponse after = ForYou("jazz-fan2", 5);
  EXPECT_GE(CountPrefix(before, "classical"), 2);
  EXPECT_EQ(CountPrefix(after, "classical"), CountPrefix(before, "classical"));

  v1::DeleteUserRequest erase;
  erase.set_user_id("jazz-fan2");
  v1::DeleteUserResponse erased;
  ASSERT_OK(FromGrpc(
      server_.stub->DeleteUser(ContextWithDeadline().get(), erase, &erased)));
  server_ = TestServer();
  Start();
  ASSERT_OK_AND_ASSIGN(stored, server_.server->store().UserEvents("jazz-fan2"));
  EXPECT_TRUE(stored.empty());
  const v1::RecommendResponse gone = ForYou("jazz-fan2", 5);
  const v1::RecommendResponse stranger = ForYou("nobody", 5);
  EXPECT_TRUE(gone.fallback());
  ASSERT_EQ(gone.items_size(), stranger.items_size());
  for (int i = 0; i < gone.items_size(); ++i) {
    EXPECT_EQ(gone.items(i).item_id(), stranger.items(i).item_id())
        << "an erased user is a stranger again, at " << i;
  }
}

}  // namespace
}  // namespace aisle::testing
