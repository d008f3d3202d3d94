// Client commands besides recommend: feedback, user get|delete, item
// get|upsert|delete, model info. Each is one RPC through RecommenderClient,
// printed as aligned fields, or as JSON with --json.
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
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
}  // namespace

int RunFeedback(const Args& args) {
  ClientFlags client;
  std::string user;
  std::string item;
  std::string type;
  double value = 0;
  std::string event_id;
  std::string recommendation_id;
  int64_t timestamp_ms = 0;
  std::string query;
  FlagParser parser(
      "aisle feedback --user USER --item ITEM --type TYPE [flags]\n"
      "       aisle feedback --user USER --type search --query TEXT",
      "Sends one event to the server. It is durable when this prints "
      "'accepted'.");
  client.Register(parser);
  parser.String("user", &user, "user id (required)");
  parser.String("item", &item, "item id (required, except for search)");
  parser.String("type", &type,
                "view, click, add_to_cart, remove_from_cart, purchase, "
                "rating, dislike, impression, favorite or search (required)");
  parser.String("query", &query, "search: what the user searched for");
  parser.Double("value", &value,
                "rating (0..10) for rating, quantity for purchase and "
                "add_to_cart (0 means 1)");
  parser.String("event-id", &event_id,
                "idempotency key; re-sending the same id is a no-op "
                "(default: derived by the server)");
  parser.String("recommendation-id", &recommendation_id,
                "the recommendation_id the item was shown in, for "
                "attribution");
  parser.Int("timestamp-ms", &timestamp_ms, "unix ms; 0 = now");
  if (auto exit = ParseFlagsOrExit(parser, args)) return *exit;
  for (auto [flag, v] :
       {std::pair<const char*, std::string*>{"user", &user}, {"type", &type}}) {
    if (v->empty()) return UsageError(parser, Cat("--", flag, " is required"));
  }
  std::optional<core::EventType> parsed_type = core::ParseEventType(type);
  if (!parsed_type.has_value()) {
    return UsageError(parser, Cat("--type: unknown event type '", type, "'"));
  }
  if (item.empty() && *parsed_type != core::EventType::kSearch) {
    return UsageError(parser, "--item is required (except for search)");
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
  event->set_query(query);

  v1::FeedbackResponse response;
  if (auto exit = RecommenderClient(client).CallOrExit(&Stub::Feedback, request,
                                                       &response)) {
    return *exit;
  }
  if (response.accepted() > 0) {
    std::cout << "accepted: the event is stored\n";
  } else {
    std::cout << "duplicate: an event with this id was already stored; "
                 "nothing changed\n";
  }
  return kExitOk;
}

namespace {

// "k=v,k2=v2" into `out`; the usage error for a pair without '=' or key.
std::optional<std::string> ParseAttributeList(
    const std::string& text,
    google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& pair : SplitList(text)) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first.empty() || pair.find('=') == std::string::npos) {
      return Cat("--attributes: '", pair, "' is not key=value");
    }
    (*out)[kv.first] = kv.second;
  }
  return std::nullopt;
}

// The learned segment and what the user engages with (GetUser's taste
// fields); lines without a value are left out.
void PrintTaste(const v1::UserProfile& profile) {
  if (profile.has_segment_id()) {
    std::cout << "learned segment: " << profile.segment_id() << " ("
              << profile.segment_label() << ")\n";
  }
  std::vector<std::string> categories, attributes;
  for (const v1::CategoryWeight& c : profile.category_weights()) {
    categories.push_back(
        absl::StrFormat("%s %.0f%%", c.category(), 100 * c.share()));
  }
  for (const v1::AttributeWeight& a : profile.preferred_attributes()) {
    attributes.push_back(
        absl::StrFormat("%s=%s %.0f%%", a.key(), a.value(), 100 * a.share()));
  }
  if (!categories.empty()) {
    std::cout << "category weights: " << absl::StrJoin(categories, ", ")
              << "\n";
  }
  if (!profile.price_band().empty()) {
    std::cout << "price band:     " << profile.price_band() << "\n";
  }
  if (!attributes.empty()) {
    std::cout << "preferred attributes: " << absl::StrJoin(attributes, ", ")
              << "\n";
  }
  std::cout << "activity:       " << profile.activity_level() << "\n";
}

int UserGet(RecommenderClient& rpc, const std::string& user_id, bool json) {
  v1::GetUserRequest request;
  request.set_user_id(user_id);
  v1::UserProfile profile;
  if (auto exit = rpc.CallOrExit(&Stub::GetUser, request, &profile)) {
    return *exit;
  }
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
  std::vector<std::string> searches;
  for (const v1::ProfileEvent& e : profile.recent_events()) {
    if (e.type() == v1::SEARCH) searches.push_back(Cat("\"", e.query(), "\""));
  }
  if (!searches.empty()) {
    std::cout << "recent searches: " << absl::StrJoin(searches, ", ") << "\n";
  }
  if (!profile.attributes().empty()) {
    std::vector<std::string> attrs;
    for (const auto& [k, v] : profile.attributes()) {
      attrs.push_back(Cat(k, "=", v));
    }
    std::sort(attrs.begin(), attrs.end());
    std::cout << "attributes:     " << absl::StrJoin(attrs, ", ") << "\n";
  }
  PrintTaste(profile);
  return kExitOk;
}

int UserDelete(RecommenderClient& rpc, const std::string& user_id) {
  v1::DeleteUserRequest request;
  request.set_user_id(user_id);
  v1::DeleteUserResponse response;
  if (auto exit = rpc.CallOrExit(&Stub::DeleteUser, request, &response)) {
    return *exit;
  }
  std::cout << "erased user " << user_id << ": " << response.events_deleted()
            << " events, " << response.idempotency_keys_deleted()
            << " idempotency keys, profile "
            << (response.profile_deleted() ? "deleted" : "absent")
            << ", vector " << (response.vector_deleted() ? "deleted" : "absent")
            << "\n";
  return kExitOk;
}

int UserMerge(RecommenderClient& rpc, const std::string& from,
              const std::string& to) {
  v1::MergeUsersRequest request;
  request.set_from_user_id(from);
  request.set_to_user_id(to);
  v1::MergeUsersResponse response;
  if (auto exit = rpc.CallOrExit(&Stub::MergeUsers, request, &response)) {
    return *exit;
  }
  std::cout << "merged user " << from << " into " << to << ": "
            << response.events_moved() << " events moved, "
            << response.idempotency_keys_moved()
            << " idempotency keys moved, profile "
            << (response.profile_merged() ? "merged" : "absent") << "; " << from
            << " erased\n";
  return kExitOk;
}

int UserUpsert(RecommenderClient& rpc, const FlagParser& parser,
               const std::string& user_id, const std::string& attributes) {
  v1::UpsertUsersRequest request;
  v1::User* user = request.add_users();
  user->set_user_id(user_id);
  if (auto error = ParseAttributeList(attributes, user->mutable_attributes())) {
    return UsageError(parser, *error);
  }
  v1::UpsertUsersResponse response;
  if (auto exit = rpc.CallOrExit(&Stub::UpsertUsers, request, &response)) {
    return *exit;
  }
  std::cout << "upserted user " << user_id << " (" << user->attributes().size()
            << " attributes)\n";
  return kExitOk;
}

}  // namespace

int RunUser(const Args& args) {
  ClientFlags client;
  bool json = false;
  std::string attributes;
  FlagParser parser(
      "aisle user get|delete|upsert USER_ID [flags]\n"
      "       aisle user merge FROM_USER_ID TO_USER_ID [flags]",
      "get: prints the user's profile (event counts, segment, "
      "recent items, attributes).\ndelete: erases everything stored about "
      "the user (right to be forgotten); the user's events "
      "stay counted in anonymous aggregates.\n"
      "upsert: replaces the user's own attributes (--attributes "
      "age_band=25-34,region=north; none removes them): a new "
      "user with attributes gets what similar users like.\nmerge: an "
      "anonymous visitor logged in: moves FROM's events and "
      "session to TO, then erases FROM (MergeUsers; repeating "
      "it changes nothing).");
  client.Register(parser);
  parser.Bool("json", &json, "print the raw response as JSON (get)");
  parser.String("attributes", &attributes,
                "comma-separated key=value pairs (upsert)");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (positional.size() == 3 && positional[0] == "merge") {
    RecommenderClient rpc(client);
    return UserMerge(rpc, positional[1], positional[2]);
  }
  if (positional.size() != 2 ||
      (positional[0] != "get" && positional[0] != "delete" &&
       positional[0] != "upsert")) {
    return UsageError(parser,
                      "expected 'get USER_ID', 'delete USER_ID', 'upsert "
                      "USER_ID --attributes k=v,...' or 'merge FROM_USER_ID "
                      "TO_USER_ID'");
  }
  RecommenderClient rpc(client);
  if (positional[0] == "upsert") {
    return UserUpsert(rpc, parser, positional[1], attributes);
  }
  return positional[0] == "get" ? UserGet(rpc, positional[1], json)
                                : UserDelete(rpc, positional[1]);
}

namespace {

// The flags of `item upsert`.
struct ItemFields {
  std::string id;
  std::string title;
  std::string categories;
  std::string tags;
  double price = 0;
  bool available = true;
  std::string attributes;
};

int ItemGet(RecommenderClient& rpc, const std::string& item_id, bool json) {
  v1::GetItemRequest request;
  request.set_item_id(item_id);
  v1::Item item;
  if (auto exit = rpc.CallOrExit(&Stub::GetItem, request, &item)) {
    return *exit;
  }
  if (json) return PrintJson(item);
  std::vector<std::string> attrs;
  for (const auto& [k, v] : item.attributes()) attrs.push_back(Cat(k, "=", v));
  std::sort(attrs.begin(), attrs.end());
  std::cout << "item:       " << item.item_id() << "\n"
            << "title:      " << item.title() << "\n"
            << "categories: " << absl::StrJoin(item.categories(), ", ") << "\n"
            << "tags:       " << absl::StrJoin(item.tags(), ", ") << "\n"
            << "price:      " << FormatFixed(item.price(), 2) << "\n"
            << "available:  " << (item.available() ? "yes" : "no") << "\n"
            << "attributes: " << absl::StrJoin(attrs, ", ") << "\n"
            << "updated:    " << FormatTimeMs(item.updated_at_ms()) << "\n";
  return kExitOk;
}

int ItemUpsert(RecommenderClient& rpc, const FlagParser& parser,
               const ItemFields& fields) {
  v1::UpsertItemsRequest request;
  v1::Item* item = request.add_items();
  item->set_item_id(fields.id);
  item->set_title(fields.title);
  for (std::string& c : SplitList(fields.categories)) {
    item->add_categories(std::move(c));
  }
  for (std::string& t : SplitList(fields.tags)) item->add_tags(std::move(t));
  item->set_price(fields.price);
  item->set_available(fields.available);
  if (auto error =
          ParseAttributeList(fields.attributes, item->mutable_attributes())) {
    return UsageError(parser, *error);
  }
  v1::UpsertItemsResponse response;
  if (auto exit = rpc.CallOrExit(&Stub::UpsertItems, request, &response)) {
    return *exit;
  }
  std::cout << "upserted " << response.upserted() << " item (" << fields.id
            << ")\n";
  return kExitOk;
}

int ItemDelete(RecommenderClient& rpc, const std::vector<std::string>& ids) {
  v1::DeleteItemsRequest request;
  for (const std::string& id : ids) request.add_item_ids(id);
  v1::DeleteItemsResponse response;
  if (auto exit = rpc.CallOrExit(&Stub::DeleteItems, request, &response)) {
    return *exit;
  }
  std::cout << "deleted " << response.deleted() << ", not found "
            << response.not_found() << "\n";
  return response.not_found() > 0 && response.deleted() == 0 ? kExitFailure
                                                             : kExitOk;
}

}  // namespace

int RunItem(const Args& args) {
  ClientFlags client;
  bool json = false;
  ItemFields fields;
  FlagParser parser(
      "aisle item get ITEM_ID | item upsert --id ID [flags] | item delete "
      "ITEM_ID...",
      "Reads or changes the catalog. upsert replaces the whole item record.");
  client.Register(parser);
  parser.Bool("json", &json, "print the raw item as JSON (get)");
  parser.String("id", &fields.id, "item id (upsert)");
  parser.String("title", &fields.title, "title (upsert)");
  parser.String("category", &fields.categories,
                "comma-separated category paths, e.g. fashion/shoes (upsert)");
  parser.String("tags", &fields.tags, "comma-separated tags (upsert)");
  parser.Double("price", &fields.price, "price >= 0 (upsert)");
  parser.Bool("available", &fields.available, "in stock (upsert)");
  parser.String("attributes", &fields.attributes,
                "comma-separated key=value pairs (upsert)");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (positional.empty()) {
    return UsageError(parser, "expected 'get', 'upsert' or 'delete'");
  }
  const std::string verb = positional[0];
  RecommenderClient rpc(client);
  if (verb == "get") {
    if (positional.size() != 2) {
      return UsageError(parser, "expected 'get ITEM_ID'");
    }
    return ItemGet(rpc, positional[1], json);
  }
  if (verb == "upsert") {
    if (positional.size() > 2) {
      return UsageError(parser, "expected 'upsert --id ID ...'");
    }
    if (positional.size() == 2 && fields.id.empty()) fields.id = positional[1];
    if (fields.id.empty()) {
      return UsageError(parser, "--id is required for upsert");
    }
    return ItemUpsert(rpc, parser, fields);
  }
  if (verb == "delete") {
    if (positional.size() < 2) {
      return UsageError(parser, "expected 'delete ITEM_ID...'");
    }
    return ItemDelete(rpc, {positional.begin() + 1, positional.end()});
  }
  return UsageError(
      parser, Cat("unknown item command '", verb, "' (get, upsert, delete)"));
}

namespace {

// The lines of `model info`.
void PrintModelInfo(const v1::ModelInfo& info) {
  std::vector<std::string> metrics;
  for (const auto& [k, v] : info.metrics()) {
    metrics.push_back(Cat(k, "=", FormatFixed(v, 4)));
  }
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
  v1::ModelInfo info;
  if (auto exit = RecommenderClient(client).CallOrExit(
          &Stub::GetModelInfo, v1::GetModelInfoRequest(), &info)) {
    return *exit;
  }
  if (json) return PrintJson(info);
  PrintModelInfo(info);
  return kExitOk;
}

}  // namespace aisle::cli
