// Users' own attributes through the real gRPC API: UpsertUsers validation
// (INVALID_ARGUMENT naming the field), durability across a restart,
// erasure by DeleteUser (also after a restart), and the cold start they
// enable: a new user with attributes and no events gets what users with
// the same attributes engage with (SOURCE_ATTRIBUTES), not plain
// popularity.
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
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class UserAttributesTest : public ::testing::Test {
 protected:
  server::ServerConfig Config() const { return TestServerConfig(data_); }

  static absl::Status Upsert(TestServer& server,
                             const v1::UpsertUsersRequest& request) {
    v1::UpsertUsersResponse response;
    absl::Status s = FromGrpc(server.stub->UpsertUsers(
        ContextWithDeadline().get(), request, &response));
    if (s.ok() && response.upserted() != request.users_size()) {
      return absl::InternalError(
          absl::StrCat("upserted ", response.upserted()));
    }
    return s;
  }

  static v1::UpsertUsersRequest OneUser(
      const std::string& id,
      const std::vector<std::pair<std::string, std::string>>& attributes) {
    v1::UpsertUsersRequest request;
    v1::User* user = request.add_users();
    user->set_user_id(id);
    for (const auto& [k, v] : attributes) (*user->mutable_attributes())[k] = v;
    return request;
  }

  static void Purchase(TestServer& server, const std::string& user,
                       const std::vector<std::string>& items) {
    static int next_event = 0;  // explicit ids: repeats are not duplicates
    v1::FeedbackRequest request;
    for (const std::string& item : items) {
      v1::Event* e = request.add_events();
      e->set_event_id(absl::StrCat("ev", next_event++));
      e->set_user_id(user);
      e->set_item_id(item);
      e->set_type(v1::PURCHASE);
    }
    v1::FeedbackResponse response;
    ASSERT_OK(FromGrpc(server.stub->Feedback(ContextWithDeadline().get(),
                                             request, &response)));
  }

  // A store with a planted taste: users in the north buy books, users in
  // the south garden items, and many users without attributes buy the
  // "hit" items, which are the most popular overall.
  static void PlantTaste(TestServer& server) {
    v1::UpsertItemsRequest items;
    for (const char* prefix : {"book", "garden", "hit"}) {
      for (int i = 0; i < 8; ++i) {
        v1::Item* item = items.add_items();
        item->set_item_id(absl::StrCat(prefix, i));
        item->add_categories(prefix);
        item->set_available(true);
      }
    }
    v1::UpsertItemsResponse upserted;
    ASSERT_OK(FromGrpc(server.stub->UpsertItems(ContextWithDeadline().get(),
                                                items, &upserted)));
    v1::UpsertUsersRequest users;
    for (int u = 0; u < 12; ++u) {
      for (const char* region : {"north", "south"}) {
        v1::User* user = users.add_users();
        user->set_user_id(absl::StrCat(region, u));
        (*user->mutable_attributes())["region"] = region;
        (*user->mutable_attributes())["age_band"] = u % 2 ? "25-34" : "35-44";
      }
    }
    ASSERT_OK(Upsert(server, users));
    for (int u = 0; u < 12; ++u) {
      Purchase(server, absl::StrCat("north", u),
               {absl::StrCat("book", u % 8), absl::StrCat("book", (u + 3) % 8),
                "hit0"});
      Purchase(server, absl::StrCat("south", u),
               {absl::StrCat("garden", u % 8),
                absl::StrCat("garden", (u + 5) % 8), "hit1"});
    }
    for (int u = 0; u < 40; ++u) {
      Purchase(server, absl::StrCat("plain", u),
               {absl::StrCat("hit", u % 8), absl::StrCat("hit", (u + 1) % 8)});
    }
  }

  static v1::RecommendResponse ForYou(TestServer& server,
                                      const std::string& user) {
    v1::RecommendRequest request;
    request.set_user_id(user);
    request.set_scenario(v1::FOR_YOU);
    request.set_count(5);
    request.set_explain(true);
    v1::RecommendResponse response;
    EXPECT_OK(FromGrpc(server.stub->Recommend(ContextWithDeadline().get(),
                                              request, &response)));
    return response;
  }

  // The share of the list's items whose id starts with `prefix`.
  static double Share(const v1::RecommendResponse& r, const std::string& p) {
    int n = 0;
    for (const v1::RecommendedItem& item : r.items()) {
      n += item.item_id().starts_with(p) ? 1 : 0;
    }
    return r.items_size() == 0 ? 0 : static_cast<double>(n) / r.items_size();
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(UserAttributesTest, UpsertUsersRejectsBadInputNamingTheField) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  struct Case {
    v1::UpsertUsersRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({v1::UpsertUsersRequest(), "users: must have 1..1000"});
  cases.push_back({OneUser("", {{"region", "north"}}), "users[0].user_id"});
  {
    v1::UpsertUsersRequest twice = OneUser("u1", {{"region", "north"}});
    *twice.add_users() = twice.users(0);
    cases.push_back({twice, "users[1].user_id: duplicate of users[0]"});
  }
  cases.push_back(
      {OneUser("u1", {{"region", ""}}), "users[0].attributes[\"region\"]"});
  cases.push_back({OneUser("u1", {{"region", "no\nrth"}}),
                   "users[0].attributes[\"region\"]: must not contain "
                   "control characters"});
  cases.push_back({OneUser("u1", {{std::string(129, 'k'), "v"}}),
                   "users[0].attributes: keys must be 1..128 bytes"});
  {
    std::vector<std::pair<std::string, std::string>> many;
    for (int i = 0; i < 33; ++i) many.emplace_back(absl::StrCat("k", i), "v");
    cases.push_back(
        {OneUser("u1", many), "users[0].attributes: at most 32 entries"});
  }
  for (const Case& c : cases) {
    EXPECT_THAT(
        Upsert(server, c.request),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.request.DebugString();
  }
  // Nothing of the refused requests was stored.
  v1::GetUserRequest get;
  get.set_user_id("u1");
  v1::UserProfile profile;
  EXPECT_THAT(FromGrpc(server.stub->GetUser(ContextWithDeadline().get(), get,
                                            &profile)),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(UserAttributesTest, AttributesSurviveARestartAndDeleteUserErasesThem) {
  {
    ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
    ASSERT_OK(Upsert(server, OneUser("alice", {{"region", "north"},
                                               {"age_band", "25-34"}})));
    ASSERT_OK(Upsert(server, OneUser("bob", {{"region", "south"}})));
    Purchase(server, "bob", {"x1"});
  }
  {
    ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
    for (const char* id : {"alice", "bob"}) {
      v1::GetUserRequest get;
      get.set_user_id(id);
      v1::UserProfile profile;
      ASSERT_OK(FromGrpc(
          server.stub->GetUser(ContextWithDeadline().get(), get, &profile)));
      if (std::string(id) == "alice") {
        EXPECT_THAT(profile.attributes(),
                    UnorderedElementsAre(Pair("region", "north"),
                                         Pair("age_band", "25-34")));
      } else {
        EXPECT_THAT(profile.attributes(),
                    UnorderedElementsAre(Pair("region", "south")));
      }
    }
    for (const char* id : {"alice", "bob"}) {
      v1::DeleteUserRequest erase;
      erase.set_user_id(id);
      v1::DeleteUserResponse erased;
      ASSERT_OK(FromGrpc(server.stub->DeleteUser(ContextWithDeadline().get(),
                                                 erase, &erased)));
      EXPECT_TRUE(erased.profile_deleted()) << id;
      EXPECT_THAT(server.server->store().CountUserRecords(id), IsOkAndHolds(0))
          << id;
      v1::GetUserRequest get;
      get.set_user_id(id);
      v1::UserProfile profile;
      EXPECT_THAT(FromGrpc(server.stub->GetUser(ContextWithDeadline().get(),
                                                get, &profile)),
                  StatusIs(absl::StatusCode::kNotFound, ::testing::_))
          << id;
    }
  }
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  for (const char* id : {"alice", "bob"}) {
    v1::GetUserRequest get;
    get.set_user_id(id);
    v1::UserProfile profile;
    EXPECT_THAT(FromGrpc(server.stub->GetUser(ContextWithDeadline().get(), get,
                                              &profile)),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_))
        << id;
  }
}

TEST_F(UserAttributesTest, NewUserWithAttributesGetsWhatSimilarUsersLike) {
  ASSERT_OK_AND_ASSIGN(TestServer server, StartTestServer(Config()));
  PlantTaste(server);
  ASSERT_OK(Upsert(server, OneUser("new-north", {{"region", "north"}})));
  ASSERT_OK(Upsert(server, OneUser("new-south", {{"region", "south"}})));

  const v1::RecommendResponse north = ForYou(server, "new-north");
  ASSERT_EQ(north.items_size(), 5);
  EXPECT_EQ(north.source(), v1::SOURCE_ATTRIBUTES);
  EXPECT_FALSE(north.fallback());
  // Mostly books (the smoothing mixes in what all attributed users buy).
  EXPECT_GE(Share(north, "book"), 0.6);
  EXPECT_EQ(Share(north, "garden"), 0.0);
  for (const v1::RecommendedItem& item : north.items()) {
    EXPECT_EQ(item.source(), v1::SOURCE_ATTRIBUTES);
    ASSERT_GE(item.reasons_size(), 1);
    EXPECT_EQ(item.reasons(0).code(), v1::REASON_POPULAR_WITH_SIMILAR_SHOPPERS);
    EXPECT_THAT(item.reasons(0).detail(), HasSubstr("region=north"));
  }
  const v1::RecommendResponse south = ForYou(server, "new-south");
  EXPECT_GE(Share(south, "garden"), 0.6);
  EXPECT_EQ(Share(south, "book"), 0.0);

  // A new user without attributes gets plain popularity: the hits.
  const v1::RecommendResponse plain = ForYou(server, "new-plain");
  EXPECT_EQ(plain.source(), v1::SOURCE_POPULARITY);
  EXPECT_TRUE(plain.fallback());
  EXPECT_EQ(Share(plain, "hit"), 1.0);

  // The counts follow events as they arrive: once northerners turn to
  // garden items, a new northerner is offered them.
  for (int u = 0; u < 12; ++u) {
    Purchase(server, absl::StrCat("north", u),
             {"garden7", "garden7", "garden7", "garden7", "garden7"});
  }
  EXPECT_EQ(ForYou(server, "new-north").items(0).item_id(), "garden7");
}

}  // namespace
}  // namespace aisle::testing
