// BlobStore on a real nats-server (NatsCluster): chunked round trips,
// immutability, and a damaged or partial chunk set refused. The damage is
// done with the NATS client directly, as a lost or overwritten chunk would
// look in the bucket.
#include "cluster/blob_store.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/testing/nats_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::cluster {
namespace {

using ::aisle::cluster::testing::NatsCluster;
using ::aisle::testing::IsOkAndHolds;
using ::aisle::testing::StatusIs;
using ::testing::HasSubstr;

// Bytes that differ at every position, so a misplaced chunk shows.
std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(nats_, NatsCluster::Start(1));
    BlobStoreOptions options;
    options.servers = nats_->urls();
    options.chunk_bytes = 1000;  // many chunks from small blobs
    ASSERT_OK_AND_ASSIGN(blobs_, ConnectJetStreamBlobs(options));
  }
  // Overwrites (value set) or purges (nullopt) one key of the bucket.
  void Damage(const std::string& key, std::optional<std::string> value) {
    ASSERT_OK(testing::SetBucketKey(nats_->url(0), "AISLE_MODELS", key,
                                    std::move(value)));
  }

  std::unique_ptr<NatsCluster> nats_;
  std::unique_ptr<BlobStore> blobs_;
};

TEST_F(BlobStoreTest, ABlobComesBackWholeFromItsChunks) {
  const std::string bytes = Pattern(10'500, 1);
  ASSERT_OK_AND_ASSIGN(BlobInfo info, blobs_->Put("v1/odd name", bytes));
  EXPECT_EQ(info.size, 10'500);
  EXPECT_EQ(info.chunks, 11);
  EXPECT_EQ(info.sha256.size(), 64u);
  EXPECT_THAT(blobs_->Get("v1/odd name"), IsOkAndHolds(bytes));
  ASSERT_OK_AND_ASSIGN(std::optional<BlobInfo> stat,
                       blobs_->Stat("v1/odd name"));
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->sha256, info.sha256);
  // An empty blob is a blob too.
  ASSERT_OK(blobs_->Put("empty", "").status());
  EXPECT_THAT(blobs_->Get("empty"), IsOkAndHolds(""));
}

TEST_F(BlobStoreTest, StreamedBothWaysOneChunkAtATime) {
  const std::string bytes = Pattern(10'500, 3);
  // Read on demand, each read within one chunk.
  size_t largest_read = 0;
  ASSERT_OK_AND_ASSIGN(
      BlobInfo info, blobs_->PutFrom("streamed", bytes.size(),
                                     [&](uint64_t offset, size_t n, char* out) {
                                       largest_read = std::max(largest_read, n);
                                       bytes.copy(out, n, offset);
                                       return absl::OkStatus();
                                     }));
  EXPECT_EQ(info.chunks, 11);
  EXPECT_LE(largest_read, 1000u);
  EXPECT_THAT(blobs_->Get("streamed"), IsOkAndHolds(bytes));
  // Handed over chunk by chunk, in order.
  std::vector<std::string> parts;
  ASSERT_OK_AND_ASSIGN(BlobInfo got,
                       blobs_->GetTo("streamed", [&](std::string_view part) {
                         parts.emplace_back(part);
                         return absl::OkStatus();
                       }));
  EXPECT_EQ(got.sha256, info.sha256);
  ASSERT_EQ(parts.size(), 11u);
  EXPECT_EQ(parts.back().size(), 500u);
  std::string joined;
  for (const std::string& part : parts) joined += part;
  EXPECT_EQ(joined, bytes);
  // A writer's error stops the read and is returned.
  int calls = 0;
  EXPECT_THAT(blobs_->GetTo("streamed",
                            [&](std::string_view) {
                              ++calls;
                              return absl::ResourceExhaustedError("disk full");
                            }),
              StatusIs(absl::StatusCode::kResourceExhausted, "disk full"));
  EXPECT_EQ(calls, 1);
}

TEST_F(BlobStoreTest, AFailedOrChangingReadStoresNothingReadable) {
  const std::string bytes = Pattern(5000, 4);
  EXPECT_THAT(blobs_->PutFrom("unreadable", bytes.size(),
                              [&](uint64_t offset, size_t n, char* out) {
                                if (offset >= 3000) {
                                  return absl::UnavailableError("read error");
                                }
                                bytes.copy(out, n, offset);
                                return absl::OkStatus();
                              }),
              StatusIs(absl::StatusCode::kUnavailable, "read error"));
  ASSERT_OK_AND_ASSIGN(std::optional<BlobInfo> none,
                       blobs_->Stat("unreadable"));
  EXPECT_FALSE(none.has_value());
  // Bytes that differ between the checksum pass and the storing pass (a
  // file changed underneath) are not published.
  int pass = 0;
  EXPECT_THAT(blobs_->PutFrom("changing", bytes.size(),
                              [&](uint64_t offset, size_t n, char* out) {
                                if (offset == 0) ++pass;
                                bytes.copy(out, n, offset);
                                if (pass == 2 && offset == 0) out[0] ^= 1;
                                return absl::OkStatus();
                              }),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("changed")));
  ASSERT_OK_AND_ASSIGN(none, blobs_->Stat("changing"));
  EXPECT_FALSE(none.has_value());
}

TEST_F(BlobStoreTest, NamesAreImmutable) {
  ASSERT_OK(blobs_->Put("v1", Pattern(2500, 1)).status());
  EXPECT_OK(blobs_->Put("v1", Pattern(2500, 1)).status());  // same bytes
  EXPECT_THAT(blobs_->Put("v1", Pattern(2500, 2)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("v1")));
  EXPECT_THAT(blobs_->Get("v1"), IsOkAndHolds(Pattern(2500, 1)));
}

TEST_F(BlobStoreTest, AnUnknownOrDeletedBlobIsNotFound) {
  EXPECT_THAT(blobs_->Get("never"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  ASSERT_OK_AND_ASSIGN(std::optional<BlobInfo> none, blobs_->Stat("never"));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK(blobs_->Put("v1", Pattern(3000, 1)).status());
  ASSERT_OK(blobs_->Delete("v1"));
  EXPECT_THAT(blobs_->Get("v1"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_OK(blobs_->Delete("v1"));
}

TEST_F(BlobStoreTest, AMissingChunkIsRefused) {
  ASSERT_OK(blobs_->Put("v1", Pattern(5000, 1)).status());
  Damage(BlobKeyPrefix("v1") + ".chunk.3", std::nullopt);
  EXPECT_THAT(blobs_->Get("v1"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("chunk 3 of 5")));
}

TEST_F(BlobStoreTest, ADamagedChunkIsRefused) {
  const std::string bytes = Pattern(5000, 1);
  ASSERT_OK(blobs_->Put("v1", bytes).status());
  // Same length, one byte changed: only the checksum can tell.
  std::string chunk = bytes.substr(2000, 1000);
  chunk[500] ^= 1;
  Damage(BlobKeyPrefix("v1") + ".chunk.2", chunk);
  EXPECT_THAT(blobs_->Get("v1"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("SHA-256")));
  // A truncated chunk: the size no longer matches.
  Damage(BlobKeyPrefix("v1") + ".chunk.2", bytes.substr(2000, 10));
  EXPECT_THAT(blobs_->Get("v1"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bytes")));
}

TEST_F(BlobStoreTest, ChunksWithoutAManifestAreNotABlob) {
  // What a publisher that died before its manifest leaves behind.
  ASSERT_OK(blobs_->Put("other", "x").status());  // creates the bucket
  Damage(BlobKeyPrefix("v9") + ".chunk.0", Pattern(1000, 9));
  EXPECT_THAT(blobs_->Get("v9"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  // Publishing again completes it.
  ASSERT_OK(blobs_->Put("v9", Pattern(1500, 9)).status());
  EXPECT_THAT(blobs_->Get("v9"), IsOkAndHolds(Pattern(1500, 9)));
}

TEST_F(BlobStoreTest, ListNamesTheCompleteBlobsOnly) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> none, blobs_->List());
  EXPECT_TRUE(none.empty());
  ASSERT_OK(blobs_->Put("v2/odd name.x", Pattern(5'500, 2)).status());
  ASSERT_OK(blobs_->Put("v1", Pattern(10, 1)).status());
  // Chunks without a manifest are no blob.
  Damage(BlobKeyPrefix("v3") + ".chunk.0", Pattern(1000, 3));
  EXPECT_THAT(blobs_->List(),
              IsOkAndHolds(std::vector<std::string>{"v1", "v2/odd name.x"}));
  ASSERT_OK(blobs_->Delete("v1"));
  EXPECT_THAT(blobs_->List(),
              IsOkAndHolds(std::vector<std::string>{"v2/odd name.x"}));
  EXPECT_EQ(BlobNameOfPrefix(BlobKeyPrefix("a.b/c=d")), "a.b/c=d");
  EXPECT_EQ(BlobNameOfPrefix("bad.key"), std::nullopt);
  EXPECT_EQ(BlobNameOfPrefix("=4"), std::nullopt);
}

TEST(BlobStoreNoNatsTest, WithoutNatsCallsAreUnavailable) {
  BlobStoreOptions options;
  options.servers = {
      absl::StrCat("nats://127.0.0.1:", testing::FreeLoopbackPort())};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BlobStore> blobs,
                       ConnectJetStreamBlobs(options));
  EXPECT_THAT(blobs->Get("v1"), StatusIs(absl::StatusCode::kUnavailable,
                                         HasSubstr("not connected")));
}

}  // namespace
}  // namespace aisle::cluster
