#include "core/model.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "core/test_vectors.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

std::vector<std::string> Ids(const char* prefix, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(absl::StrCat(prefix, i));
  return ids;
}

ModelMetadata Meta(int factors) {
  ModelMetadata m;
  m.version = "20261125T101500Z-3f2a";
  m.trained_at_ms = 1764065700000;
  m.factors = factors;
  m.interactions = 1234;
  m.metrics = {{"ndcg@10", 0.48}, {"map", 0.15}};
  m.parameters = {{"alpha", "2.5"}, {"regularization", "7"}};
  return m;
}

std::shared_ptr<const FactorModel> Make(int items, int users, int factors,
                                        ModelOptions options = {}) {
  auto m = FactorModel::Create(
      Meta(factors), Ids("i", items),
      test_vectors::Gaussian(items, factors, 1.0f, 1), Ids("u", users),
      test_vectors::Gaussian(users, factors, 1.0f, 2), options);
  EXPECT_OK(m);
  return m.ok() ? *m : nullptr;
}

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), 0xE3069283u);
}

TEST(FactorModelTest, CreateIndexesIdsAndTakesFoldInOptionsFromParameters) {
  auto m = Make(30, 5, 4);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->num_items(), 30);
  EXPECT_EQ(m->num_users(), 5);
  EXPECT_EQ(m->factors(), 4);
  EXPECT_EQ(m->metadata().items, 30);
  EXPECT_EQ(m->ItemIndex("i7"), 7);
  EXPECT_EQ(m->UserIndex("u4"), 4);
  EXPECT_FALSE(m->ItemIndex("nope").has_value());
  EXPECT_EQ(m->ItemId(3), "i3");
  EXPECT_FLOAT_EQ(m->als_options().alpha, 2.5f);
  EXPECT_FLOAT_EQ(m->als_options().regularization, 7.0f);
  EXPECT_TRUE(m->gramian().isApprox(
      Eigen::MatrixXf(m->item_factors().transpose() * m->item_factors()),
      1e-4f));
  EXPECT_EQ(m->ann(), nullptr);  // below ann_min_items
  EXPECT_GT(m->MemoryBytes(), 30u * 4 * sizeof(float));
}

TEST(FactorModelTest, BuildsAnnIndexAtThreshold) {
  ModelOptions o;
  o.ann_min_items = 50;
  o.ann.threads = 1;
  auto m = Make(50, 3, 8, o);
  ASSERT_NE(m, nullptr);
  ASSERT_NE(m->ann(), nullptr);
  EXPECT_EQ(m->ann()->size(), 50);
  // Deferred: no index, whatever the size (the engine builds it later).
  o.defer_ann = true;
  auto deferred = Make(50, 3, 8, o);
  ASSERT_NE(deferred, nullptr);
  EXPECT_EQ(deferred->ann(), nullptr);
  EXPECT_LT(deferred->MemoryBytes(), m->MemoryBytes());
}

TEST(FactorModelTest, CreateRejectsInconsistentInput) {
  struct Case {
    std::string name;
    int item_ids, item_rows, factor_cols, meta_factors, user_ids, user_rows;
    bool duplicate;
  };
  const std::vector<Case> cases = {
      {"item_rows_vs_ids", 10, 9, 4, 4, 2, 2, false},
      {"user_rows_vs_ids", 10, 10, 4, 4, 2, 3, false},
      {"cols_vs_metadata", 10, 10, 4, 5, 2, 2, false},
      {"no_items", 0, 0, 4, 4, 2, 2, false},
      {"duplicate_ids", 10, 10, 4, 4, 2, 2, true},
  };
  for (const Case& c : cases) {
    std::vector<std::string> ids = Ids("i", c.item_ids);
    if (c.duplicate) ids[1] = ids[0];
    auto m = FactorModel::Create(
        Meta(c.meta_factors), ids,
        test_vectors::Gaussian(c.item_rows, c.factor_cols, 1.0f, 1),
        Ids("u", c.user_ids),
        test_vectors::Gaussian(c.user_rows, c.factor_cols, 1.0f, 2), {});
    EXPECT_THAT(m, StatusIs(absl::StatusCode::kInvalidArgument, _)) << c.name;
  }
  RowMatrix bad = test_vectors::Gaussian(3, 2, 1.0f, 1);
  bad(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(
      FactorModel::Create(Meta(2), Ids("i", 3), bad, {}, RowMatrix(0, 2), {}),
      StatusIs(absl::StatusCode::kInvalidArgument, _));
}

TEST(FactorModelTest, SerializeRoundTripsEverything) {
  auto m = Make(40, 7, 6);
  ASSERT_NE(m, nullptr);
  const std::string blob = m->Serialize();
  EXPECT_EQ(blob.substr(0, 8), "AISLEMDL");
  auto back = FactorModel::Deserialize(blob, {});
  ASSERT_OK(back);
  const FactorModel& b = **back;
  EXPECT_EQ(b.version(), m->version());
  EXPECT_EQ(b.metadata().trained_at_ms, m->metadata().trained_at_ms);
  EXPECT_EQ(b.metadata().interactions, 1234);
  EXPECT_EQ(b.metadata().metrics, m->metadata().metrics);
  EXPECT_EQ(b.metadata().parameters, m->metadata().parameters);
  EXPECT_EQ(b.num_items(), 40);
  EXPECT_EQ(b.num_users(), 7);
  EXPECT_EQ(b.item_factors(), m->item_factors());
  EXPECT_EQ(b.user_factors(), m->user_factors());
  EXPECT_EQ(b.ItemIndex("i39"), 39);
  EXPECT_EQ(b.UserIndex("u6"), 6);
  EXPECT_FLOAT_EQ(b.als_options().alpha, 2.5f);
  EXPECT_EQ(b.Serialize(), blob);

  auto meta = FactorModel::PeekMetadata(blob);
  ASSERT_OK(meta);
  EXPECT_EQ(meta->version, m->version());
  EXPECT_EQ(meta->factors, 6);
  EXPECT_EQ(meta->items, 40);
  EXPECT_EQ(meta->users, 7);
  EXPECT_EQ(meta->metrics, m->metadata().metrics);
}

TEST(FactorModelTest, ModelWithoutUsersRoundTrips) {
  auto m = FactorModel::Create(Meta(3), Ids("i", 5),
                               test_vectors::Gaussian(5, 3, 1.0f, 1), {},
                               RowMatrix(), {});
  ASSERT_OK(m);
  auto back = FactorModel::Deserialize((*m)->Serialize(), {});
  ASSERT_OK(back);
  EXPECT_EQ((*back)->num_users(), 0);
}

TEST(FactorModelTest, DamagedBlobsAreDataLossNeverACrash) {
  auto m = Make(25, 6, 5);
  ASSERT_NE(m, nullptr);
  const std::string blob = m->Serialize();
  // Every truncation.
  for (size_t n = 0; n < blob.size(); n += (n < 64 ? 1 : 7)) {
    const auto s = FactorModel::Deserialize(blob.substr(0, n), {}).status();
    EXPECT_THAT(s,
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("model blob")))
        << n;
  }
  // Appended garbage.
  EXPECT_THAT(FactorModel::Deserialize(blob + "x", {}),
              StatusIs(absl::StatusCode::kDataLoss, _));
  // Random byte flips anywhere: header, metadata, ids, floats.
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 400; ++trial) {
    std::string bad = blob;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    }
    EXPECT_THAT(FactorModel::Deserialize(bad, {}),
                StatusIs(absl::StatusCode::kDataLoss, _))
        << trial;
    // Peek does not check the checksum, but must stay in bounds.
    (void)FactorModel::PeekMetadata(bad);
  }
  // Random bytes, with and without a valid-looking header.
  for (int trial = 0; trial < 200; ++trial) {
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (trial % 2 == 0) junk = blob.substr(0, 24) + junk;
    EXPECT_THAT(FactorModel::Deserialize(junk, {}),
                StatusIs(absl::StatusCode::kDataLoss, _));
    auto peek = FactorModel::PeekMetadata(junk);
    if (!peek.ok()) {
      EXPECT_THAT(peek, StatusIs(absl::StatusCode::kDataLoss, _));
    }
  }
}

// A forged blob with a correct checksum but lengths that claim huge sizes
// is rejected without allocating them.
TEST(FactorModelTest, HugeLengthsWithValidChecksumAreRejected) {
  std::string body;
  const auto u32 = [&body](uint32_t v) {
    body.append(reinterpret_cast<char*>(&v), 4);
  };
  u32(0xFFFFFFF0u);  // version string length
  std::string blob = "AISLEMDL";
  const uint32_t format = 1, crc = Crc32c(body);
  const uint64_t len = body.size();
  blob.append(reinterpret_cast<const char*>(&format), 4);
  blob.append(reinterpret_cast<const char*>(&crc), 4);
  blob.append(reinterpret_cast<const char*>(&len), 8);
  blob += body;
  EXPECT_THAT(FactorModel::Deserialize(blob, {}),
              StatusIs(absl::StatusCode::kDataLoss, _));
  EXPECT_THAT(FactorModel::PeekMetadata(blob),
              StatusIs(absl::StatusCode::kDataLoss, _));
}

TEST(FactorModelTest, FoldInByIdMatchesIndexFoldInAndIgnoresUnknownIds) {
  auto m = Make(20, 2, 4);
  ASSERT_NE(m, nullptr);
  const std::vector<std::pair<std::string, float>> by_id = {
      {"i3", 2.0f}, {"zzz", 5.0f}, {"i11", 1.0f}};
  const std::vector<int32_t> rows = {3, 11};
  const std::vector<float> weights = {2.0f, 1.0f};
  const Eigen::VectorXf a = m->FoldIn(by_id);
  const Eigen::VectorXf b = core::FoldIn(m->item_factors(), m->gramian(), rows,
                                         weights, m->als_options());
  ASSERT_EQ(a.size(), 4);
  EXPECT_TRUE(a.isApprox(b));
  EXPECT_GT(a.norm(), 0);
  const std::vector<std::pair<std::string, float>> unknown = {{"zzz", 1.0f}};
  EXPECT_EQ(m->FoldIn(unknown).norm(), 0);
}

}  // namespace
}  // namespace aisle::core
