#include "core/demo_data.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <random>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace aisle::core {
namespace {

struct Department {
  const char* slug;
  double base_price;
  std::array<const char*, 5> categories;     // plural slugs
  std::array<const char*, 5> nouns;          // title nouns
  std::array<const char*, 4> subcategories;  // style slugs
};

constexpr std::array<Department, 8> kDepartments = {{
    {"sports",
     60,
     {"running-shoes", "yoga", "cycling", "camping", "fitness"},
     {"Running Shoe", "Yoga Mat", "Cycling Jersey", "Tent", "Dumbbell"},
     {"trail", "road", "kids", "pro"}},
    {"home",
     45,
     {"kitchen", "bedding", "lighting", "storage", "decor"},
     {"Chef Knife", "Duvet Cover", "Floor Lamp", "Storage Box", "Vase"},
     {"classic", "modern", "compact", "premium"}},
    {"electronics",
     150,
     {"headphones", "cameras", "laptops", "phones", "speakers"},
     {"Headphones", "Camera", "Laptop", "Phone", "Speaker"},
     {"wireless", "portable", "studio", "budget"}},
    {"fashion",
     40,
     {"jackets", "dresses", "jeans", "sneakers", "bags"},
     {"Jacket", "Dress", "Jeans", "Sneaker", "Tote Bag"},
     {"women", "men", "kids", "vintage"}},
    {"beauty",
     20,
     {"skincare", "makeup", "haircare", "fragrance", "nails"},
     {"Face Cream", "Lipstick", "Shampoo", "Eau de Parfum", "Nail Polish"},
     {"natural", "sensitive", "luxury", "travel"}},
    {"toys",
     25,
     {"puzzles", "building", "dolls", "outdoor-play", "games"},
     {"Puzzle", "Building Set", "Doll", "Water Blaster", "Board Game"},
     {"toddler", "family", "collector", "educational"}},
    {"garden",
     35,
     {"tools", "plants", "furniture", "grills", "watering"},
     {"Pruner", "Seed Kit", "Garden Chair", "Charcoal Grill", "Hose"},
     {"balcony", "backyard", "pro", "eco"}},
    {"books",
     15,
     {"fiction", "cooking", "travel", "science", "children"},
     {"Novel", "Cookbook", "Travel Guide", "Science Book", "Picture Book"},
     {"paperback", "hardcover", "illustrated", "bestseller"}},
}};

// Own distributions so the output is the same on every standard library.
class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  double Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  int Below(int n) { return std::min(n - 1, static_cast<int>(Uniform() * n)); }
  double Normal() {
    const double u1 = std::max(Uniform(), 1e-300);
    const double u2 = Uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }
  bool Chance(double p) { return Uniform() < p; }
  // Index drawn with probability proportional to the increments of `cdf`.
  int Pick(const std::vector<double>& cdf) {
    const double x = Uniform() * cdf.back();
    const auto it = std::upper_bound(cdf.begin(), cdf.end(), x);
    return std::min(static_cast<int>(it - cdf.begin()),
                    static_cast<int>(cdf.size()) - 1);
  }

 private:
  std::mt19937_64 rng_;
};

std::string TitleCase(std::string_view s) {
  std::string out(s);
  bool start = true;
  for (char& c : out) {
    if (c == '-') {
      c = ' ';
      start = true;
    } else if (start) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      start = false;
    }
  }
  return out;
}

std::vector<double> Cdf(const std::vector<double>& weights) {
  std::vector<double> cdf(weights.size());
  double sum = 0;
  for (size_t i = 0; i < weights.size(); ++i) cdf[i] = sum += weights[i];
  return cdf;
}

}  // namespace

DemoData GenerateDemoData(const DemoOptions& o) {
  Random rnd(o.seed);
  const int departments = std::clamp(o.departments, 1, 8);
  const int categories = std::clamp(o.categories_per_department, 1, 5);
  const int subs = std::clamp(o.subcategories_per_category, 1, 4);
  const int leaves = departments * categories * subs;
  const int n_items = std::max(1, o.items);
  const int n_users = std::max(1, o.users);

  // Leaves: price level per category.
  struct Leaf {
    std::string path;
    std::string title_prefix;
    double log_price;
    std::vector<int> items;
    std::vector<double> cdf;  // item popularity within the leaf
  };
  std::vector<Leaf> leaf(leaves);
  for (int d = 0, l = 0; d < departments; ++d) {
    const Department& dep = kDepartments[d];
    for (int c = 0; c < categories; ++c) {
      const double cat_price = std::log(dep.base_price) + 0.5 * rnd.Normal();
      for (int s = 0; s < subs; ++s, ++l) {
        leaf[l].path = absl::StrCat(dep.slug, "/", dep.categories[c], "/",
                                    dep.subcategories[s]);
        leaf[l].title_prefix =
            absl::StrCat(TitleCase(dep.subcategories[s]), " ", dep.nouns[c]);
        leaf[l].log_price = cat_price + 0.2 * rnd.Normal();
      }
    }
  }

  // Items: a leaf each, log-normal price, power-law popularity (rank of a
  // random permutation).
  DemoData out;
  out.items.resize(n_items);
  std::vector<double> popularity(n_items);
  std::vector<int> rank(n_items);
  for (int i = 0; i < n_items; ++i) rank[i] = i;
  for (int i = n_items - 1; i > 0; --i)
    std::swap(rank[i], rank[rnd.Below(i + 1)]);
  std::vector<int> item_leaf(n_items);
  std::vector<double> item_log_price(n_items);
  for (int i = 0; i < n_items; ++i) {
    const int l = rnd.Below(leaves);
    item_leaf[i] = l;
    Item& item = out.items[i];
    item.item_id = absl::StrCat("i", i);
    item.title = absl::StrCat(leaf[l].title_prefix, " #", i);
    item.categories = {leaf[l].path};
    item_log_price[i] = leaf[l].log_price + 0.4 * rnd.Normal();
    item.price = std::round(std::exp(item_log_price[i]) * 100) / 100;
    item.available = rnd.Chance(o.available_fraction);
    item.tags = {std::string(
        kDepartments[l / (categories * subs)].subcategories[l % subs])};
    // Each leaf has three house brands, so a brand (like the path, the
    // style tag and the title words) says which taste group an item is
    // for: the content vectors (core/content.h) carry signal.
    item.attributes["brand"] = absl::StrCat("Brand ", (l * 3 + i % 3) % 97);
    item.updated_at_ms = o.end_ms - int64_t{o.days} * 86400000;
    popularity[i] = 1.0 / std::pow(rank[i] + 10.0, 0.9);
    leaf[l].items.push_back(i);
  }
  for (Leaf& l : leaf) {
    std::vector<double> w;
    for (int i : l.items) w.push_back(popularity[i]);
    l.cdf = Cdf(w);
  }
  const std::vector<double> global_cdf = Cdf(popularity);
  std::vector<double> leaf_weight(leaves);
  for (int l = 0; l < leaves; ++l)
    leaf_weight[l] = leaf[l].cdf.empty() ? 0 : leaf[l].cdf.back();
  const std::vector<double> leaf_cdf = Cdf(leaf_weight);

  // Users: attributes first (from a stream of their own), then 2-3
  // preferred leaves that lean on them (kBandDepartments,
  // kRegionDepartment), a price band and an activity level. Each leaf costs
  // `rnd` one draw whatever its cdf, so the rest of the stream (events
  // included) keeps its shape.
  const auto restricted_cdf = [&](std::initializer_list<int> wanted) {
    std::vector<double> w(leaves, 0);
    double sum = 0;
    for (int l = 0; l < leaves; ++l) {
      const int d = l / (categories * subs);
      for (int want : wanted) {
        if (d == want % departments) w[l] = leaf_weight[l];
      }
      sum += w[l];
    }
    return sum > 0 ? Cdf(w) : leaf_cdf;
  };
  std::vector<std::vector<double>> band_cdf, region_cdf;
  for (const auto& ds : kBandDepartments) {
    band_cdf.push_back(restricted_cdf({ds[0], ds[1]}));
  }
  for (int d : kRegionDepartment) region_cdf.push_back(restricted_cdf({d}));
  Random attribute_rnd(o.seed ^ 0x5bd1e995a1b2c3d4ULL);
  struct User {
    std::vector<int> leaves;
    double price_offset;
  };
  std::vector<User> users(n_users);
  std::vector<double> activity(n_users);
  out.users.resize(n_users);
  out.preferred_categories.resize(n_users);
  for (int u = 0; u < n_users; ++u) {
    const int band = attribute_rnd.Below(5);
    const int region = attribute_rnd.Below(4);
    UserAttributes& a = out.users[u];
    a.user_id = absl::StrCat("u", u);
    a.attributes["age_band"] = kDemoAgeBands[band];
    a.attributes["region"] = kDemoRegions[region];
    a.updated_at_ms = o.end_ms - int64_t{o.days} * 86400000;
    const int n = 2 + rnd.Below(2);
    for (int k = 0; k < n; ++k) {
      const std::vector<double>* cdf = &leaf_cdf;
      if (k == 0 && attribute_rnd.Chance(o.attribute_signal)) {
        cdf = &band_cdf[band];
      } else if (k == 1 && attribute_rnd.Chance(o.attribute_signal)) {
        cdf = &region_cdf[region];
      }
      const int l = rnd.Pick(*cdf);
      if (!leaf[l].items.empty()) {
        users[u].leaves.push_back(l);
        out.preferred_categories[u].push_back(leaf[l].path);
      }
    }
    users[u].price_offset = 0.5 * rnd.Normal();
    activity[u] = std::exp(1.0 * rnd.Normal());
  }
  const std::vector<double> user_cdf = Cdf(activity);

  // Events: funnels of one user and one item at a random time.
  const int64_t start_ms = o.end_ms - int64_t{std::max(1, o.days)} * 86400000;
  const double span_ms = static_cast<double>(o.end_ms - start_ms);
  const auto add = [&out](int u, int i, EventType type, double value,
                          int64_t ts) {
    Event e;
    e.user_id = absl::StrCat("u", u);
    e.item_id = absl::StrCat("i", i);
    e.type = type;
    e.value = value;
    e.timestamp_ms = ts;
    out.events.push_back(std::move(e));
  };
  const int64_t target = std::max<int64_t>(1, o.events);
  out.events.reserve(static_cast<size_t>(target) + 16);
  while (static_cast<int64_t>(out.events.size()) < target) {
    const int u = rnd.Pick(user_cdf);
    const User& user = users[u];
    int64_t ts = start_ms + static_cast<int64_t>(rnd.Uniform() * span_ms);
    // Impressions: shown items, mostly popular ones, regardless of taste.
    if (rnd.Chance(0.2)) {
      add(u, rnd.Pick(global_cdf), EventType::kImpression, 0, ts);
      continue;
    }
    const bool taste = !user.leaves.empty() && rnd.Chance(o.taste_strength);
    int i;
    if (taste) {
      const Leaf& l =
          leaf[user.leaves[rnd.Below(static_cast<int>(user.leaves.size()))]];
      // Of three popular picks in the category, the closest to the price band.
      const double want = l.log_price + user.price_offset;
      i = l.items[rnd.Pick(l.cdf)];
      for (int k = 0; k < 2; ++k) {
        const int other = l.items[rnd.Pick(l.cdf)];
        if (std::abs(item_log_price[other] - want) <
            std::abs(item_log_price[i] - want)) {
          i = other;
        }
      }
    } else {
      i = rnd.Pick(global_cdf);
    }
    add(u, i, EventType::kView, 0, ts);
    if (!taste && rnd.Chance(0.03)) {
      add(u, i, EventType::kDislike, 0, ts + 5000);
      continue;
    }
    if (!rnd.Chance(taste ? 0.35 : 0.15)) continue;
    ts += 2000 + rnd.Below(30000);
    add(u, i, EventType::kClick, 0, ts);
    if (!rnd.Chance(taste ? 0.35 : 0.15)) continue;
    ts += 10000 + rnd.Below(300000);
    add(u, i, EventType::kAddToCart, 1, ts);
    if (rnd.Chance(0.15)) {
      add(u, i, EventType::kRemoveFromCart, 1, ts + 60000);
      continue;
    }
    if (!rnd.Chance(0.55)) continue;
    ts += 60000 + rnd.Below(3600000);
    add(u, i, EventType::kPurchase, 1, ts);
    if (rnd.Chance(0.3)) {
      const double rating = taste ? 4 + rnd.Below(2) : 2 + rnd.Below(3);
      add(u, i, EventType::kRating, rating, ts + 86400000);
    }
  }
  std::stable_sort(out.events.begin(), out.events.end(),
                   [](const Event& a, const Event& b) {
                     return a.timestamp_ms < b.timestamp_ms;
                   });
  for (size_t k = 0; k < out.events.size(); ++k) {
    out.events[k].event_id = absl::StrCat("e", k);
  }
  return out;
}

}  // namespace aisle::core
