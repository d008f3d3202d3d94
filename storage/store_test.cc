#include "storage/store.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "tests/status_matchers.h"

namespace aisle::storage {
namespace {

namespace fs = std::filesystem;
using ::aisle::core::Event;
using ::aisle::core::EventType;
using ::aisle::core::Item;

Event MakeEvent(std::string event_id, std::string user_id, int64_t ts,
                EventType type = EventType::kView, std::string item = "i1") {
  Event e;
  e.event_id = std::move(event_id);
  e.user_id = std::move(user_id);
  e.item_id = std::move(item);
  e.type = type;
  e.value = 1;
  e.timestamp_ms = ts;
  return e;
}

std::vector<Event> ScanAll(const Store& store) {
  std::vector<Event> out;
  absl::Status s = store.ScanEvents([&](std::span<const Event> batch) {
    out.insert(out.end(), batch.begin(), batch.end());
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

// Every file's bytes, except RocksDB's own info logs, which a failed open
// may rotate.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("LOG")) continue;
    std::ifstream in(e.path(), std::ios::binary);
    files[name] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "aisle_store_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    options_.data_dir = root_ + "/data";
    options_.block_cache_bytes = 8 << 20;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<Store> OpenOrDie(const StoreOptions& options) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  std::unique_ptr<Store> OpenOrDie() { return OpenOrDie(options_); }

  std::string root_;
  StoreOptions options_;
};

TEST_F(StoreTest, AppendAndScanRoundTrip) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events = {
      MakeEvent("e1", "bob", 300, EventType::kPurchase, "mug"),
      MakeEvent("e2", "alice", 200),
      MakeEvent("e3", "alice", 100, EventType::kRating, "pan"),
      MakeEvent("e4", "alice", -50),
      MakeEvent("e5", "al", 999),
  };
  events[2].value = 4.5;
  events[2].recommendation_id = "rec-1";
  absl::StatusOr<AppendResult> r = store->AppendEvents(events);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 5);
  EXPECT_EQ(r->duplicates, 0);
  EXPECT_EQ(r->stored, std::vector<bool>(5, true));

  int calls = 0;
  std::vector<std::string> order;
  ASSERT_OK(store->ScanEvents(
      [&](std::span<const Event> batch) {
        ++calls;
        EXPECT_LE(batch.size(), 2u);
        for (const Event& e : batch) order.push_back(e.event_id);
        return absl::OkStatus();
      },
      /*batch_size=*/2));
  EXPECT_EQ(calls, 3);
  // (user, time) order: "al" < "alice" < "bob".
  EXPECT_EQ(order, (std::vector<std::string>{"e5", "e4", "e3", "e2", "e1"}));

  std::vector<Event> all = ScanAll(*store);
  ASSERT_EQ(all.size(), 5u);
  const Event& rating = all[2];
  EXPECT_EQ(rating.user_id, "alice");
  EXPECT_EQ(rating.item_id, "pan");
  EXPECT_EQ(rating.type, EventType::kRating);
  EXPECT_EQ(rating.value, 4.5);
  EXPECT_EQ(rating.timestamp_ms, 100);
  EXPECT_EQ(rating.recommendation_id, "rec-1");
}

TEST_F(StoreTest, ScanStopsAtCallbackError) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back(MakeEvent(absl::StrCat("e", i), "u", i));
  }
  ASSERT_TRUE(store->AppendEvents(events).ok());
  int calls = 0;
  absl::Status s = store->ScanEvents(
      [&](std::span<const Event>) {
        ++calls;
        return absl::CancelledError("enough");
      },
      3);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST_F(StoreTest, DedupWithinBatchAcrossCallsAndAcrossReopen) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    std::vector<Event> batch = {MakeEvent("a", "u1", 1),
                                MakeEvent("b", "u1", 2),
                                MakeEvent("a", "u2", 3)};
    absl::StatusOr<AppendResult> r = store->AppendEvents(batch);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stored, (std::vector<bool>{true, true, false}));
    EXPECT_EQ(r->accepted, 2);
    EXPECT_EQ(r->duplicates, 1);

    std::vector<Event> again = {MakeEvent("b", "u1", 2),
                                MakeEvent("c", "u1", 4)};
    r = store->AppendEvents(again);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stored, (std::vector<bool>{false, true}));
  }
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> after_restart = {MakeEvent("a", "u1", 1),
                                      MakeEvent("c", "u1", 4),
                                      MakeEvent("d", "u1", 4)};
  absl::StatusOr<AppendResult> r = store->AppendEvents(after_restart);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stored, (std::vector<bool>{false, false, true}));
  std::vector<Event> all = ScanAll(*store);
  std::vector<std::string> ids;
  for (const Event& e : all) ids.push_back(e.event_id);
  // Equal timestamps keep arrival order, also across a restart.
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(StoreTest, ConcurrentOverlappingAppendsStoreEachIdOnce) {
  options_.durability = Durability::kMachine;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kIds = 2000;
  constexpr int kThreads = 8;
  std::atomic<int> accepted{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread sends every id, in its own order and batching, so
      // each id is raced by all eight threads.
      std::vector<int> ids(kIds);
      for (int i = 0; i < kIds; ++i) ids[i] = i;
      std::shuffle(ids.begin(), ids.end(), std::mt19937(t));
      const size_t batch_size = 1 + t * 7;
      for (size_t start = 0; start < ids.size(); start += batch_size) {
        std::vector<Event> batch;
        for (size_t k = start; k < std::min(ids.size(), start + batch_size);
             ++k) {
          const int id = ids[k];
          batch.push_back(MakeEvent(absl::StrCat("id", id),
                                    absl::StrCat("user", id % 13), id));
        }
        absl::StatusOr<AppendResult> r = store->AppendEvents(batch);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        accepted += r->accepted;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(accepted.load(), kIds);
  std::vector<Event> all = ScanAll(*store);
  std::set<std::string> distinct;
  for (const Event& e : all) distinct.insert(e.event_id);
  EXPECT_EQ(all.size(), static_cast<size_t>(kIds));
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kIds));
  int64_t counted = 0;
  for (int u = 0; u < 13; ++u) {
    absl::StatusOr<UserRecord> rec = store->GetUser(absl::StrCat("user", u));
    ASSERT_TRUE(rec.ok()) << rec.status();
    counted += rec->counts[static_cast<size_t>(EventType::kView)];
  }
  EXPECT_EQ(counted, kIds);
}

TEST_F(StoreTest, InvalidEventRejectsTheWholeBatch) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  const std::vector<std::vector<Event>> bad_batches = {
      {MakeEvent("ok1", "u", 1), MakeEvent("", "u", 2)},
      {MakeEvent("ok2", "u", 1), MakeEvent("x", "", 2)},
      {MakeEvent("ok3", "u", 1), MakeEvent("y", std::string("a\0b", 3), 2)},
      {MakeEvent("ok4", "u", 1),
       MakeEvent("z", "u", 2, static_cast<EventType>(core::kNumEventTypes))},
  };
  for (const std::vector<Event>& batch : bad_batches) {
    absl::StatusOr<AppendResult> r = store->AppendEvents(batch);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(ScanAll(*store).empty());
  absl::StatusOr<int64_t> records = store->CountUserRecords("u");
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(*records, 0);
}

TEST_F(StoreTest, ReadersSeeWholeBatchesOnly) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kBatch = 50;
  constexpr int kBatches = 200;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      absl::StatusOr<std::vector<Event>> events = store->UserEvents("a");
      if (!events.ok() || events->size() % kBatch != 0) ++torn;
      absl::StatusOr<UserRecord> rec = store->GetUser("a");
      if (rec.ok() &&
          rec->counts[static_cast<size_t>(EventType::kClick)] % kBatch != 0) {
        ++torn;
      }
      ++reads;
    }
  });
  int next = 0;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < kBatch; ++i, ++next) {
      batch.push_back(
          MakeEvent(absl::StrCat("e", next), "a", next, EventType::kClick));
    }
    ASSERT_TRUE(store->AppendEvents(batch).ok());
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  absl::StatusOr<std::vector<Event>> events = store->UserEvents("a");
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), static_cast<size_t>(kBatch * kBatches));
}

TEST_F(StoreTest, UserEventsLimitKeepsNewestInOrder) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back(MakeEvent(absl::StrCat("e", i), "u", 100 - i * 10));
  }
  events.push_back(MakeEvent("other", "u2", 1000));
  ASSERT_TRUE(store->AppendEvents(events).ok());
  absl::StatusOr<std::vector<Event>> last3 = store->UserEvents("u", 3);
  ASSERT_TRUE(last3.ok()) << last3.status();
  ASSERT_EQ(last3->size(), 3u);
  EXPECT_EQ((*last3)[0].timestamp_ms, 80);
  EXPECT_EQ((*last3)[1].timestamp_ms, 90);
  EXPECT_EQ((*last3)[2].timestamp_ms, 100);
  absl::StatusOr<std::vector<Event>> all = store->UserEvents("u");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 10u);
  absl::StatusOr<std::vector<Event>> none = store->UserEvents("nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(StoreTest, UserRecordTracksFirstLastAndCounts) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->AppendEvents(std::vector<Event>{
                      MakeEvent("1", "u", 500, EventType::kView),
                      MakeEvent("2", "u", 100, EventType::kPurchase)})
                  .ok());
  ASSERT_TRUE(store
                  ->AppendEvents(std::vector<Event>{
                      MakeEvent("3", "u", 900, EventType::kView),
                      MakeEvent("1", "u", 50, EventType::kView)})  // dup
                  .ok());
  absl::StatusOr<UserRecord> rec = store->GetUser("u");
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->first_seen_ms, 100);
  EXPECT_EQ(rec->last_seen_ms, 900);
  EXPECT_EQ(rec->counts[static_cast<size_t>(EventType::kView)], 2);
  EXPECT_EQ(rec->counts[static_cast<size_t>(EventType::kPurchase)], 1);
  EXPECT_EQ(store->GetUser("nobody").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, ItemsCrud) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  Item mug;
  mug.item_id = "mug";
  mug.title = "Mug";
  mug.categories = {"kitchen/mugs"};
  mug.price = 9.5;
  mug.attributes = {{"color", "red"}};
  Item pan = mug;
  pan.item_id = "pan";
  pan.title = "Pan";
  ASSERT_OK(store->PutItems(std::vector<Item>{mug, pan}));

  absl::StatusOr<Item> got = store->GetItem("mug");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->title, "Mug");
  EXPECT_EQ(got->attributes.at("color"), "red");

  mug.title = "Big mug";
  ASSERT_OK(store->PutItems(std::vector<Item>{mug}));
  EXPECT_EQ(store->GetItem("mug")->title, "Big mug");

  std::vector<std::string> scanned;
  ASSERT_OK(store->ScanItems([&](std::span<const Item> batch) {
    for (const Item& i : batch) scanned.push_back(i.item_id);
    return absl::OkStatus();
  }));
  EXPECT_EQ(scanned, (std::vector<std::string>{"mug", "pan"}));

  absl::StatusOr<int> deleted =
      store->DeleteItems(std::vector<std::string>{"mug", "missing"});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(store->GetItem("mug").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->GetItem("pan").ok());
  EXPECT_EQ(store->PutItems(std::vector<Item>{Item{}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, EraseUserRemovesEveryRecordAndKeepsOthers) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events = {
      MakeEvent("a1", "alice", 1), MakeEvent("a2", "alice", 2),
      MakeEvent("a3", "alice", 3), MakeEvent("b1", "bob", 1),
      MakeEvent("b2", "bob", 2),   MakeEvent("x1", "alicex", 1)};
  ASSERT_TRUE(store->AppendEvents(events).ok());
  // Part of the data in SSTs, part in the memtable.
  ASSERT_OK(store->Flush());
  ASSERT_TRUE(
      store->AppendEvents(std::vector<Event>{MakeEvent("a4", "alice", 4)})
          .ok());

  // 4 events + 4 idempotency keys + 1 user record.
  EXPECT_EQ(*store->CountUserRecords("alice"), 9);
  EXPECT_EQ(*store->CountUserRecords("bob"), 5);

  absl::StatusOr<EraseResult> erased = store->EraseUser("alice");
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->events_deleted, 4);
  EXPECT_EQ(erased->idempotency_keys_deleted, 4);
  EXPECT_TRUE(erased->profile_deleted);

  EXPECT_EQ(*store->CountUserRecords("alice"), 0);
  EXPECT_EQ(*store->CountUserRecords("bob"), 5);
  EXPECT_EQ(*store->CountUserRecords("alicex"), 3);
  EXPECT_EQ(store->UserEvents("bob")->size(), 2u);
  EXPECT_EQ(store->GetUser("alice").status().code(),
            absl::StatusCode::kNotFound);

  // Erasure survives a restart, and the erased ids are free again.
  store.reset();
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->CountUserRecords("alice"), 0);
  absl::StatusOr<AppendResult> again =
      store->AppendEvents(std::vector<Event>{MakeEvent("a1", "alice", 1)});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->accepted, 1);

  absl::StatusOr<EraseResult> nobody = store->EraseUser("nobody");
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ(nobody->events_deleted, 0);
  EXPECT_FALSE(nobody->profile_deleted);
}

TEST_F(StoreTest, EraseUserWhileTheUserIsStillWriting) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kBatch = 5;
  std::atomic<int> acked{-1};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int b = 0; !stop.load(); ++b) {
      std::vector<Event> batch;
      for (int i = 0; i < kBatch; ++i) {
        batch.push_back(MakeEvent(absl::StrCat("z", b, "-", i), "zed", b));
      }
      if (store->AppendEvents(batch).ok()) acked = b;
    }
  });
  while (acked.load() < 50) std::this_thread::yield();
  const int acked_before_erase = acked.load();
  absl::StatusOr<EraseResult> erased = store->EraseUser("zed");
  stop = true;
  writer.join();
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_GE(erased->events_deleted, (acked_before_erase + 1) * kBatch);
  EXPECT_EQ(erased->events_deleted % kBatch, 0);
  EXPECT_EQ(erased->idempotency_keys_deleted, erased->events_deleted);
  absl::StatusOr<std::vector<Event>> left = store->UserEvents("zed");
  ASSERT_TRUE(left.ok());
  for (const Event& e : *left) {
    EXPECT_GT(e.timestamp_ms, acked_before_erase) << e.event_id;
  }
  // What survived was written after the erase, whole batches with their
  // idempotency keys and a fresh user record.
  EXPECT_EQ(*store->CountUserRecords("zed"),
            static_cast<int64_t>(2 * left->size() + (left->empty() ? 0 : 1)));
}

TEST_F(StoreTest, PruneIdempotencyKeysForgetsOldIds) {
  options_.idempotency_retention_ms = 1000;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->AppendEvents(std::vector<Event>{
                      MakeEvent("old", "u", 0), MakeEvent("mid", "u", 500),
                      MakeEvent("new", "u", 2000)})
                  .ok());
  absl::StatusOr<int64_t> pruned = store->PruneIdempotencyKeys(2500);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 2);
  absl::StatusOr<AppendResult> r = store->AppendEvents(std::vector<Event>{
      MakeEvent("old", "u", 0), MakeEvent("new", "u", 2000)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stored, (std::vector<bool>{true, false}));
  EXPECT_EQ(*store->PruneIdempotencyKeys(2500), 1);  // "old" again
}

core::ModelMetadata Meta(std::string version, int64_t trained_at) {
  core::ModelMetadata m;
  m.version = std::move(version);
  m.trained_at_ms = trained_at;
  m.factors = 8;
  m.metrics["ndcg@10"] = 0.4;
  return m;
}

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
  ASSERT_TRUE(models.ok()) << models.status();
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

  EXPECT_EQ(store->SetActiveModel("v0").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetModelBlob("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->PutModel(Meta("meta:x", 1), "b").code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_OK(store->SetActiveModel("v4"));
  store.reset();
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->GetActiveModel(), "v4");
  EXPECT_EQ(*store->GetPreviousActiveModel(), "v2");
  // v1, v3 and v5 are no longer protected: the next put prunes them.
  ASSERT_OK(store->PutModel(Meta("v6", 400), "blob6"));
  models = store->ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
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
  EXPECT_EQ(store->GetModelBlob("late").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetModelBlob("new1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ListModels()->size(), 2u);
}

TEST_F(StoreTest, NoActiveModelIsEmpty) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->GetActiveModel(), "");
  EXPECT_EQ(*store->GetPreviousActiveModel(), "");
  EXPECT_TRUE(store->ListModels()->empty());
}

TEST_F(StoreTest, SecondOpenIsRefusedAsInUse) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(options_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos)
      << second.status();
}

TEST_F(StoreTest, ReadOnlyOpenNextToWriterSeesFlushedData) {
  auto writer = OpenOrDie();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer
                  ->AppendEvents(std::vector<Event>{MakeEvent("e1", "u", 1),
                                                    MakeEvent("e2", "u", 2)})
                  .ok());
  ASSERT_OK(writer->PutModel(Meta("v1", 1), "blob"));
  ASSERT_OK(writer->Flush());

  StoreOptions ro = options_;
  ro.read_only = true;
  auto reader = OpenOrDie(ro);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(ScanAll(*reader).size(), 2u);
  EXPECT_EQ(*reader->GetModelBlob("v1"), "blob");
  EXPECT_EQ(reader->AppendEvents(std::vector<Event>{MakeEvent("e3", "u", 3)})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(reader->PutItems(std::vector<Item>{}).code(),
            absl::StatusCode::kFailedPrecondition);
  // The writer is unaffected.
  EXPECT_TRUE(
      writer->AppendEvents(std::vector<Event>{MakeEvent("e3", "u", 3)}).ok());
}

TEST_F(StoreTest, ReadOnlyOpenOfMissingDirIsNotFound) {
  StoreOptions ro = options_;
  ro.read_only = true;
  EXPECT_EQ(Store::Open(ro).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(options_.data_dir));
}

TEST_F(StoreTest, CheckpointWhileWritingRestoresConsistentState) {
  options_.durability = Durability::kMachine;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->PutModel(Meta("v1", 1), "model-bytes"));
  ASSERT_OK(store->SetActiveModel("v1"));
  constexpr int kBatch = 10;
  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    int next = 0;
    while (!stop.load()) {
      std::vector<Event> batch;
      for (int i = 0; i < kBatch; ++i, ++next) {
        batch.push_back(MakeEvent(absl::StrCat("w", next), "w", next));
      }
      if (store->AppendEvents(batch).ok()) ++batches;
    }
  });
  // Let some batches land before the checkpoint, and more while it runs.
  while (batches.load() < 20) std::this_thread::yield();
  const std::string checkpoint = root_ + "/checkpoint";
  absl::Status cp = store->Checkpoint(checkpoint);
  const int batches_after_checkpoint = batches.load();
  while (batches.load() < batches_after_checkpoint + 20) {
    std::this_thread::yield();
  }
  stop = true;
  writer.join();
  ASSERT_OK(cp);
  EXPECT_EQ(store->Checkpoint(checkpoint).code(),
            absl::StatusCode::kAlreadyExists);
  store.reset();

  // Not into a non-empty directory.
  EXPECT_EQ(RestoreCheckpoint(checkpoint, options_.data_dir).code(),
            absl::StatusCode::kFailedPrecondition);

  // Into an existing empty directory.
  const std::string restored = root_ + "/restored";
  fs::create_directories(restored);
  ASSERT_OK(RestoreCheckpoint(checkpoint, restored));
  StoreOptions options = options_;
  options.data_dir = restored;
  auto copy = OpenOrDie(options);
  ASSERT_NE(copy, nullptr);
  std::vector<Event> events = ScanAll(*copy);
  EXPECT_GE(events.size(), 20u * kBatch);
  EXPECT_LT(events.size(), static_cast<size_t>(batches.load()) * kBatch);
  EXPECT_EQ(events.size() % kBatch, 0u);
  // Each batch came whole: its events, their ids and the user record.
  EXPECT_EQ(*copy->CountUserRecords("w"),
            static_cast<int64_t>(2 * events.size() + 1));
  EXPECT_EQ(copy->GetUser("w")->counts[static_cast<size_t>(EventType::kView)],
            static_cast<int64_t>(events.size()));
  // Re-sending what the checkpoint holds stores nothing.
  absl::StatusOr<AppendResult> resend = copy->AppendEvents(events);
  ASSERT_TRUE(resend.ok());
  EXPECT_EQ(resend->accepted, 0);
  EXPECT_EQ(*copy->GetActiveModel(), "v1");
  EXPECT_EQ(*copy->GetModelBlob("v1"), "model-bytes");
  // The checkpoint itself is still intact.
  EXPECT_TRUE(fs::exists(fs::path(checkpoint) / "CURRENT"));
}

TEST_F(StoreTest, RestoreRejectsSomethingThatIsNotACheckpoint) {
  fs::create_directories(root_ + "/junk");
  std::ofstream(root_ + "/junk/CURRENT") << "MANIFEST-000099\n";
  const absl::Status s = RestoreCheckpoint(root_ + "/junk", options_.data_dir);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(options_.data_dir));
  EXPECT_FALSE(fs::exists(options_.data_dir + ".restoring"));
  EXPECT_EQ(RestoreCheckpoint(root_ + "/absent", options_.data_dir).code(),
            absl::StatusCode::kNotFound);
}

enum class Damage {
  kGarbageCurrent,
  kMissingCurrent,
  kGarbageManifest,
  kTruncatedManifest,
  kGarbageSst
};

class DamagedStoreTest : public StoreTest,
                         public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedStoreTest, OpenFailsAndLeavesFilesAlone) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    std::vector<Event> events;
    for (int i = 0; i < 100; ++i) {
      events.push_back(MakeEvent(absl::StrCat("e", i), "u", i));
    }
    ASSERT_TRUE(store->AppendEvents(events).ok());
    ASSERT_OK(store->Flush());
  }
  std::string manifest, sst;
  for (const fs::directory_entry& e :
       fs::directory_iterator(options_.data_dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("MANIFEST-")) manifest = e.path();
    if (name.ends_with(".sst") && fs::file_size(e.path()) > 1000) {
      sst = e.path();
    }
  }
  ASSERT_FALSE(manifest.empty());
  ASSERT_FALSE(sst.empty());
  auto garble = [](const std::string& path) {
    const auto size = fs::file_size(path);
    std::mt19937 rng(7);
    std::string junk(size, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << junk;
  };
  const std::string current = options_.data_dir + "/CURRENT";
  switch (GetParam()) {
    case Damage::kGarbageCurrent:
      std::ofstream(current, std::ios::trunc) << "not a manifest name\n";
      break;
    case Damage::kMissingCurrent:
      fs::remove(current);
      break;
    case Damage::kGarbageManifest:
      garble(manifest);
      break;
    case Damage::kTruncatedManifest:
      fs::resize_file(manifest, 10);
      break;
    case Damage::kGarbageSst:
      garble(sst);
      break;
  }
  const std::map<std::string, std::string> before = Snapshot(options_.data_dir);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
  EXPECT_FALSE(store.ok());
  EXPECT_EQ(Snapshot(options_.data_dir), before);
  if (!store.ok()) {
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss)
        << store.status();
  }
}

INSTANTIATE_TEST_SUITE_P(Damages, DamagedStoreTest,
                         ::testing::Values(Damage::kGarbageCurrent,
                                           Damage::kMissingCurrent,
                                           Damage::kGarbageManifest,
                                           Damage::kTruncatedManifest,
                                           Damage::kGarbageSst),
                         [](const ::testing::TestParamInfo<Damage>& info) {
                           switch (info.param) {
                             case Damage::kGarbageCurrent:
                               return "GarbageCurrent";
                             case Damage::kMissingCurrent:
                               return "MissingCurrent";
                             case Damage::kGarbageManifest:
                               return "GarbageManifest";
                             case Damage::kTruncatedManifest:
                               return "TruncatedManifest";
                             case Damage::kGarbageSst:
                               return "GarbageSst";
                           }
                           return "Unknown";
                         });

TEST_F(StoreTest, RefusesForeignNonEmptyDirectory) {
  fs::create_directories(options_.data_dir);
  std::ofstream(options_.data_dir + "/notes.txt") << "mine";
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Snapshot(options_.data_dir).size(), 1u);
}

TEST_F(StoreTest, RefusesNewerSchemaVersion) {
  OpenOrDie().reset();
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(),
                                                options_.data_dir, &names)
                    .ok());
    for (const std::string& n : names)
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), options_.data_dir, cfs,
                                  &handles, &raw)
                    .ok());
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "meta") {
        ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[i],
                             "schema_version", "99")
                        .ok());
      }
    }
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 99"),
            absl::string_view::npos)
      << store.status();
}

// Runs `child` in a forked process that reports progress as ints on a
// pipe. The child only writes to the WAL (no background work is needed), so
// the RocksDB threads the parent may have started do not matter to it.
class ChildProcess {
 public:
  explicit ChildProcess(const std::function<void(int report_fd)>& child) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[0]);
      child(fds[1]);
      _exit(0);
    }
    close(fds[1]);
    read_fd_ = fds[0];
  }
  ~ChildProcess() {
    if (read_fd_ >= 0) close(read_fd_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0 && read_fd_ >= 0; }
  // Next reported int, or nullopt at end of stream.
  std::optional<int> Next() {
    int v = 0;
    size_t got = 0;
    while (got < sizeof v) {
      const ssize_t n =
          read(read_fd_, reinterpret_cast<char*>(&v) + got, sizeof v - got);
      if (n <= 0) return std::nullopt;
      got += static_cast<size_t>(n);
    }
    return v;
  }
  void Kill() { kill(pid_, SIGKILL); }
  // The wait status.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  bool reaped_ = false;
};

void Report(int fd, int v) {
  if (write(fd, &v, sizeof v) != sizeof v) _exit(4);
}

std::vector<Event> NumberedBatch(const std::string& user, int b, int size) {
  std::vector<Event> batch;
  for (int i = 0; i < size; ++i) {
    batch.push_back(
        MakeEvent(absl::StrCat(user, b, "-", i), user, int64_t{b} * size + i));
  }
  return batch;
}

TEST_F(StoreTest, KillNineLosesNoAcknowledgedEventEvenWithTornWalTail) {
  constexpr int kBatch = 10;
  ChildProcess child([&](int fd) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
    if (!store.ok()) _exit(2);
    for (int b = 0;; ++b) {
      if (!(*store)->AppendEvents(NumberedBatch("k", b, kBatch)).ok()) {
        _exit(3);
      }
      Report(fd, b);
    }
  });
  ASSERT_TRUE(child.started());
  int acked = -1;
  while (acked < 200) {
    std::optional<int> b = child.Next();
    ASSERT_TRUE(b.has_value()) << "child stopped early";
    acked = *b;
  }
  child.Kill();
  while (std::optional<int> b = child.Next()) acked = *b;
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status));

  // A torn write at the end of the WAL, as after a power cut mid-append.
  std::string wal;
  for (const fs::directory_entry& e :
       fs::directory_iterator(options_.data_dir)) {
    if (e.path().extension() == ".log") wal = std::max(wal, e.path().string());
  }
  ASSERT_FALSE(wal.empty());
  {
    std::ofstream out(wal, std::ios::binary | std::ios::app);
    std::mt19937 rng(3);
    for (int i = 0; i < 100; ++i) out.put(static_cast<char>(rng()));
  }

  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Event>> events = store->UserEvents("k");
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_GE(events->size(), static_cast<size_t>(acked + 1) * kBatch);
  EXPECT_EQ(events->size() % kBatch, 0u);
  std::set<std::string> ids;
  for (const Event& e : *events) ids.insert(e.event_id);
  for (int b = 0; b <= acked; ++b) {
    for (const Event& e : NumberedBatch("k", b, kBatch)) {
      EXPECT_TRUE(ids.contains(e.event_id)) << e.event_id;
    }
  }
}

TEST_F(StoreTest, OpenHeldByAnotherProcessIsRefusedWithoutTouchingFiles) {
  ChildProcess holder([&](int fd) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
    Report(fd, store.ok() ? 1 : 0);
    pause();  // until killed
  });
  ASSERT_TRUE(holder.started());
  ASSERT_EQ(holder.Next(), 1);
  const std::map<std::string, std::string> before = Snapshot(options_.data_dir);
  const std::set<std::string> names_before = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(options_.data_dir)) {
      names.insert(e.path().filename().string());
    }
    return names;
  }();

  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(options_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another aisle process"),
            absl::string_view::npos)
      << second.status();
  // Not even the holder's info LOG was rotated.
  std::set<std::string> names_after;
  for (const auto& e : fs::directory_iterator(options_.data_dir)) {
    names_after.insert(e.path().filename().string());
  }
  EXPECT_EQ(names_after, names_before);
  EXPECT_EQ(Snapshot(options_.data_dir), before);

  StoreOptions ro = options_;
  ro.read_only = true;
  EXPECT_TRUE(Store::Open(ro).ok());
  holder.Kill();
  holder.Wait();
  EXPECT_TRUE(Store::Open(options_).ok());
}

TEST_F(StoreTest, WritesFailCleanlyWhenFilesCannotGrow) {
  constexpr int kBatch = 100;
  // The child cannot grow any file past 256 KiB (as on a full disk): its
  // appends must start failing with a status, keep failing, and not crash.
  ChildProcess child([&](int fd) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options_);
    if (!store.ok()) _exit(2);
    signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{256 << 10, 256 << 10};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(5);
    int b = 0;
    for (;; ++b) {
      absl::StatusOr<AppendResult> r =
          (*store)->AppendEvents(NumberedBatch("f", b, kBatch));
      if (!r.ok()) {
        Report(fd, -static_cast<int>(r.status().code()));
        break;
      }
      Report(fd, b);
      if (b > 100000) _exit(6);  // the limit never hit
    }
    for (int retry = 0; retry < 3; ++retry) {
      absl::StatusOr<AppendResult> r =
          (*store)->AppendEvents(NumberedBatch("f", b + 1 + retry, kBatch));
      Report(fd, r.ok() ? 1 : -static_cast<int>(r.status().code()));
    }
    _exit(0);  // skip the destructor's flush, which would fail too
  });
  ASSERT_TRUE(child.started());
  int acked = -1;
  std::vector<int> failures;
  while (std::optional<int> v = child.Next()) {
    if (*v >= 0 && failures.empty()) {
      acked = *v;
    } else {
      failures.push_back(*v);
    }
  }
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << "child crashed, status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(failures.size(), 4u);
  for (int f : failures) {
    const auto code = static_cast<absl::StatusCode>(-f);
    EXPECT_TRUE(code == absl::StatusCode::kUnavailable ||
                code == absl::StatusCode::kResourceExhausted)
        << "status code " << -f;
  }
  EXPECT_GT(acked, 0);

  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Event>> events = store->UserEvents("f");
  ASSERT_TRUE(events.ok()) << events.status();
  std::set<std::string> ids;
  for (const Event& e : *events) ids.insert(e.event_id);
  for (int b = 0; b <= acked; ++b) {
    for (const Event& e : NumberedBatch("f", b, kBatch)) {
      ASSERT_TRUE(ids.contains(e.event_id)) << e.event_id;
    }
  }
  EXPECT_EQ(events->size() % kBatch, 0u);
}

TEST_F(StoreTest, StatsReflectContents) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 1000; ++i) {
    events.push_back(
        MakeEvent(absl::StrCat("e", i), absl::StrCat("u", i % 10), i));
  }
  ASSERT_TRUE(store->AppendEvents(events).ok());
  StoreStats before_flush = store->Stats();
  EXPECT_GT(before_flush.memtable_bytes, 0);
  ASSERT_OK(store->Flush());
  StoreStats stats = store->Stats();
  EXPECT_GT(stats.events, 500);
  EXPECT_GT(stats.live_data_bytes, 0);
  EXPECT_GE(stats.users, 1);
}

}  // namespace
}  // namespace aisle::storage
