// cluster_check: the client of scripts/cluster_test.sh. Drives load into a
// set of Aisle nodes the way a client of a cluster should (each call to
// one node, failing over to the next on UNAVAILABLE and similar, retrying
// a write with the same event id until it is acknowledged), and checks
// afterwards that every node holds exactly what was acknowledged.
//
//   cluster_check load --nodes H:P,H:P --events N --users U --workers W
//                      --acked FILE
//     Sends N single-event Feedback calls (event ids "<run>-<n>", users
//     u0..uU-1, items i0..i199) from W threads, and one Recommend per 10
//     events, each to the nodes in turn. Appends "event_id user position"
//     to FILE for every acknowledged event (as it happens, so a script can
//     watch progress). Prints one JSON summary line: acknowledged events,
//     retries, Recommends that no node answered, events/s, Feedback
//     latency p50/p99 (ms, from first attempt to acknowledgement).
//     Exit 1 when an event could not be acknowledged within 60 s.
//   cluster_check verify --nodes H:P,... --acked FILE [--sample 20]
//     Waits (up to 120 s) until every node has applied the newest
//     acknowledged position, then checks on every node that each user's
//     view count equals its acknowledged events (each exactly once), and
//     that sampled users get the same Recommend answer from every node.
//     Prints a JSON summary; exit 1 on any difference.
//
// Bounded in count (N events) and time (every call has a deadline, every
// wait a bound). Talks only to the addresses given (loopback in tests).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

using Clock = std::chrono::steady_clock;
using aisle::v1::Recommender;

struct Flags {
  std::string mode;
  std::vector<std::string> nodes;
  int64_t events = 1000;
  int users = 100;
  int workers = 4;
  int sample = 20;
  std::string acked;
  std::string run = "run";
};

bool ParseFlags(int argc, char** argv, Flags* f) {
  if (argc < 2) return false;
  f->mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string name = argv[i], value = argv[i + 1];
    bool ok = true;
    if (name == "--nodes") {
      f->nodes = absl::StrSplit(value, ',', absl::SkipEmpty());
    } else if (name == "--events") {
      ok = absl::SimpleAtoi(value, &f->events) && f->events > 0;
    } else if (name == "--users") {
      ok = absl::SimpleAtoi(value, &f->users) && f->users > 0;
    } else if (name == "--workers") {
      ok = absl::SimpleAtoi(value, &f->workers) && f->workers > 0;
    } else if (name == "--sample") {
      ok = absl::SimpleAtoi(value, &f->sample) && f->sample > 0;
    } else if (name == "--acked") {
      f->acked = value;
    } else if (name == "--run") {
      f->run = value;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "cluster_check: bad flag %s %s\n", name.c_str(),
                   value.c_str());
      return false;
    }
  }
  return !f->nodes.empty() && !f->acked.empty() &&
         (f->mode == "load" || f->mode == "verify");
}

std::unique_ptr<grpc::ClientContext> Context(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(seconds));
  return ctx;
}

// Whether another node may succeed where this one failed.
bool TryElsewhere(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         s.error_code() == grpc::StatusCode::CANCELLED;
}

int Load(const Flags& f,
         const std::vector<std::unique_ptr<Recommender::Stub>>& stubs) {
  std::ofstream acked(f.acked, std::ios::app);
  std::mutex mu;  // guards acked, latencies
  std::vector<double> latencies_ms;
  std::atomic<int64_t> next{0}, retries{0}, unanswered{0}, failed{0};
  const auto start = Clock::now();
  // The longest time without any acknowledgement: how long writes stalled
  // during a fault.
  Clock::time_point last_ack = start;
  Clock::duration max_gap{};
  auto worker = [&](int w) {
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (w + 1);
    auto random = [&rng](uint64_t n) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      return rng % n;
    };
    size_t node = static_cast<size_t>(w);
    for (int64_t n = next++; n < f.events; n = next++) {
      aisle::v1::FeedbackRequest request;
      aisle::v1::Event* e = request.add_events();
      e->set_event_id(absl::StrCat(f.run, "-", n));
      e->set_user_id(absl::StrCat("u", random(f.users)));
      e->set_item_id(absl::StrCat("i", random(200)));
      e->set_type(aisle::v1::VIEW);
      const auto sent = Clock::now();
      bool done = false;
      size_t attempts = 0;
      while (!done && Clock::now() - sent < std::chrono::seconds(60)) {
        aisle::v1::FeedbackResponse response;
        grpc::Status s = stubs[node % stubs.size()]->Feedback(
            Context(10).get(), request, &response);
        if (s.ok()) {
          const double ms =
              std::chrono::duration<double, std::milli>(Clock::now() - sent)
                  .count();
          std::lock_guard<std::mutex> lock(mu);
          latencies_ms.push_back(ms);
          const auto now = Clock::now();
          max_gap = std::max(max_gap, now - last_ack);
          last_ack = now;
          acked << e->event_id() << ' ' << e->user_id() << ' '
                << response.log_position() << '\n';
          acked.flush();
          done = true;
          break;
        }
        ++retries;
        ++node;  // fail over to the next node
        // Every node tried once: back off a little (a NATS leader election
        // takes seconds; spinning would only load the machine).
        if (!TryElsewhere(s) || ++attempts % stubs.size() == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
      if (!done) ++failed;
      if (n % 10 == 0) {
        // A read during the faults: answered if any node answers.
        aisle::v1::RecommendRequest rec;
        rec.set_user_id(e->user_id());
        bool answered = false;
        for (size_t k = 0; k < stubs.size() && !answered; ++k) {
          aisle::v1::RecommendResponse out;
          answered = stubs[(node + k) % stubs.size()]
                         ->Recommend(Context(2).get(), rec, &out)
                         .ok();
        }
        if (!answered) ++unanswered;
      }
      ++node;  // spread the load over the nodes
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < f.workers; ++w) threads.emplace_back(worker, w);
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto quantile = [&](double q) {
    if (latencies_ms.empty()) return 0.0;
    return latencies_ms[static_cast<size_t>(q * (latencies_ms.size() - 1))];
  };
  std::printf(
      "{\"acked\": %zu, \"failed\": %lld, \"retries\": %lld, "
      "\"unanswered_recommends\": %lld, \"seconds\": %.2f, "
      "\"events_per_s\": %.0f, \"feedback_p50_ms\": %.3f, "
      "\"feedback_p99_ms\": %.3f, \"longest_write_stall_ms\": %.0f}\n",
      latencies_ms.size(), static_cast<long long>(failed.load()),
      static_cast<long long>(retries.load()),
      static_cast<long long>(unanswered.load()), seconds,
      latencies_ms.size() / seconds, quantile(0.5), quantile(0.99),
      std::chrono::duration<double, std::milli>(max_gap).count());
  return failed.load() == 0 && unanswered.load() == 0 ? 0 : 1;
}

int64_t Views(Recommender::Stub& stub, const std::string& user) {
  aisle::v1::GetUserRequest request;
  request.set_user_id(user);
  aisle::v1::UserProfile profile;
  if (!stub.GetUser(Context(5).get(), request, &profile).ok()) return -1;
  for (const aisle::v1::EventCount& c : profile.event_counts()) {
    if (c.type() == aisle::v1::VIEW) return c.count();
  }
  return 0;
}

int Verify(const Flags& f,
           const std::vector<std::unique_ptr<Recommender::Stub>>& stubs) {
  std::ifstream in(f.acked);
  std::map<std::string, int64_t> expected;  // user -> acknowledged events
  std::map<std::string, int> seen_ids;
  uint64_t newest = 0;
  std::string id, user;
  uint64_t position = 0;
  int64_t acked = 0;
  while (in >> id >> user >> position) {
    ++acked;
    ++expected[user];
    ++seen_ids[id];
    newest = std::max(newest, position);
  }
  int problems = 0;
  for (const auto& [event_id, times] : seen_ids) {
    if (times != 1) {
      std::fprintf(stderr, "event %s acknowledged %d times\n", event_id.c_str(),
                   times);
      ++problems;
    }
  }
  // Every node applies up to the newest acknowledged position.
  for (size_t n = 0; n < stubs.size(); ++n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    bool current = false;
    while (!current && absl::Now() < deadline) {
      aisle::v1::RecommendRequest rec;
      rec.set_user_id("u0");
      rec.set_min_log_position(newest);
      aisle::v1::RecommendResponse out;
      current =
          stubs[n]->Recommend(Context(5).get(), rec, &out).ok() && !out.stale();
    }
    if (!current) {
      std::fprintf(stderr, "node %s did not reach position %llu\n",
                   f.nodes[n].c_str(), static_cast<unsigned long long>(newest));
      ++problems;
    }
  }
  int64_t checked = 0;
  for (const auto& [u, count] : expected) {
    for (size_t n = 0; n < stubs.size(); ++n) {
      const int64_t views = Views(*stubs[n], u);
      ++checked;
      if (views != count) {
        std::fprintf(stderr, "node %s user %s: %lld views, %lld acknowledged\n",
                     f.nodes[n].c_str(), u.c_str(),
                     static_cast<long long>(views),
                     static_cast<long long>(count));
        ++problems;
      }
    }
  }
  int sampled = 0;
  for (const auto& [u, count] : expected) {
    if (sampled++ >= f.sample) break;
    std::vector<std::string> answers;
    for (auto& stub : stubs) {
      aisle::v1::RecommendRequest rec;
      rec.set_user_id(u);
      rec.set_include_seen(true);
      aisle::v1::RecommendResponse out;
      grpc::Status s = stub->Recommend(Context(5).get(), rec, &out);
      std::vector<std::string> items;
      for (const auto& item : out.items()) items.push_back(item.item_id());
      answers.push_back(s.ok() ? absl::StrJoin(items, ",") : s.error_message());
    }
    for (size_t n = 1; n < answers.size(); ++n) {
      if (answers[n] != answers[0]) {
        std::fprintf(stderr, "user %s: node %s answers [%s], node %s [%s]\n",
                     u.c_str(), f.nodes[0].c_str(), answers[0].c_str(),
                     f.nodes[n].c_str(), answers[n].c_str());
        ++problems;
      }
    }
  }
  std::printf(
      "{\"acked\": %lld, \"users\": %zu, \"nodes\": %zu, "
      "\"user_checks\": %lld, \"recommend_compared\": %d, \"position\": %llu, "
      "\"problems\": %d}\n",
      static_cast<long long>(acked), expected.size(), stubs.size(),
      static_cast<long long>(checked), std::min<int>(f.sample, expected.size()),
      static_cast<unsigned long long>(newest), problems);
  return problems == 0 && acked > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::fprintf(
        stderr,
        "usage: cluster_check load|verify --nodes H:P,... --acked FILE "
        "[--events N --users U --workers W --run NAME --sample S]\n");
    return 2;
  }
  std::vector<std::unique_ptr<Recommender::Stub>> stubs;
  for (const std::string& node : flags.nodes) {
    stubs.push_back(Recommender::NewStub(
        grpc::CreateChannel(node, grpc::InsecureChannelCredentials())));
  }
  return flags.mode == "load" ? Load(flags, stubs) : Verify(flags, stubs);
}
