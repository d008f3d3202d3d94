#include "server/recommendation_id.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::server {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;
constexpr int64_t kDay = 24LL * 3600 * 1000;
const std::string kKey(32, 'k');
const std::string kOtherKey(32, 'o');

TEST(RecommendationIdTest, IssuedIdsVerifyForTheirUser) {
  RecommendationIds ids({kKey}, 7 * kDay);
  for (core::Scenario s :
       {core::Scenario::kForYou, core::Scenario::kSimilarItems,
        core::Scenario::kFrequentlyBoughtTogether,
        core::Scenario::kRecentlyViewed, core::Scenario::kTrending}) {
    std::string id = ids.Issue(s, "default", "u42", kNow);
    EXPECT_THAT(id,
                ::testing::MatchesRegex(
                    "r2-[1-5]-default-[0-9a-f]+-[0-9a-f]{16}-u-[0-9a-f]{32}"));
    RecommendationIds::Checked checked = ids.Check(id, "u42", kNow + 1000);
    ASSERT_TRUE(checked.parts.has_value()) << id;
    EXPECT_EQ(checked.parts->scenario, s);
    EXPECT_EQ(checked.parts->variant, "default");
    EXPECT_LE(kNow - checked.parts->issued_ms, 1000);
  }
  EXPECT_NE(ids.Issue(core::Scenario::kForYou, "default", "u42", kNow),
            ids.Issue(core::Scenario::kForYou, "default", "u42", kNow));
}

TEST(RecommendationIdTest, AnotherUsersOrAlteredOrOtherKeysIdsAreForged) {
  RecommendationIds ids({kKey}, 7 * kDay);
  const std::string id =
      ids.Issue(core::Scenario::kForYou, "default", "u42", kNow);
  EXPECT_EQ(ids.Check(id, "u43", kNow).rejection, IdRejection::kForged);
  EXPECT_FALSE(ids.Check(id, "u43", kNow).parts.has_value());
  // Claim another scenario: the MAC no longer fits.
  std::string altered = id;
  altered[3] = '5';
  EXPECT_EQ(ids.Check(altered, "u42", kNow).rejection, IdRejection::kForged);
  // Push the issued time forward to escape expiry.
  RecommendationIds other({kOtherKey}, 7 * kDay);
  EXPECT_EQ(other.Check(id, "u42", kNow).rejection, IdRejection::kForged);
  // A made-up MAC.
  std::string guessed = id.substr(0, id.size() - 32) + std::string(32, '0');
  EXPECT_EQ(ids.Check(guessed, "u42", kNow).rejection, IdRejection::kForged);
}

// Each thread keeps a working copy of the keyed context it used last: ids
// issued in turn with two keys, by a set that replaced a destroyed one (it
// may reuse its memory), or on another thread, carry their own key's MAC.
TEST(RecommendationIdTest, KeysUsedInTurnAndAcrossThreadsKeepTheirOwnMacs) {
  RecommendationIds a({kKey}, 7 * kDay);
  RecommendationIds b({kOtherKey}, 7 * kDay);
  for (int i = 0; i < 3; ++i) {
    const std::string from_a =
        a.Issue(core::Scenario::kForYou, "default", "u42", kNow);
    const std::string from_b =
        b.Issue(core::Scenario::kForYou, "default", "u42", kNow);
    EXPECT_TRUE(a.Check(from_a, "u42", kNow).parts.has_value());
    EXPECT_TRUE(b.Check(from_b, "u42", kNow).parts.has_value());
    EXPECT_EQ(b.Check(from_a, "u42", kNow).rejection, IdRejection::kForged);
    EXPECT_EQ(a.Check(from_b, "u42", kNow).rejection, IdRejection::kForged);
  }
  std::string before;
  {
    auto first = std::make_unique<RecommendationIds>(
        std::vector<std::string>{kKey}, 7 * kDay);
    before = first->Issue(core::Scenario::kForYou, "default", "u42", kNow);
  }
  auto second = std::make_unique<RecommendationIds>(
      std::vector<std::string>{kOtherKey}, 7 * kDay);
  const std::string after =
      second->Issue(core::Scenario::kForYou, "default", "u42", kNow);
  EXPECT_TRUE(b.Check(after, "u42", kNow).parts.has_value());
  EXPECT_EQ(a.Check(after, "u42", kNow).rejection, IdRejection::kForged);
  EXPECT_TRUE(a.Check(before, "u42", kNow).parts.has_value());
  std::string elsewhere;
  std::thread([&] {
    elsewhere = a.Issue(core::Scenario::kTrending, "default", "u7", kNow);
  }).join();
  EXPECT_TRUE(a.Check(elsewhere, "u7", kNow).parts.has_value());
  EXPECT_EQ(b.Check(elsewhere, "u7", kNow).rejection, IdRejection::kForged);
}

TEST(RecommendationIdTest, AnonymousIdsVerifyForAnyUser) {
  RecommendationIds ids({kKey}, 7 * kDay);
  const std::string id =
      ids.Issue(core::Scenario::kTrending, "default", "", kNow);
  EXPECT_THAT(id, ::testing::HasSubstr("-a-"));
  EXPECT_TRUE(ids.Check(id, "visitor-1", kNow).parts.has_value());
  // Turning a user-bound id into an anonymous one breaks the MAC.
  std::string bound = ids.Issue(core::Scenario::kForYou, "default", "u1", kNow);
  bound[bound.size() - 34] = 'a';
  EXPECT_EQ(ids.Check(bound, "u2", kNow).rejection, IdRejection::kForged);
}

TEST(RecommendationIdTest, OldAndFutureIdsAreExpired) {
  RecommendationIds ids({kKey}, 7 * kDay);
  const std::string id =
      ids.Issue(core::Scenario::kForYou, "default", "u", kNow);
  EXPECT_TRUE(ids.Check(id, "u", kNow + 7 * kDay - 1000).parts.has_value());
  EXPECT_EQ(ids.Check(id, "u", kNow + 7 * kDay + 1000).rejection,
            IdRejection::kExpired);
  EXPECT_EQ(ids.Check(id, "u", kNow - kDay).rejection, IdRejection::kExpired);
}

TEST(RecommendationIdTest, RotationVerifiesWithEveryKeySignsWithTheFirst) {
  RecommendationIds old_ids({kKey}, 7 * kDay);
  RecommendationIds rotated({kOtherKey, kKey}, 7 * kDay);
  const std::string old_id =
      old_ids.Issue(core::Scenario::kForYou, "default", "u", kNow);
  EXPECT_TRUE(rotated.Check(old_id, "u", kNow).parts.has_value());
  const std::string new_id =
      rotated.Issue(core::Scenario::kForYou, "default", "u", kNow);
  EXPECT_EQ(old_ids.Check(new_id, "u", kNow).rejection, IdRejection::kForged);
}

TEST(RecommendationIdTest, RejectsMalformed) {
  RecommendationIds ids({kKey}, 7 * kDay);
  const std::string mac(32, '0');
  for (const std::string& id : std::vector<std::string>{
           "", "r2", "r1-1-default-0123456789abcdef",
           "r2-0-default-1-0123456789abcdef-u-" + mac,
           "r2-99-default-1-0123456789abcdef-u-" + mac,
           "r2-1--1-0123456789abcdef-u-" + mac,
           "r2-1-a b-1-0123456789abcdef-u-" + mac,
           "r2-1-default-xyz-0123456789abcdef-u-" + mac,
           "r2-1-default-1-0123-u-" + mac,
           "r2-1-default-1-0123456789abcdef-x-" + mac,
           "r2-1-default-1-0123456789abcdef-u-0123",
           "r2-1-default-1-0123456789abcdef-u-" + mac + "-extra"}) {
    RecommendationIds::Checked checked = ids.Check(id, "u", kNow);
    EXPECT_FALSE(checked.parts.has_value()) << id;
    EXPECT_EQ(checked.rejection, IdRejection::kMalformed) << id;
  }
}

TEST(RecommendationIdTest, KeyIsGeneratedOnceOwnerOnlyAndReused) {
  const std::string dir = ::testing::TempDir() + "/rid-keys";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto first = RecommendationIds::Open("", dir, 7 * kDay);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat st {};
  ASSERT_EQ(stat((dir + "/attribution.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto second = RecommendationIds::Open("", dir, 7 * kDay);
  ASSERT_TRUE(second.ok()) << second.status();
  const std::string id =
      (*first)->Issue(core::Scenario::kForYou, "default", "u", kNow);
  EXPECT_TRUE((*second)->Check(id, "u", kNow).parts.has_value())
      << "a restart keeps the key, so ids issued before it still count";

  std::ofstream(dir + "/short.key") << "abcd\n";
  EXPECT_THAT(
      RecommendationIds::Open(dir + "/short.key", dir, kDay).status().message(),
      ::testing::HasSubstr("--attribution-key: "));
}

}  // namespace
}  // namespace aisle::server
