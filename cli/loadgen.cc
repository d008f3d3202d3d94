// `aisle loadgen`: the flags, the mix and the requests both modes share,
// and the choice of mode (closed loop in loadgen_closed_loop.cc, open loop
// in loadgen_open_loop.cc).
#include "cli/loadgen.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/ghz_options.h"
#include "cli/ghz_run.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/string_view.h"

namespace aisle::cli {

absl::StatusOr<std::vector<MixEntry>> ParseMix(std::string_view text) {
  std::vector<MixEntry> mix;
  double total = 0;
  for (absl::string_view part :
       absl::StrSplit(core::ToAbsl(text), ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    std::optional<LoadOp> op;
    if (kv.first == "recommend") op = LoadOp::kRecommend;
    if (kv.first == "similar") op = LoadOp::kSimilar;
    if (kv.first == "feedback") op = LoadOp::kFeedback;
    if (kv.first == "get_item") op = LoadOp::kGetItem;
    if (kv.first == "get_user") op = LoadOp::kGetUser;
    if (!op.has_value()) {
      return absl::InvalidArgumentError(
          Cat("--mix: unknown operation '", kv.first,
              "' (recommend, similar, feedback, get_item, get_user)"));
    }
    double weight = 0;
    if (!absl::SimpleAtod(kv.second, &weight) || !std::isfinite(weight) ||
        weight < 0) {
      return absl::InvalidArgumentError(
          Cat("--mix: weight of ", kv.first, " must be a number >= 0"));
    }
    if (weight > 0) mix.push_back({*op, weight});
    total += weight;
  }
  if (mix.empty() || total <= 0) {
    return absl::InvalidArgumentError(
        "--mix: give at least one operation with a positive weight, e.g. "
        "recommend=0.8,feedback=0.2");
  }
  for (MixEntry& e : mix) e.weight /= total;
  return mix;
}

std::string_view LoadOpName(LoadOp op) {
  switch (op) {
    case LoadOp::kRecommend:
      return "recommend";
    case LoadOp::kSimilar:
      return "similar";
    case LoadOp::kFeedback:
      return "feedback";
    case LoadOp::kGetItem:
      return "get_item";
    case LoadOp::kGetUser:
      return "get_user";
  }
  return "unknown";
}

double Percentile(std::vector<uint32_t>* sorted_or_not, double q) {
  std::vector<uint32_t>& v = *sorted_or_not;
  if (v.empty()) return 0;
  const size_t index = std::min(
      v.size() - 1,
      static_cast<size_t>(std::floor(q * static_cast<double>(v.size()))));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(index),
                   v.end());
  return v[index];
}

std::string MixText(const std::vector<MixEntry>& mix) {
  std::string text;
  for (const MixEntry& e : mix) {
    absl::StrAppend(&text, text.empty() ? "" : ",",
                    core::ToAbsl(LoadOpName(e.op)), "=",
                    absl::StrFormat("%.3g", e.weight));
  }
  return text;
}

LoadOp PickOp(const std::vector<MixEntry>& mix, double roll) {
  for (const MixEntry& e : mix) {
    if (roll < e.weight) return e.op;
    roll -= e.weight;
  }
  return mix.back().op;  // rounding: the weights sum to 1 only nearly
}

std::string RandomUser(const LoadgenConfig& config, std::mt19937_64& rng) {
  return Cat("u", std::uniform_int_distribution<int>(0, config.users - 1)(rng));
}

std::string RandomItem(const LoadgenConfig& config, std::mt19937_64& rng) {
  return Cat("i", std::uniform_int_distribution<int>(0, config.items - 1)(rng));
}

v1::RecommendRequest MakeRecommendRequest(const LoadgenConfig& config,
                                          LoadOp op, std::mt19937_64& rng) {
  v1::RecommendRequest request;
  if (op == LoadOp::kSimilar) {
    request.add_context_item_ids(RandomItem(config, rng));
    request.set_scenario(v1::SIMILAR_ITEMS);
  } else {
    request.set_user_id(RandomUser(config, rng));
    request.set_scenario(v1::FOR_YOU);
  }
  request.set_count(config.count);
  return request;
}

v1::FeedbackRequest MakeFeedbackRequest(const LoadgenConfig& config,
                                        std::string event_id,
                                        std::mt19937_64& rng) {
  v1::FeedbackRequest request;
  v1::Event* event = request.add_events();
  event->set_event_id(std::move(event_id));
  event->set_user_id(RandomUser(config, rng));
  event->set_item_id(RandomItem(config, rng));
  const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
  event->set_type(roll < 70   ? v1::VIEW
                  : roll < 90 ? v1::CLICK
                  : roll < 95 ? v1::ADD_TO_CART
                              : v1::PURCHASE);
  return request;
}

void RegisterLoadgenFlags(FlagParser& parser, LoadgenConfig* config,
                          std::string* mix_text,
                          std::chrono::milliseconds* deadline) {
  config->client.Register(parser);
  parser.Duration("deadline", deadline,
                  "deadline of each call; overrides --timeout (0 = use "
                  "--timeout). An OK answer within it is 'in time'");
  parser.Int("concurrency", &config->concurrency,
             "closed loop: worker threads, each with one request in flight");
  parser.Double("rps", &config->rps,
                "closed loop: target requests per second the workers keep "
                "to (they slip behind when all are busy); 0 = as fast as "
                "the workers go");
  parser.Double("rate", &config->rate,
                "open loop: calls per second started on a fixed schedule "
                "whatever the answers (async, one thread); 0 = closed loop");
  parser.Int("max-in-flight", &config->max_in_flight,
             "open loop: outstanding calls at most; a call due while the "
             "bound is reached, or that the client reaches more than "
             "--timeout behind schedule, is counted as 'not sent'");
  parser.Duration("duration", &config->duration, "how long to run");
  parser.Int("requests", &config->requests,
             "stop after this many requests; 0 = no limit");
  parser.String("mix", mix_text,
                "operation weights: recommend (FOR_YOU), similar "
                "(SIMILAR_ITEMS), feedback (one event, unique id), get_item, "
                "get_user");
  parser.Int("users", &config->users,
             "user ids drawn uniformly from u0..u<N-1> (the demo data's ids)");
  parser.Int("items", &config->items,
             "item ids drawn uniformly from i0..i<N-1>");
  parser.Int("count", &config->count, "items per Recommend");
  parser.Int("seed", &config->seed,
             "random seed for ids and the mix; in ghz mode, for the data "
             "template's random functions (default: a new one every run, "
             "as ghz)");
  parser.String("json", &config->json_path,
                "also write the summary and the per-second rows to this "
                "file as JSON (for scripts)");
}

absl::Status FinishLoadgenConfig(const std::string& mix_text,
                                 std::chrono::milliseconds deadline,
                                 LoadgenConfig* config) {
  absl::StatusOr<std::vector<MixEntry>> mix = ParseMix(mix_text);
  if (!mix.ok()) return mix.status();
  config->mix = *std::move(mix);
  if (deadline.count() < 0) {
    return absl::InvalidArgumentError("--deadline: must be >= 0");
  }
  if (deadline.count() > 0) config->client.timeout = deadline;
  if (config->client.timeout.count() <= 0) {
    return absl::InvalidArgumentError("--timeout: must be > 0");
  }
  if (config->concurrency < 1 || config->concurrency > 1024) {
    return absl::InvalidArgumentError("--concurrency: must be 1..1024");
  }
  if (config->rps < 0) return absl::InvalidArgumentError("--rps: must be >= 0");
  if (config->rate < 0 || config->rate > 1e6) {
    return absl::InvalidArgumentError("--rate: must be 0..1000000");
  }
  if (config->rate > 0 && config->rps > 0) {
    return absl::InvalidArgumentError(
        "--rps (closed loop) and --rate (open loop) exclude each other");
  }
  if (config->max_in_flight < 1 || config->max_in_flight > 1000000) {
    return absl::InvalidArgumentError("--max-in-flight: must be 1..1000000");
  }
  if (config->duration.count() <= 0) {
    return absl::InvalidArgumentError("--duration: must be > 0");
  }
  if (config->requests < 0) {
    return absl::InvalidArgumentError("--requests: must be >= 0");
  }
  if (config->users < 1 || config->items < 1) {
    return absl::InvalidArgumentError("--users and --items: must be >= 1");
  }
  return absl::OkStatus();
}

namespace {

// `aisle loadgen --call ...`: ghz's options resolved, then the async run.
int RunGhzMode(FlagParser& parser, const GhzFlags& ghz,
               const LoadgenConfig& config,
               std::vector<std::string> positional) {
  if (absl::Status s = ApplyGhzConfig(parser, ghz, &positional); !s.ok()) {
    return UsageError(parser, s.message());
  }
  if (ghz.call.empty()) {
    return UsageError(parser,
                      "ghz mode needs --call (or \"call\" in --config)");
  }
  absl::StatusOr<GhzSettings> settings = ResolveGhzSettings(
      parser, ghz, config.client, config.concurrency, config.rps,
      config.duration, config.requests, config.seed, positional);
  if (!settings.ok()) return UsageError(parser, settings.status().message());
  absl::StatusOr<GhzMethod> method = ResolveGhzMethod(settings->call);
  if (!method.ok()) return UsageError(parser, method.status().message());
  absl::StatusOr<std::vector<CallTemplate>> data =
      ParseGhzData(settings->data, *method);
  if (!data.ok()) return UsageError(parser, data.status().message());
  return RunGhz(*settings, *method, *data);
}

}  // namespace

int RunLoadgen(const Args& args) {
  LoadgenConfig config;
  config.client.timeout = std::chrono::seconds(1);
  std::string mix_text = "recommend=0.8,feedback=0.2";
  std::chrono::milliseconds deadline{0};
  FlagParser parser(
      "aisle loadgen [--target HOST:PORT] [flags]",
      "Sends a mix of requests to one server and reports throughput and "
      "latency percentiles every second and at the end. Stops after "
      "--duration or --requests, whichever comes first. It only ever talks "
      "to --target. Closed loop by default (--concurrency workers, each "
      "waiting for its answer); with --rate, open loop: calls start on a "
      "fixed schedule whatever the answers, as a spike of independent users "
      "would send them, and the report counts, per second of the schedule, "
      "the calls offered, sent, answered OK within --deadline, and each "
      "status code.");
  RegisterLoadgenFlags(parser, &config, &mix_text, &deadline);
  GhzFlags ghz;
  RegisterGhzFlags(parser, &ghz);
  parser.AddNotes(
      "ghz mode (--call): ghz's options, defaults (-c 50, -n 200, -t 20s, "
      "TLS unless --insecure) and reports (-O summary|json|pretty|csv), "
      "the async API, any unary method of the aisle API or the health "
      "check; the host is the positional argument:\n"
      "  aisle loadgen --insecure --call aisle.v1.Recommender.Recommend \\\n"
      "      -d '{\"user_id\":\"u{{randomInt 0 100000}}\",\"count\":10}' \\\n"
      "      -c 50 -z 10s -O json localhost:50051\n"
      "  aisle loadgen --config deploy/loadtest/health.json\n"
      "\n");
  parser.AddNotes(
      "Example (open loop, 2000 calls/s with 100ms deadlines, JSON report):\n"
      "  aisle loadgen --rate 2000 --deadline 100ms --duration 10s \\\n"
      "      --mix recommend=1 --json /tmp/load.json\n"
      "\n"
      "Equivalent ghz command (ghz reads the API through server "
      "reflection):\n"
      "  ghz --insecure --call aisle.v1.Recommender/Recommend \\\n"
      "      -d '{\"user_id\":\"u{{randomInt 0 5000}}\",\"count\":10}' \\\n"
      "      --concurrency 8 --duration 30s localhost:50051\n"
      "  ghz --insecure --call aisle.v1.Recommender/Feedback \\\n"
      "      -d '{\"events\":[{\"event_id\":\"{{newUUID}}\",\"user_id\":"
      "\"u{{randomInt 0 5000}}\",\"item_id\":\"i{{randomInt 0 20000}}\","
      "\"type\":\"VIEW\"}]}' \\\n"
      "      --rps 1000 --duration 30s localhost:50051\n"
      "\n"
      "Feedback requests store real events; aim loadgen at a test server.");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!ghz.call.empty() || !ghz.config.empty()) {
    return RunGhzMode(parser, ghz, config, positional);
  }
  for (const char* flag :
       {"data", "data-file", "connections", "insecure", "format", "output"}) {
    if (parser.IsSet(flag)) {
      return UsageError(parser, Cat("--", flag,
                                    " belongs to ghz mode: add "
                                    "--call METHOD"));
    }
  }
  if (!positional.empty()) {
    return UsageError(parser,
                      Cat("unexpected argument '", positional[0],
                          "' (a host is taken in ghz mode, with --call)"));
  }
  if (absl::Status s = FinishLoadgenConfig(mix_text, deadline, &config);
      !s.ok()) {
    return UsageError(parser, s.message());
  }
  // The TLS files are read here once, so that a wrong path is reported
  // before any worker starts (the loops then open their channels).
  if (absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
          MakeClientChannel(config.client);
      !channel.ok()) {
    return UsageError(parser, channel.status().message());
  }
  return config.rate > 0 ? RunOpenLoop(config) : RunClosedLoop(config);
}
}  // namespace aisle::cli
