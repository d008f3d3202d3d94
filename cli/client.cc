// Client commands: thin gRPC calls with readable output.
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "core/types.h"
#include "google/protobuf/util/json_util.h"
#include "cli/commands.h"
#include "cli/util.h"
#include "server/convert.h"

namespace aisle::cli {
namespace {

// "SOURCE_FACTOR_MODEL" -> "factor_model".
std::string EnumLabel(const std::string& proto_name, std::string_view prefix) {
  std::string_view name = proto_name;
  if (name.starts_with(prefix)) name.remove_prefix(prefix.size());
  return absl::AsciiStrToLower(Av(name));
}

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

int PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    PrintError(Cat("cannot print JSON: ", status.ToString()));
    return kExitFailure;
  }
  std::cout << json;
  if (!json.ends_with("\n")) std::cout << "\n";
  return kExitOk;
}

// Titles for the listed items, fetched with GetItem; "" where the call
// fails (deleted item, or the item was only seen in events).
std::vector<std::string> FetchTitles(v1::Recommender::Stub& stub,
                                     const v1::RecommendResponse& response,
                                     std::chrono::milliseconds timeout) {
  std::vector<std::string> titles;
  for (const v1::RecommendedItem& item : response.items()) {
    grpc::ClientContext context;
    SetDeadline(&context, timeout);
    v1::GetItemRequest request;
    request.set_item_id(item.item_id());
    v1::Item reply;
    titles.push_back(
        stub.GetItem(&context, request, &reply).ok() ? reply.title() : "");
  }
  return titles;
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
                "recently_viewed or trending");
  parser.String("context", &context_items,
                "comma-separated item ids: the item page or the cart");
  parser.Int("count", &count, "how many items (1..500)");
  parser.Bool("explain", &explain, "show why each item was recommended");
  parser.Bool("include-seen", &include_seen,
              "include items the user already interacted with");
  parser.Double("diversity", &diversity,
                "0 = pure relevance .. 1 = most category diversity");
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
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!positional.empty()) {
    return UsageError(parser, Cat("unexpected argument '", positional[0], "'"));
  }
  std::optional<core::Scenario> parsed_scenario = core::ParseScenario(scenario);
  if (!parsed_scenario.has_value()) {
    return UsageError(parser,
                      Cat("--scenario: unknown scenario '", scenario, "'"));
  }
  if (user.empty() && context_items.empty() &&
      *parsed_scenario != core::Scenario::kTrending) {
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

  auto stub = v1::Recommender::NewStub(MakeClientChannel(client.target));
  grpc::ClientContext context;
  SetDeadline(&context, client.timeout);
  v1::RecommendResponse response;
  grpc::Status status = stub->Recommend(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, client.target);
  if (json) return PrintJson(response);

  std::cout << "model: "
            << (response.model_version().empty() ? "(none)"
                                                 : response.model_version())
            << "  source: " << SourceLabel(response.source())
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
  std::vector<std::string> item_titles;
  if (titles) item_titles = FetchTitles(*stub, response, client.timeout);
  std::vector<std::string> headers = {"rank", "item", "title", "score",
                                      "source"};
  if (!titles) headers.erase(headers.begin() + 2);
  if (explain) headers.push_back("reasons");
  Table table(headers);
  for (int i = 0; i < response.items_size(); ++i) {
    const v1::RecommendedItem& item = response.items(i);
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
  return kExitOk;
}

int RunFeedback(const Args& args) {
  ClientFlags client;
  std::string user;
  std::string item;
  std::string type;
  double value = 0;
  std::string event_id;
  std::string recommendation_id;
  int64_t timestamp_ms = 0;
  FlagParser parser(
      "aisle feedback --user USER --item ITEM --type TYPE [flags]",
      "Sends one event to the server. It is durable when this prints "
      "'accepted'.");
  client.Register(parser);
  parser.String("user", &user, "user id (required)");
  parser.String("item", &item, "item id (required)");
  parser.String("type", &type,
                "view, click, add_to_cart, remove_from_cart, purchase, "
                "rating, dislike or impression (required)");
  parser.Double("value", &value,
                "rating (0..10) for rating, quantity for purchase and "
                "add_to_cart (0 means 1)");
  parser.String("event-id", &event_id,
                "idempotency key; re-sending the same id is a no-op "
                "(default: derived by the server)");
  parser.String("recommendation-id", &recommendation_id,
                "the recommendation_id the item was shown in, for "
                "attribution");
  parser.Int64("timestamp-ms", &timestamp_ms, "unix ms; 0 = now");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (!positional.empty()) {
    return UsageError(parser, Cat("unexpected argument '", positional[0], "'"));
  }
  for (auto [flag, v] : {std::pair<const char*, std::string*>{"user", &user},
                         {"item", &item},
                         {"type", &type}}) {
    if (v->empty()) return UsageError(parser, Cat("--", flag, " is required"));
  }
  std::optional<core::EventType> parsed_type = core::ParseEventType(type);
  if (!parsed_type.has_value()) {
    return UsageError(parser, Cat("--type: unknown event type '", type, "'"));
  }
  v1::FeedbackRequest request;
  v1::Event* event = request.add_events();
  event->set_event_id(event_id);
  event->set_user_id(user);
  event->set_item_id(item);
  event->set_type(server::ToProtoEventType(*parsed_type));
  event->set_value(value);
  event->set_timestamp_ms(timestamp_ms);
  event->set_recommendation_id(recommendation_id);

  auto stub = v1::Recommender::NewStub(MakeClientChannel(client.target));
  grpc::ClientContext context;
  SetDeadline(&context, client.timeout);
  v1::FeedbackResponse response;
  grpc::Status status = stub->Feedback(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, client.target);
  if (response.accepted() > 0) {
    std::cout << "accepted: the event is stored\n";
  } else {
    std::cout << "duplicate: an event with this id was already stored; "
                 "nothing changed\n";
  }
  return kExitOk;
}

namespace {

int UserGet(v1::Recommender::Stub& stub, const ClientFlags& client,
            const std::string& user_id, bool json) {
  grpc::ClientContext context;
  SetDeadline(&context, client.timeout);
  v1::GetUserRequest request;
  request.set_user_id(user_id);
  v1::UserProfile profile;
  grpc::Status status = stub.GetUser(&context, request, &profile);
  if (!status.ok()) return ReportRpcError(status, client.target);
  if (json) return PrintJson(profile);
  int64_t total = 0;
  std::vector<std::string> counts;
  for (const v1::EventCount& c : profile.event_counts()) {
    total += c.count();
    counts.push_back(Cat(
        EnumLabel(v1::EventType_Name(static_cast<v1::EventType>(c.type())), ""),
        "=", c.count()));
  }
  std::cout << "user:           " << profile.user_id() << "\n"
            << "segment:        " << profile.segment() << "\n"
            << "events:         " << total << " ("
            << absl::StrJoin(counts, ", ") << ")\n"
            << "first seen:     " << FormatTimeMs(profile.first_seen_ms())
            << "\n"
            << "last seen:      " << FormatTimeMs(profile.last_seen_ms())
            << "\n"
            << "top categories: "
            << absl::StrJoin(profile.top_categories(), ", ") << "\n"
            << "recent items:   "
            << absl::StrJoin(profile.recent_item_ids(), ", ") << "\n"
            << "model vector:   " << (profile.has_vector() ? "yes" : "no")
            << "\n";
  return kExitOk;
}

int UserDelete(v1::Recommender::Stub& stub, const ClientFlags& client,
               const std::string& user_id) {
  grpc::ClientContext context;
  SetDeadline(&context, client.timeout);
  v1::DeleteUserRequest request;
  request.set_user_id(user_id);
  v1::DeleteUserResponse response;
  grpc::Status status = stub.DeleteUser(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, client.target);
  std::cout << "erased user " << user_id << ": " << response.events_deleted()
            << " events, " << response.idempotency_keys_deleted()
            << " idempotency keys, profile "
            << (response.profile_deleted() ? "deleted" : "absent")
            << ", vector " << (response.vector_deleted() ? "deleted" : "absent")
            << "\n";
  return kExitOk;
}

}  // namespace

int RunUser(const Args& args) {
  ClientFlags client;
  bool json = false;
  FlagParser parser("aisle user get|delete USER_ID [flags]",
                    "get: prints the user's profile (event counts, segment, "
                    "recent items).\ndelete: erases everything stored about "
                    "the user (right to be forgotten); the user's events "
                    "stay counted in anonymous aggregates.");
  client.Register(parser);
  parser.Bool("json", &json, "print the raw response as JSON (get)");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (positional.size() != 2 ||
      (positional[0] != "get" && positional[0] != "delete")) {
    return UsageError(parser, "expected 'get USER_ID' or 'delete USER_ID'");
  }
  auto stub = v1::Recommender::NewStub(MakeClientChannel(client.target));
  return positional[0] == "get" ? UserGet(*stub, client, positional[1], json)
                                : UserDelete(*stub, client, positional[1]);
}

int RunItem(const Args& args) {
  ClientFlags client;
  bool json = false;
  std::string id;
  std::string title;
  std::string categories;
  std::string tags;
  double price = 0;
  bool available = true;
  std::string attributes;
  FlagParser parser(
      "aisle item get ITEM_ID | item upsert --id ID [flags] | item delete "
      "ITEM_ID...",
      "Reads or changes the catalog. upsert replaces the whole item record.");
  client.Register(parser);
  parser.Bool("json", &json, "print the raw item as JSON (get)");
  parser.String("id", &id, "item id (upsert)");
  parser.String("title", &title, "title (upsert)");
  parser.String("category", &categories,
                "comma-separated category paths, e.g. fashion/shoes (upsert)");
  parser.String("tags", &tags, "comma-separated tags (upsert)");
  parser.Double("price", &price, "price >= 0 (upsert)");
  parser.Bool("available", &available, "in stock (upsert)");
  parser.String("attributes", &attributes,
                "comma-separated key=value pairs (upsert)");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (positional.empty()) {
    return UsageError(parser, "expected 'get', 'upsert' or 'delete'");
  }
  const std::string verb = positional[0];
  auto stub = v1::Recommender::NewStub(MakeClientChannel(client.target));
  grpc::ClientContext context;
  SetDeadline(&context, client.timeout);
  if (verb == "get") {
    if (positional.size() != 2)
      return UsageError(parser, "expected 'get ITEM_ID'");
    v1::GetItemRequest request;
    request.set_item_id(positional[1]);
    v1::Item item;
    grpc::Status status = stub->GetItem(&context, request, &item);
    if (!status.ok()) return ReportRpcError(status, client.target);
    if (json) return PrintJson(item);
    std::vector<std::string> attrs;
    for (const auto& [k, v] : item.attributes())
      attrs.push_back(Cat(k, "=", v));
    std::sort(attrs.begin(), attrs.end());
    std::cout << "item:       " << item.item_id() << "\n"
              << "title:      " << item.title() << "\n"
              << "categories: " << absl::StrJoin(item.categories(), ", ")
              << "\n"
              << "tags:       " << absl::StrJoin(item.tags(), ", ") << "\n"
              << "price:      " << FormatFixed(item.price(), 2) << "\n"
              << "available:  " << (item.available() ? "yes" : "no") << "\n"
              << "attributes: " << absl::StrJoin(attrs, ", ") << "\n"
              << "updated:    " << FormatTimeMs(item.updated_at_ms()) << "\n";
    return kExitOk;
  }
  if (verb == "upsert") {
    if (positional.size() > 2)
      return UsageError(parser, "expected 'upsert --id ID ...'");
    if (positional.size() == 2 && id.empty()) id = positional[1];
    if (id.empty()) return UsageError(parser, "--id is required for upsert");
    v1::UpsertItemsRequest request;
    v1::Item* item = request.add_items();
    item->set_item_id(id);
    item->set_title(title);
    for (std::string& c : SplitList(categories))
      item->add_categories(std::move(c));
    for (std::string& t : SplitList(tags)) item->add_tags(std::move(t));
    item->set_price(price);
    item->set_available(available);
    for (const std::string& pair : SplitList(attributes)) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(pair, absl::MaxSplits('=', 1));
      if (kv.first.empty() || pair.find('=') == std::string::npos) {
        return UsageError(parser,
                          Cat("--attributes: '", pair, "' is not key=value"));
      }
      (*item->mutable_attributes())[kv.first] = kv.second;
    }
    v1::UpsertItemsResponse response;
    grpc::Status status = stub->UpsertItems(&context, request, &response);
    if (!status.ok()) return ReportRpcError(status, client.target);
    std::cout << "upserted " << response.upserted() << " item (" << id << ")\n";
    return kExitOk;
  }
  if (verb == "delete") {
    if (positional.size() < 2) {
      return UsageError(parser, "expected 'delete ITEM_ID...'");
    }
    v1::DeleteItemsRequest request;
    for (size_t i = 1; i < positional.size(); ++i) {
      request.add_item_ids(positional[i]);
    }
    v1::DeleteItemsResponse response;
    grpc::Status status = stub->DeleteItems(&context, request, &response);
    if (!status.ok()) return ReportRpcError(status, client.target);
    std::cout << "deleted " << response.deleted() << ", not found "
              << response.not_found() << "\n";
    return response.not_found() > 0 && response.deleted() == 0 ? kExitFailure
                                                               : kExitOk;
  }
  return UsageError(
      parser, Cat("unknown item command '", verb, "' (get, upsert, delete)"));
}

namespace {

// Lines shared by `model info` and `models list`.
void PrintModelInfo(const v1::ModelInfo& info) {
  std::vector<std::string> metrics;
  for (const auto& [k, v] : info.metrics())
    metrics.push_back(Cat(k, "=", FormatFixed(v, 4)));
  std::vector<std::string> params;
  for (const auto& [k, v] : info.parameters()) params.push_back(Cat(k, "=", v));
  std::sort(metrics.begin(), metrics.end());
  std::sort(params.begin(), params.end());
  std::cout << "version:       "
            << (info.version().empty() ? "(no model loaded)" : info.version())
            << "\n"
            << "trained at:    " << FormatTimeMs(info.trained_at_ms()) << "\n"
            << "factors:       " << info.factors() << "\n"
            << "model users:   " << FormatCount(info.users()) << "\n"
            << "model items:   " << FormatCount(info.items()) << "\n"
            << "interactions:  " << FormatCount(info.interactions()) << "\n"
            << "catalog items: " << FormatCount(info.catalog_items()) << "\n"
            << "known users:   " << FormatCount(info.known_users()) << "\n"
            << "events:        " << FormatCount(info.events()) << "\n"
            << "metrics:       " << absl::StrJoin(metrics, ", ") << "\n"
            << "parameters:    " << absl::StrJoin(params, ", ") << "\n";
}

}  // namespace

int RunModel(const Args& args) {
  ClientFlags client;
  bool json = false;
  FlagParser parser("aisle model info [flags]",
                    "Prints the model the server is serving and its "
                    "serving state (catalog size, users, events).");
  client.Register(parser);
  parser.Bool("json", &json, "print the raw response as JSON");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (positional.size() != 1 || positional[0] != "info") {
    return UsageError(parser,
                      "expected 'model info' (stored versions: "
                      "'aisle models list')");
  }
  auto stub = v1::Recommender::NewStub(MakeClientChannel(client.target));
  grpc::ClientContext context;
  SetDeadline(&context, client.timeout);
  v1::ModelInfo info;
  grpc::Status status =
      stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return ReportRpcError(status, client.target);
  if (json) return PrintJson(info);
  PrintModelInfo(info);
  return kExitOk;
}

}  // namespace aisle::cli
