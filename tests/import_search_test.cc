// SEARCH events through `aisle import` (the real binary) into a real
// server: a `query` column gives search rows their text; the rows are
// validated as Feedback validates them (bad ones reported by line and
// field), stored, shown in GetUser's timeline, and they steer the user's
// next FOR_YOU; importing the same file again adds nothing.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster_util.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle::testing {
namespace {

using ::testing::HasSubstr;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string Describe(const RunResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out,
                      "--- stderr\n", r.err);
}

class ImportSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_,
                         StartTestServer(TestServerConfig(dir_.Sub("data"))));
    // Three taste groups of six items; each fan viewed all six of their
    // group. Rock has four fans, so it is more popular than classical.
    struct Group {
      const char* genre;
      const char* title;
      const char* category;
      int fans;
    };
    const Group groups[] = {
        {"jazz", "Bebop Jazz Session", "jazz/bebop", 3},
        {"rock", "Indie Rock Album", "rock/indie", 4},
        {"classical", "Piano Sonatas", "classical/piano", 3}};
    std::string items = "item_id,title,categories\n";
    events_ = "user_id,item_id,type,query,timestamp_ms\n";
    for (int i = 0; i < 6; ++i) {
      for (const Group& g : groups) {
        absl::StrAppend(&items, g.genre, i, ",", g.title, " ", i, ",",
                        g.category, "\n");
        for (int u = 0; u < g.fans; ++u) {
          absl::StrAppend(&events_, g.genre, "-fan", u, ",", g.genre, i,
                          ",view,,", 1700000000000 + 10 * i + u, "\n");
        }
      }
    }
    WriteFile(dir_.Sub("items.csv"), items);
    // 60 views on lines 2..61. jazz-fan1 searches (now: the timestamp is
    // left empty) for piano music; jazz-fan2 does not. Lines 63 and 64 are
    // refused.
    absl::StrAppend(&events_,
                    "jazz-fan1,,search,\"piano, sonatas\",\n"  // line 62
                    "jazz-fan1,jazz0,view,piano,\n"            // line 63
                    "jazz-fan1,,search,,\n");                  // line 64
    WriteFile(dir_.Sub("events.csv"), events_);
  }

  RunResult Import(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"import", "--target", server_.address()};
    all.insert(all.end(), args.begin(), args.end());
    absl::StatusOr<RunResult> r = RunAisle(all);
    EXPECT_OK(r);
    return r.ok() ? *r : RunResult{};
  }

  // How many of the user's FOR_YOU top 5 are classical items; *named: how
  // many of them give the search as their reason.
  int ClassicalInForYou(const std::string& user, int* named) {
    v1::RecommendRequest request;
    request.set_user_id(user);
    request.set_count(5);
    request.set_explain(true);
    v1::RecommendResponse response;
    EXPECT_OK(FromGrpc(server_.stub->Recommend(ContextWithDeadline().get(),
                                               request, &response)));
    int n = 0;
    *named = 0;
    for (const v1::RecommendedItem& item : response.items()) {
      if (!item.item_id().starts_with("classical")) continue;
      ++n;
      for (const v1::Reason& r : item.reasons()) {
        if (r.detail().find("your search for") != std::string::npos) {
          ++*named;
          break;
        }
      }
    }
    return n;
  }

  TempDir dir_;
  TestServer server_;
  std::string events_;
};

TEST_F(ImportSearchTest, SearchRowsAreStoredShownAndSteerForYou) {
  const RunResult first = Import(
      {"--items", dir_.Sub("items.csv"), "--events", dir_.Sub("events.csv")});
  EXPECT_EQ(first.exit_code, 1) << "two rows are refused\n" << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("61 accepted, 0 duplicates, 2 rejected"))
      << Describe(first);
  EXPECT_THAT(first.err,
              HasSubstr("line 63: query: only SEARCH events carry a query"));
  EXPECT_THAT(first.err, HasSubstr("line 64: query: must be 1..1024 bytes for "
                                   "SEARCH, got 0"));

  ASSERT_OK_AND_ASSIGN(v1::UserProfile fan,
                       GetUser(*server_.stub, "jazz-fan1"));
  ASSERT_GT(fan.recent_events_size(), 1);
  EXPECT_EQ(fan.recent_events(0).type(), v1::SEARCH);
  EXPECT_EQ(fan.recent_events(0).query(), "piano, sonatas");
  EXPECT_EQ(fan.recent_events(0).item_id(), "");
  EXPECT_GT(fan.recent_events(0).timestamp_ms(), 1700000000000)
      << "an empty timestamp is the time of the import";
  EXPECT_EQ(fan.recent_events(1).type(), v1::VIEW);
  bool counted = false;
  for (const v1::EventCount& c : fan.event_counts()) {
    if (c.type() == v1::SEARCH) counted = c.count() == 1;
  }
  EXPECT_TRUE(counted) << fan.DebugString();

  // The search's words joined jazz-fan1's content profile: the piano items
  // lead the list; jazz-fan2, with the same history and no search, gets
  // the more popular rock items.
  int searcher_named = 0, other_named = 0;
  const int searcher = ClassicalInForYou("jazz-fan1", &searcher_named);
  const int other = ClassicalInForYou("jazz-fan2", &other_named);
  EXPECT_GT(searcher, other);
  EXPECT_GT(searcher_named, 0) << "a match the search brought in says so";
  EXPECT_EQ(other_named, 0);

  // The same file again: every good row is a duplicate, the search too.
  const RunResult again = Import({"--events", dir_.Sub("events.csv")});
  EXPECT_THAT(again.out, HasSubstr("0 accepted, 61 duplicates, 2 rejected"))
      << Describe(again);
  ASSERT_OK_AND_ASSIGN(fan, GetUser(*server_.stub, "jazz-fan1"));
  EXPECT_EQ(fan.recent_events(1).type(), v1::VIEW) << "still one search";

  // A file of searches only: no item column, the type from --type.
  WriteFile(dir_.Sub("searches.csv"),
            "user_id,query\njazz-fan2,solo piano\njazz-fan2,bebop\n");
  const RunResult searches =
      Import({"--type", "search", "--events", dir_.Sub("searches.csv")});
  EXPECT_EQ(searches.exit_code, 0) << Describe(searches);
  EXPECT_THAT(searches.out, HasSubstr("2 accepted"));
  std::vector<std::string> queries;
  ASSERT_OK_AND_ASSIGN(const v1::UserProfile fan2,
                       GetUser(*server_.stub, "jazz-fan2"));
  for (const v1::ProfileEvent& e : fan2.recent_events()) {
    if (e.type() == v1::SEARCH) queries.push_back(e.query());
  }
  EXPECT_THAT(queries, ::testing::UnorderedElementsAre("solo piano", "bebop"));
}

}  // namespace
}  // namespace aisle::testing
