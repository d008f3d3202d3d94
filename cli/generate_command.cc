// `aisle generate`: a synthetic store (core::GenerateDemoData) written into
// a data directory or streamed into a running server, through the same
// ImportSink as `aisle import`.
#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/import_sink.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/clock.h"
#include "core/demo_data.h"

namespace aisle::cli {
namespace {

// Writes `rows` in batches of `batch` with a progress line labelled
// `label`; stops at the first failed write.
template <typename Row>
absl::Status WriteInBatches(
    std::string label, const std::vector<Row>& rows, int batch,
    const std::function<absl::Status(std::span<const Row>)>& write) {
  absl::Status status;
  ProgressLine progress(std::move(label), static_cast<int64_t>(rows.size()));
  for (size_t i = 0; status.ok() && i < rows.size(); i += batch) {
    const size_t n = std::min<size_t>(batch, rows.size() - i);
    status = write({rows.data() + i, n});
    progress.Update(static_cast<int64_t>(i + n), static_cast<int64_t>(i + n));
  }
  progress.Finish();
  return status;
}

}  // namespace

int RunGenerate(const Args& args) {
  SinkFlags sink_flags;
  core::DemoOptions demo;
  int64_t seed = static_cast<int64_t>(demo.seed);
  FlagParser parser(
      "aisle generate (--data-dir DIR | --target HOST:PORT) [flags]",
      "Generates a synthetic store (the one `aisle serve --demo` loads, at any "
      "size) and writes it into a data directory (the server must not be "
      "running on it) or streams it into a running server. The output "
      "depends only on the flags: the same flags give the same items, users "
      "and events (event ids e0, e1, ...), so re-running the command stores "
      "nothing twice. For demos, load tests and scale measurements.");
  sink_flags.Register(parser);
  parser.Int("items", &demo.items, "catalog items (ids i0..i<N-1>)");
  parser.Int("users", &demo.users,
             "users (ids u0..u<N-1>); activity is log-normal, so some "
             "users get no events");
  parser.Int("events", &demo.events,
             "events (impressions, views, clicks, carts, purchases, "
             "ratings, dislikes)");
  parser.Int("days", &demo.days, "period the events span, ending 2026-11-01");
  parser.Int("seed", &seed, "random seed");
  parser.AddNotes(
      "Then train a model on it: aisle train --data-dir DIR\n"
      "\n"
      "Example (a store for a recovery test: 100k items, ~1M users):\n"
      "  aisle generate --data-dir /tmp/big --items 100000 --users 1000000 "
      "--events 10000000");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  if (auto error = sink_flags.Check()) return UsageError(parser, *error);
  if (demo.items < 1 || demo.items > 50'000'000) {
    return UsageError(parser, "--items: must be 1..50000000");
  }
  if (demo.users < 1 || demo.users > 50'000'000) {
    return UsageError(parser, "--users: must be 1..50000000");
  }
  if (demo.events < 1 || demo.events > 500'000'000) {
    return UsageError(parser, "--events: must be 1..500000000");
  }
  if (demo.days < 1 || demo.days > 3650) {
    return UsageError(parser, "--days: must be 1..3650");
  }
  demo.seed = static_cast<uint64_t>(seed);

  std::unique_ptr<ImportSink> sink = sink_flags.Open();
  if (sink == nullptr) return kExitFailure;
  const int batch = sink_flags.batch;

  const auto start = core::SteadyClock::now();
  std::cerr << "generating " << FormatCount(demo.items) << " items, "
            << FormatCount(demo.users) << " users, " << FormatCount(demo.events)
            << " events...\n";
  core::DemoData data = core::GenerateDemoData(demo);
  std::cerr << absl::StrFormat("generated in %.1fs; writing\n",
                               core::SecondsSince(start));
  const auto write_start = core::SteadyClock::now();
  absl::Status status = WriteInBatches<core::Item>(
      "items", data.items, batch, [&](std::span<const core::Item> items) {
        return sink->WriteItems(items);
      });
  if (status.ok()) {
    status = WriteInBatches<core::UserAttributes>(
        "users", data.users, batch,
        [&](std::span<const core::UserAttributes> users) {
          return sink->WriteUsers(users);
        });
  }
  if (status.ok()) {
    // Generated events come from no file: every line is 0.
    const std::vector<int64_t> no_lines(batch, 0);
    status = WriteInBatches<core::Event>(
        "events", data.events, batch, [&](std::span<const core::Event> events) {
          return sink->WriteEvents(events, {no_lines.data(), events.size()});
        });
  }
  absl::Status finish = sink->Finish();
  if (status.ok()) status = finish;
  if (!status.ok()) {
    PrintError(status.message(),
               "re-run the same command: what was stored counts as "
               "duplicates");
    return kExitFailure;
  }
  const double write_seconds = core::SecondsSince(write_start);
  std::cout << "items:  " << FormatCount(data.items.size()) << " upserted\n"
            << "users:  " << FormatCount(data.users.size())
            << " with attributes\n"
            << "events: " << FormatCount(sink->accepted) << " accepted, "
            << FormatCount(sink->duplicates) << " duplicates, "
            << FormatCount(sink->server_rejected) << " rejected\n"
            << absl::StrFormat(
                   "time:   %.2fs (writing %.2fs, %s events/s)\n",
                   core::SecondsSince(start), write_seconds,
                   FormatCount(static_cast<int64_t>(
                       data.events.size() / std::max(write_seconds, 1e-9))));
  if (sink->server_rejected > 0) {
    for (const std::string& e : sink->server_errors) {
      std::cerr << "  " << e << "\n";
    }
    return kExitFailure;
  }
  if (!sink_flags.data_dir.empty()) {
    std::cout << "next: aisle train --data-dir " << sink_flags.data_dir << "\n";
  }
  return kExitOk;
}

}  // namespace aisle::cli
