// FlagParser: the accepted forms, defaults, errors and help text.
#include "cli/flags.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Parsed {
  std::string name = "none";
  int count = 10;
  double ratio = 0.5;
  bool explain = false;
  bool titles = true;
  std::chrono::milliseconds timeout{5000};
  std::optional<double> max_price;
};

FlagParser MakeParser(Parsed* p) {
  FlagParser parser("aisle thing get ID [flags]", "Does a thing.");
  parser.String("name", &p->name, "a name");
  parser.Int("count", &p->count, "how many");
  parser.Double("ratio", &p->ratio, "a ratio");
  parser.Bool("explain", &p->explain, "explain");
  parser.Bool("titles", &p->titles, "titles");
  parser.Duration("timeout", &p->timeout, "deadline");
  parser.OptionalDouble("max-price", &p->max_price, "price cap");
  return parser;
}

TEST(FlagParserTest, AcceptsEveryForm) {
  Parsed p;
  FlagParser parser = MakeParser(&p);
  EXPECT_THAT(
      parser.Parse({"get", "--name", "x y", "--count=3", "--ratio", "-0.25",
                    "--explain", "--no-titles", "--timeout", "250ms",
                    "--max-price=9.5", "id1", "--", "--count"}),
      IsOkAndHolds(ElementsAre("get", "id1", "--count")));
  EXPECT_EQ(p.name, "x y");
  EXPECT_EQ(p.count, 3);
  EXPECT_DOUBLE_EQ(p.ratio, -0.25);
  EXPECT_TRUE(p.explain);
  EXPECT_FALSE(p.titles);
  EXPECT_EQ(p.timeout, std::chrono::milliseconds(250));
  ASSERT_TRUE(p.max_price.has_value());
  EXPECT_DOUBLE_EQ(*p.max_price, 9.5);
  EXPECT_TRUE(parser.IsSet("count"));
  EXPECT_TRUE(parser.IsSet("name"));
  EXPECT_FALSE(parser.help_requested());
}

TEST(FlagParserTest, DefaultsStayWhenAbsent) {
  Parsed p;
  FlagParser parser = MakeParser(&p);
  ASSERT_OK(parser.Parse({}));
  EXPECT_EQ(p.count, 10);
  EXPECT_TRUE(p.titles);
  EXPECT_FALSE(p.max_price.has_value());
  EXPECT_FALSE(parser.IsSet("count"));
}

TEST(FlagParserTest, BoolTakesExplicitValue) {
  Parsed p;
  FlagParser parser = MakeParser(&p);
  ASSERT_OK(parser.Parse({"--explain=true", "--titles=false"}));
  EXPECT_TRUE(p.explain);
  EXPECT_FALSE(p.titles);
}

TEST(FlagParserTest, RejectsBadInput) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, "unknown flag --bogus"},
      {{"--count"}, "flag --count needs a value"},
      {{"--count", "ten"}, "--count: 'ten' is not an integer"},
      {{"--ratio=abc"}, "--ratio: 'abc' is not a number"},
      {{"--ratio=inf"}, "--ratio: must be finite"},
      {{"--explain=maybe"}, "--explain: 'maybe' is not a boolean"},
      {{"--timeout", "soon"}, "--timeout:"},
      {{"--no-count"}, "unknown flag --no-count"},
  };
  for (const Case& c : cases) {
    Parsed p;
    FlagParser parser = MakeParser(&p);
    EXPECT_THAT(
        parser.Parse(c.args),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.args[0];
  }
}

TEST(FlagParserTest, HelpListsFlagsWithDefaults) {
  Parsed p;
  FlagParser parser = MakeParser(&p);
  parser.AddNotes("Example: aisle thing get 1");
  ASSERT_OK(parser.Parse({"--help"}));
  EXPECT_TRUE(parser.help_requested());
  const std::string help = parser.Help();
  EXPECT_THAT(help, HasSubstr("Usage: aisle thing get ID [flags]"));
  EXPECT_THAT(help, HasSubstr("--count VALUE"));
  EXPECT_THAT(help, HasSubstr("(default: 10)"));
  EXPECT_THAT(help, HasSubstr("(default: none)"));
  EXPECT_THAT(help, HasSubstr("(default: 5s)"));
  EXPECT_THAT(help, HasSubstr("Example: aisle thing get 1"));
}

// The hint after a usage error names a command the user can run.
TEST(FlagParserTest, HelpCommandIsTheCommandWords) {
  EXPECT_EQ(HelpCommand("aisle thing get ID [flags]"), "aisle thing get");
  EXPECT_EQ(HelpCommand("aisle version"), "aisle version");
  EXPECT_EQ(HelpCommand("aisle user get|delete USER_ID [flags]"),
            "aisle user get");
  EXPECT_EQ(HelpCommand("aisle import (--data-dir DIR | --target HOST:PORT)"),
            "aisle import");
  EXPECT_EQ(HelpCommand("aisle models list | activate VERSION | rollback"),
            "aisle models list");
}

// Int registers int and int64_t targets through one parser of integers;
// each rejects what does not fit its type.
TEST(FlagParserTest, IntegersOfBothWidths) {
  int small = 1;
  int64_t big = 2;
  FlagParser parser("aisle thing", "Does a thing.");
  parser.Int("small", &small, "an int");
  parser.Int("big", &big, "an int64");
  ASSERT_OK(parser.Parse({"--small", " 7 ", "--big=9000000000"}));
  EXPECT_EQ(small, 7);
  EXPECT_EQ(big, 9000000000);
  EXPECT_THAT(parser.Parse({"--small", "9000000000"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--small: '9000000000' is not an integer"));
  EXPECT_THAT(parser.Help(), HasSubstr("(default: 2)"));
}

// Commands without positional arguments: help and stray words end the
// command with their exit codes; flags alone go on.
TEST(FlagParserTest, ParseFlagsOrExitRejectsPositionalArguments) {
  Parsed p;
  FlagParser parser = MakeParser(&p);
  EXPECT_EQ(ParseFlagsOrExit(parser, {"--count", "3"}), std::nullopt);
  EXPECT_EQ(p.count, 3);
  EXPECT_EQ(ParseFlagsOrExit(parser, {"stray"}), 2);
  EXPECT_EQ(ParseFlagsOrExit(parser, {"--bogus"}), 2);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(ParseFlagsOrExit(parser, {"--help"}), 0);
  EXPECT_THAT(::testing::internal::GetCapturedStdout(),
              HasSubstr("Usage: aisle thing get ID [flags]"));
}

}  // namespace
}  // namespace aisle::cli
