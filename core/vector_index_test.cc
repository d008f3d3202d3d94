#include "core/vector_index.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/test_vectors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

// Read by the ThreadSanitizer runtime only: hnswlib takes a lock per graph
// node while holding others, thousands per index, which overwhelm TSan's
// lock-order graph (it then reports cycles without stacks that no
// suppression can name; scripts/sanitizers/tsan_suppressions.txt). This
// binary holds no other lock, so it runs without the deadlock detector;
// data races are still detected.
extern "C" const char* __tsan_default_options() { return "detect_deadlocks=0"; }

namespace aisle::core {
namespace {

using ::aisle::testing::StatusIs;
using ::testing::_;

// Reference: score every row in double precision, sort everything.
std::vector<SearchHit> NaiveTopK(const RowMatrix& v, const float* q, int k,
                                 const RowFilter& keep = nullptr) {
  std::vector<SearchHit> all;
  for (int32_t i = 0; i < v.rows(); ++i) {
    if (keep && !keep(i)) continue;
    double s = 0;
    for (int d = 0; d < v.cols(); ++d) s += double{v(i, d)} * q[d];
    all.push_back({i, static_cast<float>(s)});
  }
  std::sort(all.begin(), all.end(), [](const SearchHit& a, const SearchHit& b) {
    return a.score != b.score ? a.score > b.score : a.index < b.index;
  });
  if (static_cast<int>(all.size()) > k) all.resize(std::max(k, 0));
  return all;
}

std::vector<int32_t> Indices(const std::vector<SearchHit>& hits) {
  std::vector<int32_t> out;
  for (const SearchHit& h : hits) out.push_back(h.index);
  return out;
}

void ExpectSameHits(const std::vector<SearchHit>& got,
                    const std::vector<SearchHit>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < got.size(); ++r) {
    EXPECT_EQ(got[r].index, want[r].index) << "rank " << r;
    EXPECT_NEAR(got[r].score, want[r].score, 1e-4) << "rank " << r;
  }
}

TEST(ExactTopKTest, MatchesNaiveLoop) {
  const RowMatrix v = test_vectors::Gaussian(500, 16, 1.0f, 1);
  const RowMatrix q = test_vectors::Gaussian(5, 16, 1.0f, 2);
  for (int k : {1, 10, 499, 500}) {
    for (int row = 0; row < q.rows(); ++row) {
      SCOPED_TRACE(::testing::Message() << "k=" << k << " query=" << row);
      ExpectSameHits(ExactTopK(v, q.row(row).data(), k),
                     NaiveTopK(v, q.row(row).data(), k));
    }
  }
}

TEST(ExactTopKTest, HonoursFilter) {
  const RowMatrix v = test_vectors::Gaussian(300, 8, 1.0f, 3);
  const RowMatrix q = test_vectors::Gaussian(1, 8, 1.0f, 4);
  const RowFilter even = [](int32_t i) { return i % 2 == 0; };
  const auto hits = ExactTopK(v, q.data(), 20, even);
  for (const SearchHit& h : hits) EXPECT_EQ(h.index % 2, 0);
  ExpectSameHits(hits, NaiveTopK(v, q.data(), 20, even));
  const RowFilter none = [](int32_t) { return false; };
  EXPECT_TRUE(ExactTopK(v, q.data(), 5, none).empty());
}

TEST(ExactTopKTest, KLargerThanRowsReturnsAllRowsSorted) {
  const RowMatrix v = test_vectors::Gaussian(7, 4, 1.0f, 5);
  const RowMatrix q = test_vectors::Gaussian(1, 4, 1.0f, 6);
  const auto hits = ExactTopK(v, q.data(), 50);
  ExpectSameHits(hits, NaiveTopK(v, q.data(), 7));
  const RowFilter small = [](int32_t i) { return i < 3; };
  EXPECT_EQ(ExactTopK(v, q.data(), 50, small).size(), 3u);
}

TEST(ExactTopKTest, NonPositiveKOrEmptyMatrixGivesNothing) {
  const RowMatrix v = test_vectors::Gaussian(7, 4, 1.0f, 5);
  const RowMatrix q = test_vectors::Gaussian(1, 4, 1.0f, 6);
  EXPECT_TRUE(ExactTopK(v, q.data(), 0).empty());
  EXPECT_TRUE(ExactTopK(v, q.data(), -1).empty());
  EXPECT_TRUE(ExactTopK(RowMatrix(0, 4), q.data(), 3).empty());
}

// Sizes cross both the query and the item block boundaries.
TEST(ExactTopKBatchTest, MatchesSingleQuerySearch) {
  const RowMatrix v = test_vectors::Gaussian(9000, 12, 1.0f, 7);
  const RowMatrix q = test_vectors::Gaussian(70, 12, 1.0f, 8);
  for (int k : {1, 10}) {
    const auto batch = ExactTopKBatch(v, q, k);
    ASSERT_EQ(batch.size(), 70u);
    for (int row = 0; row < q.rows(); ++row) {
      SCOPED_TRACE(::testing::Message() << "k=" << k << " query=" << row);
      ExpectSameHits(batch[row], NaiveTopK(v, q.row(row).data(), k));
    }
  }
  const auto all =
      ExactTopKBatch(test_vectors::Gaussian(3, 12, 1.0f, 9), q, 10);
  for (const auto& hits : all) EXPECT_EQ(hits.size(), 3u);
}

TEST(AnnIndexTest, RejectsEmptyMatrix) {
  EXPECT_THAT(AnnIndex::Build(RowMatrix(0, 8), AnnOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
}

class AnnIndexRecallTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vectors_ = new RowMatrix(test_vectors::Gaussian(20000, 32, 1.0f, 11));
    queries_ = new RowMatrix(test_vectors::Gaussian(200, 32, 1.0f, 12));
    AnnOptions options;
    options.threads = 2;
    // Searched, never answered from kept answers: these tests are about
    // the graph (concurrent searches included).
    options.cached_searches = 0;
    auto index = AnnIndex::Build(*vectors_, options);
    ASSERT_OK(index);
    index_ = index->release();
  }
  static void TearDownTestSuite() {
    delete index_;
    delete queries_;
    delete vectors_;
  }
  static RowMatrix* vectors_;
  static RowMatrix* queries_;
  static AnnIndex* index_;
};

RowMatrix* AnnIndexRecallTest::vectors_ = nullptr;
RowMatrix* AnnIndexRecallTest::queries_ = nullptr;
AnnIndex* AnnIndexRecallTest::index_ = nullptr;

TEST_F(AnnIndexRecallTest, RecallAtTenAgainstExact) {
  ASSERT_NE(index_, nullptr);
  EXPECT_EQ(index_->size(), 20000);
  EXPECT_EQ(index_->dim(), 32);
  EXPECT_GT(index_->MemoryBytes(),
            static_cast<size_t>(vectors_->size()) * sizeof(float));
  const auto exact = ExactTopKBatch(*vectors_, *queries_, 10);
  int found = 0;
  for (int q = 0; q < queries_->rows(); ++q) {
    const auto hits = index_->Search(queries_->row(q).data(), 10);
    ASSERT_EQ(hits.size(), 10u);
    for (size_t r = 0; r < hits.size(); ++r) {
      // Scores are real inner products, best first.
      EXPECT_NEAR(hits[r].score,
                  vectors_->row(hits[r].index).dot(queries_->row(q)), 1e-3);
      if (r > 0) {
        EXPECT_GE(hits[r - 1].score, hits[r].score);
      }
    }
    const auto want = Indices(exact[q]);
    for (const SearchHit& h : hits) {
      found += std::count(want.begin(), want.end(), h.index);
    }
  }
  const double recall = found / (10.0 * queries_->rows());
  EXPECT_GE(recall, 0.9);
  RecordProperty("recall_at_10", std::to_string(recall));
}

TEST_F(AnnIndexRecallTest, WiderSearchDoesNotLoseRecall) {
  ASSERT_NE(index_, nullptr);
  const auto exact = ExactTopKBatch(*vectors_, *queries_, 10);
  int narrow = 0;
  int wide = 0;
  for (int q = 0; q < queries_->rows(); ++q) {
    const auto want = Indices(exact[q]);
    for (const SearchHit& h : index_->Search(queries_->row(q).data(), 10, 10)) {
      narrow += std::count(want.begin(), want.end(), h.index);
    }
    for (const SearchHit& h :
         index_->Search(queries_->row(q).data(), 10, 400)) {
      wide += std::count(want.begin(), want.end(), h.index);
    }
  }
  EXPECT_GE(wide, narrow);
  EXPECT_GE(wide, 0.97 * 10 * queries_->rows());
}

TEST_F(AnnIndexRecallTest, KLargerThanEfAndNonPositiveK) {
  ASSERT_NE(index_, nullptr);
  EXPECT_EQ(index_->Search(queries_->data(), 150, 20).size(), 150u);
  EXPECT_TRUE(index_->Search(queries_->data(), 0).empty());
}

TEST_F(AnnIndexRecallTest, ConcurrentSearchesMatchSequential) {
  ASSERT_NE(index_, nullptr);
  const int n = static_cast<int>(queries_->rows());
  ASSERT_EQ(n, 200);
  // Mixed per-call ef values exercise the path that must not share state.
  auto ef_for = [](int q) { return q % 3 == 0 ? 0 : 16 + 8 * (q % 5); };
  std::vector<std::vector<SearchHit>> sequential(n);
  for (int q = 0; q < n; ++q) {
    sequential[q] = index_->Search(queries_->row(q).data(), 10, ef_for(q));
  }
  constexpr int kThreads = 4;
  std::vector<std::vector<std::vector<SearchHit>>> parallel(
      kThreads, std::vector<std::vector<SearchHit>>(n));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread walks the queries in a different order (the strides
      // are coprime with n = 200, so every query is visited once).
      constexpr int kStride[kThreads] = {1, 3, 7, 9};
      for (int j = 0; j < n; ++j) {
        const int q = (j * kStride[t] + t * 17) % n;
        parallel[t][q] = index_->Search(queries_->row(q).data(), 10, ef_for(q));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int q = 0; q < n; ++q) {
      EXPECT_EQ(Indices(parallel[t][q]), Indices(sequential[q]))
          << "thread " << t << " query " << q;
    }
  }
}

TEST(AnnIndexTest, KeptAnswersAreWhatTheGraphAnswers) {
  const RowMatrix v = test_vectors::Gaussian(3000, 16, 1.0f, 21);
  const RowMatrix queries = test_vectors::Gaussian(100, 16, 1.0f, 22);
  // One build thread: both builds make the same graphs.
  AnnOptions searched;
  searched.threads = 1;
  searched.cached_searches = 0;
  AnnOptions kept = searched;
  kept.cached_searches = 1000;
  ASSERT_OK_AND_ASSIGN(auto plain, AnnIndex::Build(v, searched));
  ASSERT_OK_AND_ASSIGN(auto cached, AnnIndex::Build(v, kept));
  for (int round = 0; round < 3; ++round) {
    for (int q = 0; q < queries.rows(); ++q) {
      const float* query = queries.row(q).data();
      ExpectSameHits(cached->Search(query, 10, 20),
                     plain->Search(query, 10, 20));
      // The other graph, and another k, are other searches.
      ExpectSameHits(cached->SearchCosine(query, 10, 20),
                     plain->SearchCosine(query, 10, 20));
      ExpectSameHits(cached->Search(query, 5, 20), plain->Search(query, 5, 20));
    }
  }
  const AnnIndex::CacheStats stats = cached->cache_stats();
  // Searched twice (kept from the second sight), then answered; a key
  // whose remembered first sight another key's overwrote in between is
  // searched once more (rare: 300 keys over 64k slots).
  EXPECT_EQ(stats.hits + stats.misses, 900u);
  EXPECT_GE(stats.hits, 290u);
  EXPECT_GE(stats.entries, stats.hits);
  EXPECT_LE(stats.entries, 300u);
  EXPECT_EQ(plain->cache_stats().hits + plain->cache_stats().misses, 0u);
  EXPECT_EQ(plain->cache_stats().entries, 0u);
}

}  // namespace
// Rows of very different lengths, as trained item vectors are (an item's
// length grows with its events): the nearest rows by angle include short
// ones that an inner-product search ranks low.
RowMatrix VariedLengths(int rows, int dim, uint64_t seed) {
  RowMatrix v = test_vectors::Gaussian(rows, dim, 1.0f, seed);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<float> scale(0.05f, 5.0f);
  for (int r = 0; r < rows; ++r) v.row(r) *= scale(rng);
  return v;
}

TEST(AnnIndexTest, CosineGraphFindsTheNearestRowsByAngle) {
  const RowMatrix v = VariedLengths(20000, 16, 41);
  RowMatrix unit = v;
  for (int r = 0; r < unit.rows(); ++r) unit.row(r).normalize();
  AnnOptions options;
  options.threads = 2;
  ASSERT_OK_AND_ASSIGN(auto index, AnnIndex::Build(v, options));
  ASSERT_TRUE(index->has_cosine());
  const RowMatrix queries = test_vectors::Gaussian(100, 16, 2.0f, 43);
  const auto exact = ExactTopKBatch(unit, queries, 10);
  int found = 0, found_by_inner_product = 0;
  for (int q = 0; q < queries.rows(); ++q) {
    const auto hits = index->SearchCosine(queries.row(q).data(), 10);
    ASSERT_EQ(hits.size(), 10u);
    for (const SearchHit& h : hits) {
      // The cosine times |query|.
      EXPECT_NEAR(h.score, unit.row(h.index).dot(queries.row(q)), 1e-3);
    }
    const auto want = Indices(exact[q]);
    for (const SearchHit& h : hits) {
      found += std::count(want.begin(), want.end(), h.index);
    }
    // What a cosine ranking got before: 4x as many inner-product hits,
    // re-ranked by cosine.
    std::vector<SearchHit> reranked = index->Search(queries.row(q).data(), 40);
    for (SearchHit& h : reranked) h.score /= v.row(h.index).norm();
    std::sort(reranked.begin(), reranked.end(),
              [](const SearchHit& a, const SearchHit& b) {
                return a.score > b.score;
              });
    reranked.resize(std::min<size_t>(10, reranked.size()));
    for (const SearchHit& h : reranked) {
      found_by_inner_product += std::count(want.begin(), want.end(), h.index);
    }
  }
  const double recall = found / (10.0 * queries.rows());
  const double recall_by_inner_product =
      found_by_inner_product / (10.0 * queries.rows());
  EXPECT_GE(recall, 0.9);
  EXPECT_LT(recall_by_inner_product, recall);
  RecordProperty("cosine_recall_at_10", std::to_string(recall));
  RecordProperty("reranked_inner_product_recall_at_10",
                 std::to_string(recall_by_inner_product));
}

TEST(AnnIndexTest, WithoutTheCosineOptionThereIsNoCosineGraph) {
  const RowMatrix v = VariedLengths(2000, 8, 47);
  AnnOptions without;
  without.threads = 1;
  without.cosine = false;
  AnnOptions with = without;
  with.cosine = true;
  ASSERT_OK_AND_ASSIGN(auto a, AnnIndex::Build(v, without));
  ASSERT_OK_AND_ASSIGN(auto b, AnnIndex::Build(v, with));
  EXPECT_FALSE(a->has_cosine());
  EXPECT_TRUE(a->SearchCosine(v.row(0).data(), 10).empty());
  EXPECT_EQ(a->Search(v.row(0).data(), 10).size(), 10u);
  EXPECT_GT(b->MemoryBytes(), a->MemoryBytes() + v.size() * sizeof(float));
}

TEST(AnnIndexTest, BuildStopsWhenCancelled) {
  RowMatrix v = RowMatrix::Random(2000, 8);
  std::atomic<bool> cancel{true};
  AnnOptions options;
  options.threads = 2;
  options.cancel = &cancel;
  auto cancelled = AnnIndex::Build(v, options);
  EXPECT_THAT(cancelled, StatusIs(absl::StatusCode::kCancelled, _));
  cancel = false;
  auto built = AnnIndex::Build(v, options);
  ASSERT_OK(built);
  EXPECT_EQ((*built)->size(), 2000);
}

}  // namespace aisle::core

namespace aisle::core {
namespace {

// A fresh directory under the test's temporary directory, removed after.
class AnnIndexFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/aisle-ann-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/v1.hnsw";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::string path_;
};

TEST_F(AnnIndexFileTest, SavedIndexLoadsAndSearchesTheSame) {
  RowMatrix v = RowMatrix::Random(3000, 16);
  AnnOptions options;
  options.threads = 1;
  ASSERT_OK_AND_ASSIGN(auto built, AnnIndex::Build(v, options));
  ASSERT_OK(built->Save(path_));
  ASSERT_OK_AND_ASSIGN(auto loaded, AnnIndex::Load(path_, v, options));
  EXPECT_EQ(loaded->size(), 3000);
  EXPECT_EQ(loaded->dim(), 16);
  ASSERT_TRUE(loaded->has_cosine());
  RowMatrix queries = RowMatrix::Random(20, 16);
  for (int q = 0; q < queries.rows(); ++q) {
    for (const bool cosine : {false, true}) {
      const float* query = queries.row(q).data();
      const std::vector<SearchHit> a =
          cosine ? built->SearchCosine(query, 10) : built->Search(query, 10);
      const std::vector<SearchHit> b =
          cosine ? loaded->SearchCosine(query, 10) : loaded->Search(query, 10);
      ASSERT_EQ(a.size(), 10u);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].index, b[i].index);
        EXPECT_FLOAT_EQ(a[i].score, b[i].score);
      }
    }
  }
}

// The rows core/testdata/ann_v2 was built over (gen: see its README):
// values k / 1000 from an integer hash, the same on every machine.
RowMatrix HashRows(int64_t first, int64_t n, int dim) {
  RowMatrix m(n, dim);
  for (int64_t i = 0; i < n; ++i) {
    for (int d = 0; d < dim; ++d) {
      uint32_t h = static_cast<uint32_t>(first + i) * 2654435761u ^
                   static_cast<uint32_t>(d) * 40503u;
      h ^= h >> 13;
      h *= 0x5bd1e995u;
      h ^= h >> 15;
      m(i, d) = static_cast<float>(static_cast<int>(h % 2001) - 1000) / 1000;
    }
  }
  return m;
}

// "query cosine index score-bits" lines: what `index` answers to the 40
// queries, k 10, ef 20, by both graphs.
std::string Answers(const AnnIndex& index, const RowMatrix& queries) {
  std::string out;
  for (int q = 0; q < queries.rows(); ++q) {
    for (const bool cosine : {false, true}) {
      const float* query = queries.row(q).data();
      for (const SearchHit& h : cosine ? index.SearchCosine(query, 10, 20)
                                       : index.Search(query, 10, 20)) {
        uint32_t bits;
        std::memcpy(&bits, &h.score, sizeof(bits));
        char line[64];
        std::snprintf(line, sizeof(line), "%d %d %d %08x\n", q, cosine ? 1 : 0,
                      h.index, bits);
        out += line;
      }
    }
  }
  return out;
}

// An index file of an earlier aisle (graph numbered in insertion order,
// "aisle-ann-v2") loads, is renumbered, and answers what that aisle
// answered, bit for bit; saved again, it is a v3 file that answers the
// same. Renumbering that lost or misplaced one link would change answers.
TEST_F(AnnIndexFileTest, IndexOfAnEarlierVersionLoadsAndAnswersAsItDid) {
  const std::string data = std::string(AISLE_CORE_TESTDATA) + "/ann_v2";
  const RowMatrix items = HashRows(0, 300, 8);
  const RowMatrix queries = HashRows(100000, 40, 8);
  std::ifstream in(data + "/answers.txt");
  ASSERT_TRUE(in) << data << "/answers.txt";
  std::stringstream expected;
  expected << in.rdbuf();
  AnnOptions options;
  options.cached_searches = 0;
  ASSERT_OK_AND_ASSIGN(auto loaded,
                       AnnIndex::Load(data + "/index.hnsw", items, options));
  EXPECT_EQ(Answers(*loaded, queries), expected.str());
  ASSERT_OK(loaded->Save(path_));
  std::ifstream sum(path_ + ".sum");
  std::string version;
  sum >> version;
  EXPECT_EQ(version, "aisle-ann-v3");
  ASSERT_OK_AND_ASSIGN(auto again, AnnIndex::Load(path_, items, options));
  EXPECT_EQ(Answers(*again, queries), expected.str());
}

// An index saved with a cosine graph is not what a server without one
// asks for, nor the other way round (nor one saved before cosine graphs
// existed): the caller builds again.
TEST_F(AnnIndexFileTest, CosineGraphMustBeThereExactlyWhenAskedFor) {
  RowMatrix v = RowMatrix::Random(500, 8);
  AnnOptions with;
  with.threads = 1;
  AnnOptions without = with;
  without.cosine = false;
  ASSERT_OK_AND_ASSIGN(auto built, AnnIndex::Build(v, with));
  ASSERT_OK(built->Save(path_));
  EXPECT_TRUE(std::filesystem::exists(path_ + ".cosine"));
  EXPECT_THAT(AnnIndex::Load(path_, v, without),
              StatusIs(absl::StatusCode::kDataLoss,
                       ::testing::HasSubstr("without a cosine graph")));
  ASSERT_OK_AND_ASSIGN(auto plain, AnnIndex::Build(v, without));
  ASSERT_OK(plain->Save(path_));
  EXPECT_FALSE(std::filesystem::exists(path_ + ".cosine"));
  ASSERT_OK_AND_ASSIGN(auto loaded, AnnIndex::Load(path_, v, without));
  EXPECT_FALSE(loaded->has_cosine());
  EXPECT_THAT(AnnIndex::Load(path_, v, with),
              StatusIs(absl::StatusCode::kDataLoss,
                       ::testing::HasSubstr("no cosine graph")));
}

TEST_F(AnnIndexFileTest, CorruptedCosineGraphIsDataLoss) {
  RowMatrix v = RowMatrix::Random(500, 8);
  ASSERT_OK_AND_ASSIGN(auto built, AnnIndex::Build(v, AnnOptions()));
  ASSERT_OK(built->Save(path_));
  {
    std::fstream f(path_ + ".cosine",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  EXPECT_THAT(AnnIndex::Load(path_, v, AnnOptions()),
              StatusIs(absl::StatusCode::kDataLoss, _));
}

TEST_F(AnnIndexFileTest, MissingFileIsNotFound) {
  RowMatrix v = RowMatrix::Random(100, 4);
  EXPECT_THAT(AnnIndex::Load(path_, v, AnnOptions()),
              StatusIs(absl::StatusCode::kNotFound, _));
}

TEST_F(AnnIndexFileTest, CorruptedFileIsDataLossNotACrash) {
  RowMatrix v = RowMatrix::Random(500, 8);
  ASSERT_OK_AND_ASSIGN(auto built, AnnIndex::Build(v, AnnOptions()));
  ASSERT_OK(built->Save(path_));
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.put('\x7f');  // max_elements_: hnswlib would allocate what it says
  }
  EXPECT_THAT(AnnIndex::Load(path_, v, AnnOptions()),
              StatusIs(absl::StatusCode::kDataLoss, _));
}

TEST_F(AnnIndexFileTest, IndexOfOtherVectorsIsRefused) {
  RowMatrix v = RowMatrix::Random(500, 8);
  ASSERT_OK_AND_ASSIGN(auto built, AnnIndex::Build(v, AnnOptions()));
  ASSERT_OK(built->Save(path_));
  RowMatrix other = v;
  other(123, 4) += 0.5f;  // same shape, one value differs: another model
  EXPECT_THAT(AnnIndex::Load(path_, other, AnnOptions()),
              StatusIs(absl::StatusCode::kDataLoss,
                       ::testing::HasSubstr("row 123 differs")));
  RowMatrix fewer = v.topRows(400);
  EXPECT_THAT(AnnIndex::Load(path_, fewer, AnnOptions()),
              StatusIs(absl::StatusCode::kDataLoss, _));
}

}  // namespace
}  // namespace aisle::core
