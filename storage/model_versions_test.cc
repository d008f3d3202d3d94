// Model versions: put, list, prune, activate and roll back.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/store_test_util.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;

TEST_F(StoreTest, ModelsPutListPruneActivate) {
  options_.models_to_keep = 2;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->PutModel(Meta("v1", 100), "blob1"));
  ASSERT_OK(store->SetActiveModel("v1"));
  ASSERT_OK(store->PutModel(Meta("v2", 200), "blob2"));
  ASSERT_OK(store->SetActiveModel("v2"));
  ASSERT_OK(store->PutModel(Meta("v3", 300), "blob3"));
  ASSERT_OK(store->PutModel(Meta("v4", 300), "blob4"));  // same time
  ASSERT_OK(store->PutModel(Meta("v5", 250), "blob5"));

  absl::StatusOr<std::vector<StoredModel>> models = store->ListModels();
  ASSERT_OK(models);
  std::vector<std::string> versions;
  for (const StoredModel& m : *models) versions.push_back(m.metadata.version);
  // The two newest, plus the active (v2), the previous active (v1) and the
  // one just stored (v5), which are never pruned.
  EXPECT_EQ(versions, (std::vector<std::string>{"v4", "v3", "v5", "v2", "v1"}));
  EXPECT_EQ((*models)[0].blob_bytes, 5);
  EXPECT_EQ((*models)[0].metadata.metrics.at("ndcg@10"), 0.4);
  EXPECT_EQ(*store->GetModelBlob("v4"), "blob4");
  EXPECT_EQ(*store->GetActiveModel(), "v2");
  EXPECT_EQ(*store->GetPreviousActiveModel(), "v1");

  EXPECT_THAT(store->SetActiveModel("v0"),
              StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(store->GetModelBlob("nope"),
              StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(store->PutModel(Meta("meta:x", 1), "b"),
              StatusIs(absl::StatusCode::kInvalidArgument, _));

  ASSERT_OK(store->SetActiveModel("v4"));
  store.reset();
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->GetActiveModel(), "v4");
  EXPECT_EQ(*store->GetPreviousActiveModel(), "v2");
  // v1, v3 and v5 are no longer protected: the next put prunes them.
  ASSERT_OK(store->PutModel(Meta("v6", 400), "blob6"));
  models = store->ListModels();
  ASSERT_OK(models);
  versions.clear();
  for (const StoredModel& m : *models) versions.push_back(m.metadata.version);
  EXPECT_EQ(versions, (std::vector<std::string>{"v6", "v4", "v2"}));
}

TEST_F(StoreTest, NewlyStoredOlderModelSurvivesItsOwnPut) {
  options_.models_to_keep = 2;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->PutModel(Meta("new1", 1000), "a"));
  ASSERT_OK(store->PutModel(Meta("new2", 1100), "b"));
  ASSERT_OK(store->PutModel(Meta("late", 5), "c"));  // trained long ago
  EXPECT_EQ(*store->GetModelBlob("late"), "c");
  ASSERT_OK(store->PutModel(Meta("new3", 1200), "d"));
  EXPECT_THAT(store->GetModelBlob("late"),
              StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(store->GetModelBlob("new1"),
              StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_EQ(store->ListModels()->size(), 2u);
}

TEST_F(StoreTest, NoActiveModelIsEmpty) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->GetActiveModel(), "");
  EXPECT_EQ(*store->GetPreviousActiveModel(), "");
  EXPECT_TRUE(store->ListModels()->empty());
}

}  // namespace
}  // namespace aisle::storage
