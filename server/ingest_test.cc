#include "server/ingest.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace aisle::server {
namespace {

TEST(DerivedEventIdTest, DeterministicAndFieldSensitive) {
  core::Event a;
  a.user_id = "u1";
  a.item_id = "i1";
  a.type = core::EventType::kView;
  a.timestamp_ms = 1000;
  const std::string id = DerivedEventId(a);
  EXPECT_EQ(id.size(), 3u + 32u);
  EXPECT_EQ(id.substr(0, 3), "h1-");
  EXPECT_EQ(DerivedEventId(a), id);

  std::set<std::string> ids = {id};
  core::Event b = a;
  b.user_id = "u2";
  ids.insert(DerivedEventId(b));
  b = a;
  b.item_id = "i2";
  ids.insert(DerivedEventId(b));
  b = a;
  b.type = core::EventType::kClick;
  ids.insert(DerivedEventId(b));
  b = a;
  b.timestamp_ms = 1001;
  ids.insert(DerivedEventId(b));
  // Field boundaries matter: ("u1i", "1") differs from ("u1", "i1").
  b = a;
  b.user_id = "u1i";
  b.item_id = "1";
  ids.insert(DerivedEventId(b));
  // Value and recommendation id are not part of the identity.
  b = a;
  b.value = 3;
  b.recommendation_id = "r2-1-default-1-0123456789abcdef-u-0";
  EXPECT_EQ(DerivedEventId(b), id);
  EXPECT_EQ(ids.size(), 6u);
}

}  // namespace
}  // namespace aisle::server
