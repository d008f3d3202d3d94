// The `aisle` command-line tool, run as a child process: exit codes, what
// it prints, and what it leaves in the data directory.
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/session_ranker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/status_matchers.h"
#include "tests/test_util.h"

namespace aisle {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;
using testing::TempDir;

constexpr int kUsers = 20;
constexpr int kItems = 30;
constexpr int kEventsPerUser = 6;
constexpr int kGoodEvents = kUsers * kEventsPerUser;

RunResult Aisle(const std::vector<std::string>& args) {
  absl::StatusOr<RunResult> result = testing::RunAisle(args);
  EXPECT_OK(result);
  return result.ok() ? *result : RunResult{};
}

std::string Describe(const RunResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out,
                      "--- stderr\n", r.err);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Users fall in three taste groups; user u<k> interacts with 6 of the 10
// items i<10g>..i<10g+9> of group g = k % 3.
std::vector<std::string> GoodEventRows() {
  std::vector<std::string> rows;
  for (int u = 0; u < kUsers; ++u) {
    const int group = u % 3;
    for (int j = 0; j < kEventsPerUser; ++j) {
      const int item = group * 10 + (u + j) % 10;
      rows.push_back(absl::StrCat("u", u, "\ti", item, "\t",
                                  j % 2 == 0 ? "purchase" : "view", "\t1\t",
                                  1700000000 + u * 100 + j));
    }
  }
  return rows;
}

struct EventsFile {
  std::string path;
  // Line number -> what the report must say about it.
  std::map<int, std::string> bad_lines;
};

// Writes the good rows with bad rows mixed in at known lines.
EventsFile WriteEventsWithBadRows(const std::string& path) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"u1\ti1\tbuy\t1\t1700000000", "type: unknown event type 'buy'"},
      {"u1\ti1\tview\tabc\t1700000000", "value: 'abc' is not a number"},
      {"u1\ti1\trating\t11\t1700000000", "value: must be 0..10 for rating"},
      {"\ti1\tview\t1\t1700000000", "user_id: must be 1..256 bytes"},
      {"u1\ti1\tview\t1", "expected 5 fields like the header, got 4"},
  };
  EventsFile file;
  file.path = path;
  std::string text = "user_id\titem_id\ttype\tvalue\ttimestamp\n";
  int line = 1;
  size_t next_bad = 0;
  const std::vector<std::string> good = GoodEventRows();
  for (size_t i = 0; i < good.size(); ++i) {
    if (i % 20 == 7 && next_bad < bad.size()) {
      ++line;
      text += bad[next_bad].first + "\n";
      file.bad_lines[line] = bad[next_bad].second;
      ++next_bad;
    }
    ++line;
    text += good[i] + "\n";
  }
  WriteFile(path, text);
  return file;
}

std::string WriteGoodEvents(const std::string& path) {
  std::string text = "user_id\titem_id\ttype\tvalue\ttimestamp\n";
  for (const std::string& row : GoodEventRows()) text += row + "\n";
  WriteFile(path, text);
  return path;
}

// CSV with quoting: a comma inside a title, doubled quotes.
std::string WriteItemsCsv(const std::string& path) {
  std::string text = "item_id,title,categories,tags,price,available\n";
  text += "i0,\"Shoes, red\",fashion/shoes,red|sale,19.99,true\n";
  text += "i1,\"The \"\"Best\"\" Hat\",fashion/hats,,5,yes\n";
  for (int i = 2; i < kItems; ++i) {
    text +=
        absl::StrCat("i", i, ",Item ", i, ",group", i / 10, ",,", i, ",true\n");
  }
  WriteFile(path, text);
  return path;
}

int64_t CountStoredEvents(const std::string& data_dir) {
  storage::StoreOptions options;
  options.data_dir = data_dir;
  options.read_only = true;
  auto store = storage::Store::Open(options);
  EXPECT_OK(store);
  if (!store.ok()) return -1;
  int64_t n = 0;
  absl::Status s = (*store)->ScanEvents([&](auto batch) {
    n += static_cast<int64_t>(batch.size());
    return absl::OkStatus();
  });
  EXPECT_OK(s);
  return n;
}

// "model 20261125T101500Z-3f2a: ..." -> the version.
std::string TrainedVersion(const RunResult& r) {
  std::smatch m;
  if (std::regex_search(r.out, m, std::regex("model (\\S+): "))) return m[1];
  ADD_FAILURE() << "no model version in:\n" << Describe(r);
  return "";
}

class CliTest : public ::testing::Test {
 protected:
  std::string DataDir() const { return dir_.Sub("data"); }
  // Imports the good events and the items into DataDir().
  void ImportGood() {
    RunResult r = Aisle({"import", "--data-dir", DataDir(), "--events",
                         WriteGoodEvents(dir_.Sub("events.tsv")), "--items",
                         WriteItemsCsv(dir_.Sub("items.csv"))});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  std::string Train(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {
        "train", "--data-dir", DataDir(), "--factors", "8", "--iterations",
        "5",     "--reg",      "0.1",     "--alpha",   "5", "--threads",
        "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Aisle(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    return TrainedVersion(r);
  }
  TempDir dir_;
};

TEST_F(CliTest, VersionPrintsVersionAndDependencies) {
  RunResult r = Aisle({"version"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("aisle ", AISLE_VERSION)));
  EXPECT_THAT(r.out, HasSubstr("gRPC:"));
  EXPECT_THAT(r.out, HasSubstr("protobuf:"));
}

TEST_F(CliTest, ServeHelpListsOptionsWithDefaults) {
  RunResult r = Aisle({"serve", "--help"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  for (const char* text : {"--port", "50051", "--data-dir", "--durability",
                           "--metrics-port", "9464"}) {
    EXPECT_THAT(r.out + r.err, HasSubstr(text));
  }
}

TEST_F(CliTest, EveryCommandHasHelp) {
  for (const char* command :
       {"recommend", "feedback", "user", "item", "model", "import", "train",
        "eval", "models", "backup", "restore", "loadgen", "version"}) {
    RunResult r = Aisle({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command << "\n" << Describe(r);
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("Usage: aisle ", command)))
        << command;
  }
}

TEST_F(CliTest, UsageErrorsExitTwoWithAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "Usage: aisle COMMAND"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"recommend", "--user", "u1", "--bogus"}, "unknown flag --bogus"},
      {{"recommend", "--user", "u1", "--count", "many"},
       "--count: 'many' is not an integer"},
      {{"recommend", "--user", "u1", "--scenario", "nope"},
       "unknown scenario 'nope'"},
      {{"feedback", "--user", "u1", "--item", "i1"}, "--type is required"},
      {{"import", "--events", "x.tsv"},
       "exactly one of --data-dir and --target"},
      {{"import", "--data-dir"}, "flag --data-dir needs a value"},
      {{"train"}, "--data-dir is required"},
      {{"train", "--data-dir", "d", "--solver", "magic"}, "not cg or cholesky"},
      {{"eval", "--train", "a"}, "--train and --test are required"},
      {{"models", "list"}, "exactly one of --data-dir and --target"},
      {{"models", "--data-dir", "d", "explode"}, "expected list"},
      {{"loadgen", "--mix", "browse=1"}, "unknown operation 'browse'"},
      {{"user", "get"}, "expected 'get USER_ID'"},
  };
  for (const Case& c : cases) {
    RunResult r = Aisle(c.args);
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.message)) << Describe(r);
  }
}

TEST_F(CliTest, ImportReportsBadRowsByLineAndReimportIsAllDuplicates) {
  const EventsFile file = WriteEventsWithBadRows(dir_.Sub("events.tsv"));
  ASSERT_EQ(file.bad_lines.size(), 5u);
  const std::vector<std::string> args = {"import", "--data-dir", DataDir(),
                                         "--events", file.path};
  RunResult first = Aisle(args);
  // Bad rows make the command fail, but the good ones are imported.
  EXPECT_EQ(first.exit_code, 1) << Describe(first);
  EXPECT_THAT(first.out,
              HasSubstr(absl::StrCat("events: ", kGoodEvents + 5,
                                     " rows read, ", kGoodEvents,
                                     " accepted, 0 duplicates, 5 rejected")))
      << Describe(first);
  for (const auto& [line, message] : file.bad_lines) {
    EXPECT_THAT(first.err,
                HasSubstr(absl::StrCat("line ", line, ": ", message)))
        << Describe(first);
  }
  EXPECT_EQ(CountStoredEvents(DataDir()), kGoodEvents);

  RunResult again = Aisle(args);
  EXPECT_EQ(again.exit_code, 1) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr(absl::StrCat("0 accepted, ", kGoodEvents,
                                                " duplicates, 5 rejected")))
      << Describe(again);
  EXPECT_EQ(CountStoredEvents(DataDir()), kGoodEvents);
}

TEST_F(CliTest, ImportOfACleanFileSucceeds) {
  RunResult r = Aisle({"import", "--data-dir", DataDir(), "--events",
                       WriteGoodEvents(dir_.Sub("events.tsv")), "--items",
                       WriteItemsCsv(dir_.Sub("items.csv"))});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("items:  ", kItems, " rows read, ",
                                            kItems, " upserted, 0 rejected")));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(kGoodEvents, " accepted")));
}

// An interrupted import is resumed by running the same command again: the
// rows committed before the interruption come back as duplicates.
TEST_F(CliTest, ReRunningAnInterruptedImportResumesIt) {
  const std::vector<std::string> rows = GoodEventRows();
  std::string head = "user_id\titem_id\ttype\tvalue\ttimestamp\n";
  const size_t committed = rows.size() / 2;
  for (size_t i = 0; i < committed; ++i) head += rows[i] + "\n";
  // What an interrupted run left behind: the first batches only.
  WriteFile(dir_.Sub("head.tsv"), head);
  RunResult first = Aisle({"import", "--data-dir", DataDir(), "--events",
                           dir_.Sub("head.tsv"), "--batch", "7"});
  ASSERT_EQ(first.exit_code, 0) << Describe(first);

  RunResult resumed =
      Aisle({"import", "--data-dir", DataDir(), "--events",
             WriteGoodEvents(dir_.Sub("events.tsv")), "--batch", "7"});
  EXPECT_EQ(resumed.exit_code, 0) << Describe(resumed);
  EXPECT_THAT(resumed.out,
              HasSubstr(absl::StrCat(rows.size() - committed, " accepted, ",
                                     committed, " duplicates, 0 rejected")));
  EXPECT_EQ(CountStoredEvents(DataDir()), kGoodEvents);
}

TEST_F(CliTest, TrainStoresVersionsThatModelsCanSwitch) {
  ImportGood();
  const std::string v1 = Train({"--validate-fraction", "0.3"});
  ASSERT_FALSE(v1.empty());
  EXPECT_TRUE(std::regex_match(v1, std::regex("\\d{8}T\\d{6}Z-[0-9a-f]{4}")))
      << v1;
  RunResult list = Aisle({"models", "list", "--data-dir", DataDir()});
  EXPECT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_TRUE(std::regex_search(list.out, std::regex("\\*\\s+" + v1)))
      << Describe(list);
  EXPECT_THAT(list.out, HasSubstr("active: " + v1));

  const std::string v2 = Train({"--no-activate", "--seed", "7"});
  ASSERT_FALSE(v2.empty());
  ASSERT_NE(v1, v2);
  list = Aisle({"models", "list", "--data-dir", DataDir()});
  EXPECT_THAT(list.out, HasSubstr(v2));
  EXPECT_THAT(list.out, HasSubstr("active: " + v1));

  RunResult activate =
      Aisle({"models", "activate", v2, "--data-dir", DataDir()});
  EXPECT_EQ(activate.exit_code, 0) << Describe(activate);
  EXPECT_THAT(Aisle({"models", "list", "--data-dir", DataDir()}).out,
              HasSubstr("active: " + v2));
  RunResult rollback = Aisle({"models", "rollback", "--data-dir", DataDir()});
  EXPECT_EQ(rollback.exit_code, 0) << Describe(rollback);
  EXPECT_THAT(Aisle({"models", "list", "--data-dir", DataDir()}).out,
              HasSubstr("active: " + v1));

  RunResult missing =
      Aisle({"models", "activate", "no-such-version", "--data-dir", DataDir()});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
}

// `aisle train` fits the session ranker's weights and stores them with
// the version (FOR_YOU uses them); --session-ranker-fit-steps 0 does not.
TEST_F(CliTest, TrainStoresSessionRankerWeightsWithTheVersion) {
  ImportGood();
  const std::string fitted = Train();
  const std::string plain =
      Train({"--no-activate", "--session-ranker-fit-steps", "0"});
  ASSERT_FALSE(fitted.empty());
  ASSERT_FALSE(plain.empty());
  storage::StoreOptions options;
  options.data_dir = DataDir();
  options.read_only = true;
  auto store = storage::Store::Open(options);
  ASSERT_OK(store);
  auto models = (*store)->ListModels();
  ASSERT_OK(models);
  const std::string key(core::kSessionRankerWeightsParameter);
  int seen = 0;
  for (const storage::StoredModel& m : *models) {
    const auto& p = m.metadata.parameters;
    if (m.metadata.version == fitted) {
      ++seen;
      ASSERT_TRUE(p.contains(key)) << "no weights stored";
      EXPECT_OK(core::ParseSessionRankerWeights(p.at(key)));
    } else if (m.metadata.version == plain) {
      ++seen;
      EXPECT_FALSE(p.contains(key));
    }
  }
  EXPECT_EQ(seen, 2);
}

TEST_F(CliTest, TrainWithoutEventsSaysWhatToDo) {
  RunResult r = Aisle({"train", "--data-dir", dir_.Sub("absent")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("aisle import"));
}

TEST_F(CliTest, BackupAndRestoreRoundTrip) {
  ImportGood();
  const std::string backup = dir_.Sub("backup");
  RunResult b = Aisle({"backup", "--data-dir", DataDir(), "--to", backup});
  ASSERT_EQ(b.exit_code, 0) << Describe(b);
  const std::string restored = dir_.Sub("restored");
  RunResult r = Aisle({"restore", "--from", backup, "--data-dir", restored});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(CountStoredEvents(restored), kGoodEvents);
  // Never over a non-empty data dir.
  RunResult again =
      Aisle({"restore", "--from", backup, "--data-dir", restored});
  EXPECT_EQ(again.exit_code, 1) << Describe(again);
  EXPECT_THAT(again.err, HasSubstr("not empty"));
  // Nor into an existing backup path.
  EXPECT_EQ(
      Aisle({"backup", "--data-dir", DataDir(), "--to", backup}).exit_code, 1);
}

TEST_F(CliTest, DataCommandsNextToARunningServer) {
  ImportGood();
  Train();
  ASSERT_OK_AND_ASSIGN(testing::ServeProcess serve,
                       testing::SpawnServe(DataDir(), {}, dir_.path()));

  // An offline import cannot open the store; the message says what to do.
  const std::string events = WriteGoodEvents(dir_.Sub("more.tsv"));
  RunResult offline =
      Aisle({"import", "--data-dir", DataDir(), "--events", events});
  EXPECT_EQ(offline.exit_code, 1) << Describe(offline);
  EXPECT_THAT(offline.err, HasSubstr("stop the server"));
  EXPECT_THAT(offline.err, HasSubstr("--target"));

  // Streaming through the server: everything is already there.
  RunResult streamed =
      Aisle({"import", "--target", serve.address, "--events", events});
  EXPECT_EQ(streamed.exit_code, 0) << Describe(streamed);
  EXPECT_THAT(streamed.out, HasSubstr(absl::StrCat("0 accepted, ", kGoodEvents,
                                                   " duplicates")));

  // One new event through the CLI.
  RunResult fb =
      Aisle({"feedback", "--target", serve.address, "--user", "u0", "--item",
             "i9", "--type", "click", "--event-id", "cli-1"});
  EXPECT_EQ(fb.exit_code, 0) << Describe(fb);
  EXPECT_THAT(fb.out, HasSubstr("accepted"));

  // Read-only listing works beside the server.
  RunResult list = Aisle({"models", "list", "--data-dir", DataDir()});
  EXPECT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(list.out, HasSubstr("active: "));

  // Training beside the server drops the model into the inbox.
  RunResult train = Aisle({"train", "--data-dir", DataDir(), "--factors", "4",
                           "--iterations", "2", "--threads", "1"});
  EXPECT_EQ(train.exit_code, 0) << Describe(train);
  const std::string version = TrainedVersion(train);
  EXPECT_THAT(train.out, HasSubstr("model-inbox"));
  EXPECT_TRUE(
      fs::exists(fs::path(DataDir()) / "model-inbox" / (version + ".model")));

  // A backup taken beside the running server holds the new event.
  const std::string backup = dir_.Sub("hot-backup");
  RunResult b = Aisle({"backup", "--data-dir", DataDir(), "--to", backup});
  ASSERT_EQ(b.exit_code, 0) << Describe(b);
  ASSERT_OK(serve.process->Signal(SIGTERM));
  ASSERT_OK(serve.process->Wait(std::chrono::seconds(30)));
  const std::string restored = dir_.Sub("restored");
  ASSERT_EQ(
      Aisle({"restore", "--from", backup, "--data-dir", restored}).exit_code,
      0);
  EXPECT_EQ(CountStoredEvents(restored), kGoodEvents + 1);
}

// Item vectors trained elsewhere, in Spark's JSON output layout (a
// directory of part files beside _SUCCESS): one axis per taste group, so
// the imported model can only rank a user's own group first.
TEST_F(CliTest, ImportedFactorsServeAsAModelVersion) {
  ImportGood();
  const std::string spark = dir_.Sub("item-factors");
  fs::create_directories(spark);
  WriteFile(spark + "/_SUCCESS", "");
  std::string part;
  for (int i = 0; i < kItems; ++i) {
    const int group = i / 10;
    absl::StrAppend(&part, "{\"id\":\"i", i, "\",\"features\":[",
                    group == 0 ? 1 : 0.01, ",", group == 1 ? 1 : 0.01, ",",
                    group == 2 ? 1 : 0.01, "]}\n");
  }
  WriteFile(spark + "/part-00000.json", part);

  RunResult imported =
      Aisle({"models", "import", "--data-dir", DataDir(), "--item-factors",
             spark, "--alpha", "5", "--regularization", "0.1"});
  ASSERT_EQ(imported.exit_code, 0) << Describe(imported);
  const std::string version = TrainedVersion(imported);
  EXPECT_THAT(imported.out, HasSubstr("30 of 30 items have a vector"));
  EXPECT_THAT(imported.out, HasSubstr("stored and activated"));

  ASSERT_OK_AND_ASSIGN(testing::ServeProcess serve,
                       testing::SpawnServe(DataDir(), {}, dir_.path()));
  RunResult rec = Aisle(
      {"recommend", "--target", serve.address, "--user", "u0", "--count", "4"});
  ASSERT_EQ(rec.exit_code, 0) << Describe(rec);
  EXPECT_THAT(rec.out, HasSubstr("model: " + version));
  // u0 (group 0) saw i0..i5: the model puts i6..i9 first.
  for (int rank = 1; rank <= 4; ++rank) {
    EXPECT_TRUE(std::regex_search(
        rec.out, std::regex(absl::StrCat("\\n\\s+", rank, "\\s+i[6-9]\\s"))))
        << "rank " << rank << "\n"
        << Describe(rec);
  }
}

TEST_F(CliTest, ImportRefusesMalformedFactorsNamingTheLine) {
  ImportGood();
  const std::string file = dir_.Sub("factors.tsv");
  WriteFile(file, "# id\tvector\ni0\t0.1 0.2 0.3\ni1\t0.1,0.2\n");
  RunResult r = Aisle(
      {"models", "import", "--data-dir", DataDir(), "--item-factors", file});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(file + ":3: 2 values, but the first vector "
                                      "has 3"));
  WriteFile(file, "i0\t0.1 nan\n");
  r = Aisle(
      {"models", "import", "--data-dir", DataDir(), "--item-factors", file});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(":1: a value is not finite"));
  WriteFile(file, "i0\t1 2\ni0\t3 4\n");
  r = Aisle(
      {"models", "import", "--data-dir", DataDir(), "--item-factors", file});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("id \"i0\" appears twice"));
  // Nothing was stored by the refused imports.
  RunResult list = Aisle({"models", "list", "--data-dir", DataDir()});
  EXPECT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(list.out, HasSubstr("no stored models"));
}

TEST_F(CliTest, ClientCommandsAgainstARunningServer) {
  ImportGood();
  const std::string version = Train();
  ASSERT_OK_AND_ASSIGN(testing::ServeProcess serve,
                       testing::SpawnServe(DataDir(), {}, dir_.path()));
  const std::string target = serve.address;

  RunResult rec = Aisle({"recommend", "--target", target, "--user", "u0",
                         "--explain", "--count", "5"});
  ASSERT_EQ(rec.exit_code, 0) << Describe(rec);
  EXPECT_THAT(rec.out, HasSubstr("model: " + version));
  EXPECT_THAT(rec.out, HasSubstr("fallback: no"));
  EXPECT_TRUE(std::regex_search(
      rec.out,
      std::regex("rank\\s+item\\s+title\\s+score\\s+source\\s+reasons")))
      << Describe(rec);
  // u0 (group 0) saw i0..i5; the unseen items of its group are i6..i9.
  EXPECT_TRUE(std::regex_search(rec.out, std::regex("\\n\\s+1\\s+i[6-9]\\s")))
      << "the top item should be from u0's taste group\n"
      << Describe(rec);

  RunResult filtered = Aisle({"recommend", "--target", target, "--user", "u0",
                              "--category", "fashion", "--no-titles"});
  EXPECT_EQ(filtered.exit_code, 0) << Describe(filtered);
  EXPECT_THAT(filtered.out, Not(HasSubstr(" i5 ")));

  RunResult bad = Aisle(
      {"recommend", "--target", target, "--user", "u0", "--count", "501"});
  EXPECT_EQ(bad.exit_code, 1) << Describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("error: INVALID_ARGUMENT: count"));

  const std::vector<std::string> fb = {
      "feedback", "--target", target,     "--user",     "u0",    "--item",
      "i7",       "--type",   "purchase", "--event-id", "cli-e1"};
  RunResult first = Aisle(fb);
  EXPECT_EQ(first.exit_code, 0) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("accepted"));
  RunResult second = Aisle(fb);
  EXPECT_EQ(second.exit_code, 0) << Describe(second);
  EXPECT_THAT(second.out, HasSubstr("duplicate"));

  RunResult user = Aisle({"user", "get", "u0", "--target", target});
  EXPECT_EQ(user.exit_code, 0) << Describe(user);
  EXPECT_THAT(user.out,
              HasSubstr(absl::StrCat("events:         ", kEventsPerUser + 1)));

  // The CSV title with a comma made it through import, storage and RPC.
  RunResult item = Aisle({"item", "get", "i0", "--target", target});
  EXPECT_EQ(item.exit_code, 0) << Describe(item);
  EXPECT_THAT(item.out, HasSubstr("Shoes, red"));
  RunResult upsert =
      Aisle({"item", "upsert", "--target", target, "--id", "new1", "--title",
             "New", "--category", "a/b", "--price", "3"});
  EXPECT_EQ(upsert.exit_code, 0) << Describe(upsert);
  EXPECT_THAT(Aisle({"item", "get", "new1", "--target", target}).out,
              HasSubstr("a/b"));
  RunResult missing = Aisle({"item", "get", "nope", "--target", target});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("error: NOT_FOUND"));

  RunResult info = Aisle({"model", "info", "--target", target});
  EXPECT_EQ(info.exit_code, 0) << Describe(info);
  EXPECT_THAT(info.out, HasSubstr(version));

  RunResult list = Aisle({"models", "list", "--target", target});
  EXPECT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(list.out, HasSubstr("active: " + version));

  RunResult erase = Aisle({"user", "delete", "u1", "--target", target});
  EXPECT_EQ(erase.exit_code, 0) << Describe(erase);
  EXPECT_THAT(erase.out, HasSubstr(absl::StrCat(kEventsPerUser, " events")));

  RunResult load =
      Aisle({"loadgen", "--target", target, "--duration", "10s", "--requests",
             "300", "--concurrency", "2", "--users", "20", "--items", "30"});
  EXPECT_EQ(load.exit_code, 0) << Describe(load);
  EXPECT_THAT(load.out, HasSubstr("requests:  300 in"));
  EXPECT_THAT(load.out, HasSubstr("p99"));
}

TEST_F(CliTest, ClientCommandsExplainAnUnreachableServer) {
  RunResult r = Aisle({"recommend", "--target",
                       absl::StrCat("127.0.0.1:", testing::PickUnusedPort()),
                       "--user", "u1", "--timeout", "2s"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: UNAVAILABLE"));
  EXPECT_THAT(r.err, HasSubstr("hint: is `aisle serve` running"));
}

TEST_F(CliTest, EvalOnMovieLensPrintsMetricsTable) {
  const char* shared = std::getenv("AISLE_SHARED_DATA");
  const fs::path split =
      fs::path(shared != nullptr ? shared : "") / "ml-100k-split-by-user";
  if (shared == nullptr || !fs::exists(split / "train.tsv")) {
    GTEST_SKIP() << "AISLE_SHARED_DATA/ml-100k-split-by-user not found; set "
                    "AISLE_SHARED_DATA to the shared data directory";
  }
  RunResult r = Aisle({"eval", "--train", (split / "train.tsv").string(),
                       "--test", (split / "test.tsv").string(), "--model",
                       "popular,als", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex("model\\s+exploration\\s+P@10\\s+R@10\\s+nDCG@10\\s+F1@10"
                 "\\s+MAP\\s+coverage\\s+novelty\\s+ILD\\s+popularity")))
      << Describe(r);
  std::smatch popular;
  ASSERT_TRUE(std::regex_search(
      r.out, popular,
      std::regex("popular\\s+0\\.00\\s+([0-9.]+)\\s+([0-9.]+)\\s+([0-9.]+)")))
      << Describe(r);
  // The published most-popular figures on this split (data README):
  // P@10 0.2239, nDCG@10 0.2498.
  EXPECT_NEAR(std::stod(popular[1]), 0.2239, 0.002);
  EXPECT_NEAR(std::stod(popular[3]), 0.2498, 0.002);
  std::smatch als;
  ASSERT_TRUE(std::regex_search(
      r.out, als,
      std::regex("als\\s+0\\.00\\s+([0-9.]+)\\s+([0-9.]+)\\s+([0-9.]+)")))
      << Describe(r);
  // Well above the published SAR/BPR level (0.38-0.40).
  EXPECT_GT(std::stod(als[3]), 0.45) << Describe(r);
}

}  // namespace
}  // namespace aisle
