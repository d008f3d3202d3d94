// `aisle recommend`: one Recommend call printed as a ranked table, with
// item titles (one GetItem per listed item) and, with --explain, the
// reasons.
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/rpc.h"
#include "cli/text.h"
#include "core/types.h"
#include "server/convert.h"

namespace aisle::cli {
namespace {

using Stub = RecommenderClient::Stub;

std::string SourceLabel(int source) {
  return EnumLabel(v1::Source_Name(static_cast<v1::Source>(source)), "SOURCE_");
}

std::string ReasonLabel(const v1::Reason& reason) {
  if (!reason.detail().empty()) return reason.detail();
  std::string label =
      EnumLabel(v1::ReasonCode_Name(static_cast<v1::ReasonCode>(reason.code())),
                "REASON_");
  if (!reason.related_item_id().empty()) {
    absl::StrAppend(&label, " ", reason.related_item_id());
  }
  return label;
}
// Titles for the listed items, fetched with GetItem; "" where the call
// fails (deleted item, or the item was only seen in events).
using Items = google::protobuf::RepeatedPtrField<v1::RecommendedItem>;

std::vector<std::string> FetchTitles(RecommenderClient& rpc,
                                     const Items& items) {
  std::vector<std::string> titles;
  for (const v1::RecommendedItem& item : items) {
    v1::GetItemRequest request;
    request.set_item_id(item.item_id());
    v1::Item reply;
    titles.push_back(
        rpc.Call(&Stub::GetItem, request, &reply).ok() ? reply.title() : "");
  }
  return titles;
}
// The ranked table of `items`: rank, id, title (when `titles`), score,
// source, reasons (when `explain`).
void PrintItems(RecommenderClient& rpc, const Items& items, bool titles,
                bool explain) {
  std::vector<std::string> item_titles;
  if (titles) item_titles = FetchTitles(rpc, items);
  std::vector<std::string> headers = {"rank", "item", "title", "score",
                                      "source"};
  if (!titles) headers.erase(headers.begin() + 2);
  if (explain) headers.push_back("reasons");
  Table table(headers);
  for (int i = 0; i < items.size(); ++i) {
    const v1::RecommendedItem& item = items[i];
    std::vector<std::string> row = {Cat(i + 1), item.item_id()};
    if (titles) row.push_back(item_titles[i]);
    row.push_back(FormatFixed(item.score(), 4));
    row.push_back(SourceLabel(item.source()));
    if (explain) {
      std::vector<std::string> reasons;
      for (const v1::Reason& r : item.reasons()) {
        reasons.push_back(ReasonLabel(r));
      }
      row.push_back(absl::StrJoin(reasons, "; "));
    }
    table.AddRow(std::move(row));
  }
  std::cout << table.Render();
}

}  // namespace

int RunRecommend(const Args& args) {
  ClientFlags client;
  std::string user;
  std::string scenario = "for_you";
  std::string context_items;
  int count = 10;
  bool explain = false;
  bool include_seen = false;
  double diversity = 0;
  std::optional<double> exploration;
  std::string category;
  std::string exclude_category;
  std::string exclude_items;
  std::optional<double> min_price;
  std::optional<double> max_price;
  bool available_only = false;
  bool json = false;
  bool titles = true;
  FlagParser parser(
      "aisle recommend --user USER [flags]",
      "Asks the server for a ranked list of items and prints it as a table.");
  client.Register(parser);
  parser.String("user", &user,
                "user id (may be empty for an anonymous visitor with "
                "--context)");
  parser.String("scenario", &scenario,
                "for_you, similar_items, frequently_bought_together, "
                "recently_viewed, trending or popular (bestsellers)");
  parser.String("context", &context_items,
                "comma-separated item ids: the item page or the cart");
  parser.Int("count", &count, "how many items (1..500)");
  parser.Bool("explain", &explain, "show why each item was recommended");
  parser.Bool("include-seen", &include_seen,
              "include items the user already interacted with");
  parser.Double("diversity", &diversity,
                "0 = pure relevance .. 1 = most category diversity");
  parser.OptionalDouble("exploration", &exploration,
                        "0 = pure relevance .. 1 = most long-tail exposure "
                        "(default: the server's)");
  parser.String("category", &category,
                "only items in these categories (comma-separated)");
  parser.String("exclude-category", &exclude_category,
                "never items in these categories (comma-separated)");
  parser.String("exclude-items", &exclude_items,
                "never these item ids (comma-separated)");
  parser.OptionalDouble("min-price", &min_price, "lowest price, inclusive");
  parser.OptionalDouble("max-price", &max_price, "highest price, inclusive");
  parser.Bool("available-only", &available_only, "only available items");
  parser.Bool("titles", &titles,
              "look up item titles with GetItem (--no-titles skips it)");
  parser.Bool("json", &json, "print the raw response as JSON");
  parser.AddNotes(
      "Examples:\n"
      "  aisle recommend --user u42 --explain\n"
      "  aisle recommend --scenario similar_items --context i100 --count 5\n"
      "  aisle recommend --user u42 --category fashion --max-price 50");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  std::optional<core::Scenario> parsed_scenario = core::ParseScenario(scenario);
  if (!parsed_scenario.has_value()) {
    return UsageError(parser,
                      Cat("--scenario: unknown scenario '", scenario, "'"));
  }
  if (user.empty() && context_items.empty() &&
      *parsed_scenario != core::Scenario::kTrending &&
      *parsed_scenario != core::Scenario::kPopular) {
    return UsageError(parser,
                      "give --user, or --context for an anonymous "
                      "visitor");
  }

  v1::RecommendRequest request;
  request.set_user_id(user);
  request.set_scenario(server::ToProtoScenario(*parsed_scenario));
  for (std::string& id : SplitList(context_items)) {
    request.add_context_item_ids(std::move(id));
  }
  request.set_count(count);
  request.set_explain(explain);
  request.set_include_seen(include_seen);
  request.set_diversity(diversity);
  if (exploration.has_value()) request.set_exploration(*exploration);
  v1::Filter* filter = request.mutable_filter();
  for (std::string& c : SplitList(category)) {
    filter->add_include_categories(std::move(c));
  }
  for (std::string& c : SplitList(exclude_category)) {
    filter->add_exclude_categories(std::move(c));
  }
  for (std::string& id : SplitList(exclude_items)) {
    filter->add_exclude_item_ids(std::move(id));
  }
  if (min_price.has_value()) filter->set_min_price(*min_price);
  if (max_price.has_value()) filter->set_max_price(*max_price);
  filter->set_available_only(available_only);

  RecommenderClient rpc(client);
  v1::RecommendResponse response;
  if (auto exit = rpc.CallOrExit(&Stub::Recommend, request, &response)) {
    return *exit;
  }
  if (json) return PrintJson(response);

  std::cout << "model: "
            << (response.model_version().empty() ? "(none)"
                                                 : response.model_version())
            << "  source: " << SourceLabel(response.source())
            << "  variant: " << response.variant()
            << "  recommendation_id: " << response.recommendation_id() << "\n";
  if (response.fallback()) {
    std::cout << "fallback: yes (" << response.fallback_reason() << ")\n";
  } else {
    std::cout << "fallback: no\n";
  }
  if (response.items_size() == 0) {
    std::cout << "no items matched (check filters, or the catalog is "
                 "empty)\n";
    return kExitOk;
  }
  PrintItems(rpc, response.items(), titles, explain);
  return kExitOk;
}

int RunRank(const Args& args) {
  ClientFlags client;
  std::string user, items;
  bool explain = false, titles = true, json = false;
  FlagParser parser("aisle rank --user USER --items ID,ID,... [flags]",
                    "Re-ranks the given items (a search result or category "
                    "page) for the user (the Rank RPC).");
  client.Register(parser);
  parser.String("user", &user, "the user (required)");
  parser.String("items", &items, "comma-separated item ids (required)");
  parser.Bool("explain", &explain, "show why each item is where it is");
  parser.Bool("titles", &titles, "fetch item titles (one GetItem each)");
  parser.Bool("json", &json, "print the raw response as JSON");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!positional.empty() || user.empty() || items.empty()) {
    return UsageError(parser, "--user and --items are required");
  }
  v1::RankRequest request;
  request.set_user_id(user);
  for (std::string& id : SplitList(items)) request.add_item_ids(std::move(id));
  request.set_explain(explain);
  RecommenderClient rpc(client);
  v1::RankResponse response;
  if (auto exit = rpc.CallOrExit(&Stub::Rank, request, &response)) {
    return *exit;
  }
  if (json) return PrintJson(response);
  std::cout << "model: "
            << (response.model_version().empty() ? "(none)"
                                                 : response.model_version())
            << "  fallback: "
            << (response.fallback() ? "yes (" + response.fallback_reason() + ")"
                                    : std::string("no"))
            << "\n";
  PrintItems(rpc, response.items(), titles, explain);
  if (response.unknown_item_ids_size() > 0) {
    std::cout << "not in the catalog (kept last): "
              << absl::StrJoin(response.unknown_item_ids(), ", ") << "\n";
  }
  return kExitOk;
}

}  // namespace aisle::cli
