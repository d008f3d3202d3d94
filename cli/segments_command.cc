// `aisle segments` and `aisle segments export ID`: the learned user
// segments of the serving model (ListSegments), and one segment's user ids
// for a campaign (ExportSegment, streamed).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/rpc.h"
#include "cli/text.h"

namespace aisle::cli {
namespace {

constexpr int kItemsShown = 5;

int List(RecommenderClient& rpc, bool json) {
  v1::ListSegmentsResponse response;
  if (auto exit = rpc.CallOrExit(&RecommenderClient::Stub::ListSegments,
                                 v1::ListSegmentsRequest(), &response)) {
    return *exit;
  }
  if (json) return PrintJson(response);
  std::cout << "model " << response.model_version() << ": "
            << response.segments_size() << " segments\n";
  Table table({"id", "label", "members", "at training", "top categories",
               "price band", "top items"});
  for (const v1::Segment& s : response.segments()) {
    std::vector<std::string> categories;
    for (const v1::CategoryWeight& c : s.top_categories()) {
      categories.push_back(
          absl::StrFormat("%s %.0f%%", c.category(), 100 * c.share()));
    }
    std::vector<std::string> items;
    for (int i = 0; i < s.top_item_ids_size() && i < kItemsShown; ++i) {
      items.push_back(s.top_item_ids(i));
    }
    table.AddRow({absl::StrCat(s.id()), s.label(), FormatCount(s.members()),
                  FormatCount(s.trained_members()),
                  absl::StrJoin(categories, ", "),
                  s.price_band().empty() ? "-" : s.price_band(),
                  absl::StrJoin(items, " ")});
  }
  std::cout << table.Render()
            << "a segment's user ids: aisle segments export ID\n";
  return kExitOk;
}

// Prints one id a line on stdout; the count goes to stderr so that the
// output can be piped into a campaign tool as it is.
int Export(RecommenderClient& rpc, int32_t segment_id, int page_size) {
  if (!rpc.channel_status().ok()) {
    PrintError(rpc.channel_status().message());
    return kExitFailure;
  }
  v1::ExportSegmentRequest request;
  request.set_segment_id(segment_id);
  request.set_page_size(page_size);
  grpc::ClientContext context;
  SetDeadline(&context, rpc.flags().timeout);
  auto reader = rpc.stub().ExportSegment(&context, request);
  v1::ExportSegmentResponse page;
  int64_t users = 0;
  std::string version;
  while (reader->Read(&page)) {
    version = page.model_version();
    for (const std::string& id : page.user_ids()) {
      std::fputs(id.c_str(), stdout);
      std::fputc('\n', stdout);
    }
    users += page.user_ids_size();
  }
  if (grpc::Status status = reader->Finish(); !status.ok()) {
    return ReportRpcError(status, rpc.flags().target);
  }
  std::cerr << "segment " << segment_id << ": " << FormatCount(users)
            << " users" << (version.empty() ? "" : " (model " + version + ")")
            << "\n";
  return kExitOk;
}

}  // namespace

int RunSegments(const Args& args) {
  ClientFlags client;
  bool json = false;
  int page_size = 1000;
  FlagParser parser(
      "aisle segments [export SEGMENT_ID] [flags]",
      "Without arguments: prints the serving model's learned user segments "
      "(k-means on the user vectors, trained with the model: aisle train "
      "--segments K) with their size, top categories, price band and top "
      "items.\nexport SEGMENT_ID: prints the segment's user ids, one a "
      "line (for a campaign); the count goes to stderr.");
  client.Register(parser);
  parser.Bool("json", &json, "print the raw response as JSON (list)");
  parser.Int("page-size", &page_size, "ids per streamed message (export)");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  RecommenderClient rpc(client);
  if (positional.empty()) return List(rpc, json);
  int32_t segment_id = 0;
  if (positional.size() != 2 || positional[0] != "export" ||
      !absl::SimpleAtoi(positional[1], &segment_id)) {
    return UsageError(parser, "expected 'segments' or 'segments export ID'");
  }
  return Export(rpc, segment_id, page_size);
}

}  // namespace aisle::cli
