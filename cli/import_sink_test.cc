// SentLines: the server's batch errors mapped back to file lines.
#include "cli/import_sink.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::cli {
namespace {

TEST(ImportSentLinesTest, MapsServerErrorsToFileLines) {
  SentLines lines;
  // Header on line 1; rows 2..4 sent, row 5 rejected locally, rows 6..9
  // sent, a blank line, rows 11..12 sent: 9 events.
  for (int64_t line : {2, 3, 4, 6, 7, 8, 9, 11, 12}) lines.Add(line);
  EXPECT_EQ(lines.LineOf(0), 2);
  EXPECT_EQ(lines.LineOf(2), 4);
  EXPECT_EQ(lines.LineOf(3), 6);
  EXPECT_EQ(lines.LineOf(6), 9);
  EXPECT_EQ(lines.LineOf(7), 11);
  EXPECT_EQ(lines.LineOf(8), 12);
  EXPECT_EQ(lines.LineOf(9), -1);
  EXPECT_EQ(lines.LineOf(-1), -1);
  // Batches of 4: batch 1, events[3] is event 7 (0-based): line 11.
  EXPECT_EQ(lines.Locate("batch 1: events[3].value: must be finite", 4),
            "line 11: value: must be finite");
  EXPECT_EQ(lines.Locate("batch 0: events[0].user_id: bad", 4),
            "line 2: user_id: bad");
  EXPECT_EQ(lines.Locate("batch 9: events[0].user_id: bad", 4),
            "batch 9: events[0].user_id: bad");
  EXPECT_EQ(lines.Locate("something else", 4), "something else");
}

}  // namespace
}  // namespace aisle::cli
