// The Runner's explanations: the reason shown with each recommended item
// ("Because you bought X", "Similar to Y", "More from shoes", ...). For a
// factor-model pick it names the user's recent item closest to it.
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "core/recommend_runner.h"
#include "core/string_view.h"

namespace aisle::core {
namespace {

std::string_view Verb(EventType t) {
  switch (t) {
    case EventType::kPurchase:
      return "bought";
    case EventType::kAddToCart:
      return "added to cart";
    case EventType::kFavorite:
      return "saved";
    case EventType::kRating:
      return "rated";
    case EventType::kClick:
      return "clicked";
    default:
      return "viewed";
  }
}

}  // namespace

std::string Engine::State::Runner::Title(int32_t i) const {
  const ItemRec& rec = s_.items[i];
  return rec.in_catalog && !rec.item.title.empty() ? rec.item.title
                                                   : s_.item_ids[i];
}

Reason Engine::State::Runner::Explain(const Candidate& c) const {
  Reason r;
  r.code = c.reason;
  int32_t related = c.related;
  if (c.reason == ReasonCode::kMatchesYourTaste && b_ != nullptr &&
      user_ != nullptr) {
    // The user's item most similar to the recommendation.
    const FactorModel& m = *b_->model;
    const int32_t row = b_->Row(c.item);
    double best = -2;
    for (const auto& [item, w] : recent_) {
      const int32_t other = b_->Row(item);
      if (row < 0 || other < 0) continue;
      const double cos =
          m.item_factors().row(row).dot(m.item_factors().row(other)) *
          b_->inv_norms[row] * b_->inv_norms[other];
      if (cos > best) {
        best = cos;
        related = item;
      }
    }
  }
  if (related >= 0) r.related_item_id = s_.item_ids[related];
  const auto verb = [&](int32_t item) -> std::string_view {
    const UserItem* ui = user_ != nullptr ? user_->Find(item) : nullptr;
    return Verb(ui != nullptr ? static_cast<EventType>(ui->best)
                              : EventType::kView);
  };
  switch (c.reason) {
    case ReasonCode::kMatchesYourTaste:
    case ReasonCode::kBecauseYouInteracted:
      r.detail = related >= 0
                     ? absl::StrCat("Because you ", ToAbsl(verb(related)), " ",
                                    Title(related))
                     : "Matches your taste";
      break;
    case ReasonCode::kJustViewed:
      r.detail = related >= 0
                     ? absl::StrCat("Because you just ", ToAbsl(verb(related)),
                                    " ", Title(related))
                     : "Follows what you just viewed";
      break;
    case ReasonCode::kBoughtTogether:
      r.detail =
          c.source == Source::kCoOccurrence && related >= 0
              ? absl::StrCat("Frequently bought together with ", Title(related))
              : "Frequently bought together";
      break;
    case ReasonCode::kSimilarTo:
      r.detail = related >= 0 ? absl::StrCat("Similar to ", Title(related))
                              : "Similar items";
      break;
    case ReasonCode::kSameCategory: {
      const ItemRec& rec = s_.items[c.item];
      r.detail = rec.item.categories.empty()
                     ? std::string("Same category")
                     : absl::StrCat("More from ", rec.item.categories.front());
      break;
    }
    case ReasonCode::kPopularWithSimilarShoppers:
      r.detail = AttributeDetail();
      break;
    case ReasonCode::kSimilarContent:
    case ReasonCode::kNewItem:
      r.detail = ContentDetail(c);
      break;
    case ReasonCode::kTrending:
      r.detail = "Trending now";
      break;
    case ReasonCode::kPeopleLikeYou:
      r.detail = absl::StrCat(
          "People with similar taste ",
          ToAbsl(Verb(static_cast<EventType>(c.neighbors_best))), " this");
      break;
    case ReasonCode::kRecentlyViewedByYou:
      r.detail = absl::StrCat("You ", ToAbsl(verb(c.item)), " this recently");
      break;
    case ReasonCode::kPopular:
      if (req_.scenario == Scenario::kPopular &&
          s_.bestsellers.Key(c.item) > 0) {
        r.detail = req_.filter.include_categories.size() == 1
                       ? absl::StrCat("Bestseller in ",
                                      req_.filter.include_categories.front())
                       : std::string("Bestseller in the store");
      } else {
        r.detail = "Popular in the store";
      }
      break;
    default:
      r.detail = "Popular in the store";
      break;
  }
  return r;
}

}  // namespace aisle::core
