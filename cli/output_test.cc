// Tables, number formats and the hints for failed calls.
#include "cli/output.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Numeric columns right-align their header too, so it sits over the digits.
TEST(OutputTableTest, AlignsTextLeftAndNumbersRight) {
  Table table({"rank", "item", "score"});
  table.AddRow({"1", "shoes", "0.9000"});
  table.AddRow({"10", "a", "12.5000"});
  EXPECT_EQ(table.Render(),
            "rank  item     score\n"
            "----  -----  -------\n"
            "   1  shoes   0.9000\n"
            "  10  a      12.5000\n");
}

TEST(OutputFormatTest, CountsAndFixed) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-45000), "-45,000");
  EXPECT_EQ(FormatFixed(0.5, 4), "0.5000");
  EXPECT_EQ(FormatTimeMs(0), "-");
  EXPECT_EQ(FormatTimeMs(1793491200000), "2026-11-01 00:00:00 UTC");
}

TEST(OutputGrpcErrorTest, NamesTheCodeAndHints) {
  grpc::Status status(grpc::StatusCode::INVALID_ARGUMENT,
                      "events[0].user_id: must be 1..256 bytes, got 0");
  EXPECT_EQ(FormatGrpcStatus(status),
            "INVALID_ARGUMENT: events[0].user_id: must be 1..256 bytes, got 0");
  EXPECT_THAT(HintForGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""),
                                "host:1"),
              HasSubstr("host:1"));
  // A full disk or an overloaded server, never a size limit (those are
  // INVALID_ARGUMENT): the hint must not send the user after batch sizes.
  const std::string exhausted = HintForGrpcStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "disk full"), "h:1");
  EXPECT_THAT(exhausted, HasSubstr("disk"));
  EXPECT_THAT(exhausted, Not(HasSubstr("smaller batches")));
}

TEST(OutputFormatTest, EnumLabelDropsThePrefix) {
  EXPECT_EQ(EnumLabel("SOURCE_FACTOR_MODEL", "SOURCE_"), "factor_model");
  EXPECT_EQ(EnumLabel("ADD_TO_CART", ""), "add_to_cart");
  EXPECT_EQ(EnumLabel("OTHER", "SOURCE_"), "other");
}

}  // namespace
}  // namespace aisle::cli
