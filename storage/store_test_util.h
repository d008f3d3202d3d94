// Helpers shared by the storage tests: a fixture with a fresh data dir,
// event and model builders, directory snapshots, and a forked child
// process for crash tests.
#ifndef AISLE_STORAGE_STORE_TEST_UTIL_H_
#define AISLE_STORAGE_STORE_TEST_UTIL_H_

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/store.h"
#include "tests/status_matchers.h"

namespace aisle::storage {

inline core::Event MakeEvent(std::string event_id, std::string user_id,
                             int64_t ts,
                             core::EventType type = core::EventType::kView,
                             std::string item = "i1") {
  core::Event e;
  e.event_id = std::move(event_id);
  e.user_id = std::move(user_id);
  e.item_id = std::move(item);
  e.type = type;
  e.value = 1;
  e.timestamp_ms = ts;
  return e;
}

inline std::vector<core::Event> ScanAll(const Store& store) {
  std::vector<core::Event> out;
  EXPECT_OK(store.ScanEvents([&](std::span<const core::Event> batch) {
    out.insert(out.end(), batch.begin(), batch.end());
    return absl::OkStatus();
  }));
  return out;
}

// Every file's bytes, except RocksDB's own info logs, which a failed open
// may rotate.
inline std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const std::filesystem::directory_entry& e :
       std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("LOG")) continue;
    std::ifstream in(e.path(), std::ios::binary);
    files[name] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

inline core::ModelMetadata Meta(std::string version, int64_t trained_at) {
  core::ModelMetadata m;
  m.version = std::move(version);
  m.trained_at_ms = trained_at;
  m.factors = 8;
  m.metrics["ndcg@10"] = 0.4;
  return m;
}

// `size` events of `user`, batch number `b`: ids "<user><b>-<i>".
inline std::vector<core::Event> NumberedBatch(const std::string& user, int b,
                                              int size) {
  std::vector<core::Event> batch;
  for (int i = 0; i < size; ++i) {
    batch.push_back(
        MakeEvent(absl::StrCat(user, b, "-", i), user, int64_t{b} * size + i));
  }
  return batch;
}

// A fresh data dir path (not created) under a temporary root per test.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "aisle_store_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    options_.data_dir = root_ + "/data";
    options_.block_cache_bytes = 8 << 20;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<Store> OpenOrDie(const StoreOptions& options) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    EXPECT_OK(store);
    return store.ok() ? *std::move(store) : nullptr;
  }
  std::unique_ptr<Store> OpenOrDie() { return OpenOrDie(options_); }

  std::string root_;
  StoreOptions options_;
};

// Opens the closed store in `data_dir` with RocksDB directly (every column
// family, default options) and calls fn(names, handles, db): for states
// the Store API cannot produce (records of older formats, newer schema
// markers, missing column families).
inline void WithRawDb(
    const std::string& data_dir,
    const std::function<void(const std::vector<std::string>&,
                             const std::vector<rocksdb::ColumnFamilyHandle*>&,
                             rocksdb::DB*)>& fn) {
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data_dir, &names)
          .ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& n : names) {
    cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  }
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(
      rocksdb::DB::Open(rocksdb::DBOptions(), data_dir, cfs, &handles, &raw)
          .ok());
  fn(names, handles, raw);
  for (auto* h : handles) EXPECT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  delete raw;
}

// Drops column family `family` of the closed store in `data_dir`, as in a
// store written before that family existed (WithRawDb).
inline void DropRawColumnFamily(const std::string& data_dir,
                                const std::string& family) {
  WithRawDb(data_dir,
            [&](const std::vector<std::string>& names,
                const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                rocksdb::DB* raw) {
              for (size_t i = 0; i < names.size(); ++i) {
                if (names[i] == family) {
                  EXPECT_TRUE(raw->DropColumnFamily(handles[i]).ok());
                }
              }
            });
}

// Writes key -> value into column family `family` of the closed store in
// `data_dir` (WithRawDb).
inline void PutRaw(const std::string& data_dir, const std::string& family,
                   const std::string& key, const std::string& value) {
  WithRawDb(
      data_dir, [&](const std::vector<std::string>& names,
                    const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                    rocksdb::DB* raw) {
        bool found = false;
        for (size_t i = 0; i < names.size(); ++i) {
          if (names[i] != family) continue;
          found = true;
          EXPECT_TRUE(
              raw->Put(rocksdb::WriteOptions(), handles[i], key, value).ok());
        }
        EXPECT_TRUE(found) << "no column family " << family;
      });
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

inline void Report(int fd, int v) {
  if (write(fd, &v, sizeof v) != sizeof v) _exit(4);
}

}  // namespace aisle::storage

#endif  // AISLE_STORAGE_STORE_TEST_UTIL_H_
