// Text helpers shared by flags and readers.
#include "cli/text.h"

#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::ElementsAre;

TEST(CliTextTest, SplitListDropsEmptyPiecesAndTrims) {
  EXPECT_THAT(SplitList(" a, b,,c ,"), ElementsAre("a", "b", "c"));
  EXPECT_TRUE(SplitList("").empty());
  EXPECT_THAT(SplitList("a| b|", '|'), ElementsAre("a", "b"));
}

TEST(CliTextTest, BooleansAndNumbers) {
  EXPECT_THAT(ParseBoolText(" Yes "), IsOkAndHolds(true));
  EXPECT_THAT(ParseBoolText("0"), IsOkAndHolds(false));
  EXPECT_THAT(ParseBoolText("maybe"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "'maybe' is not a boolean (true/false)"));
  EXPECT_THAT(ParseDoubleText(" -2.5"), IsOkAndHolds(-2.5));
  EXPECT_THAT(
      ParseDoubleText("abc"),
      StatusIs(absl::StatusCode::kInvalidArgument, "'abc' is not a number"));
  EXPECT_EQ(Cat(std::string_view("a"), "b", 1), "ab1");
  EXPECT_EQ(Lower("AbC"), "abc");
  EXPECT_EQ(Strip("  x y \t"), "x y");
}

}  // namespace
}  // namespace aisle::cli
