#include "core/model_flags.h"

#include <gtest/gtest.h>

namespace aisle::core {
namespace {

TEST(ModelFlagsTest, AnswersOnlyForTheSerialItWasPutUnder) {
  ModelFlags flags;
  flags.Grow(3);
  EXPECT_FALSE(flags.Get(1, 7).has_value());
  flags.Put(1, 7, true);
  flags.Put(2, 7, false);
  EXPECT_EQ(flags.Get(1, 7), true);
  EXPECT_EQ(flags.Get(2, 7), false);
  EXPECT_FALSE(flags.Get(0, 7).has_value());
  EXPECT_FALSE(flags.Get(1, 8).has_value()) << "another binding asks again";
  flags.Put(1, 8, false);
  EXPECT_EQ(flags.Get(1, 8), false);
  EXPECT_FALSE(flags.Get(1, 7).has_value());
}

TEST(ModelFlagsTest, ForgetGrowAndOutOfRange) {
  ModelFlags flags;
  flags.Grow(2);
  flags.Put(0, 1, true);
  flags.Put(1, 1, true);
  flags.Forget(0);
  EXPECT_FALSE(flags.Get(0, 1).has_value());
  EXPECT_EQ(flags.Get(1, 1), true);
  flags.Put(5, 1, true);  // beyond the table: ignored
  EXPECT_FALSE(flags.Get(5, 1).has_value());
  flags.Grow(6);
  EXPECT_FALSE(flags.Get(5, 1).has_value());
  EXPECT_EQ(flags.Get(1, 1), true) << "growing keeps the answers";
  flags.ForgetAll(6);
  EXPECT_FALSE(flags.Get(1, 1).has_value());
  flags.Forget(99);  // no-op
}

}  // namespace
}  // namespace aisle::core
