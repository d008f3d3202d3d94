// Deterministic synthetic store for demos, load tests and tests of the
// engine: a category tree of items with titles, prices, a style tag and a
// brand of their leaf (so content predicts taste), users with attributes
// (age band, region) and planted tastes that lean on them (a few
// preferred categories and a price band), and a
// funnel of events (impression, view >> click > add_to_cart > purchase,
// some ratings and dislikes) over a period of days.
//
// The output depends only on DemoOptions (seed included), not on the
// platform's random distributions: the generator uses its own.
//
// Thread safety: GenerateDemoData is reentrant.
#ifndef AISLE_CORE_DEMO_DATA_H_
#define AISLE_CORE_DEMO_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace aisle::core {

struct DemoOptions {
  uint64_t seed = 42;
  // Category tree: departments x categories x subcategories leaves (at most
  // 8 x 5 x 4, the sizes of the built-in name lists).
  int departments = 8;
  int categories_per_department = 5;
  int subcategories_per_category = 4;
  int items = 20000;
  int users = 5000;
  // Events generated (impressions included); the result may exceed it by
  // the tail of the last funnel.
  int64_t events = 300000;
  int days = 90;
  // Timestamp of the end of the period (unix ms). Default: 2026-11-01.
  int64_t end_ms = 1793491200000;
  double available_fraction = 0.95;
  // Share of a user's item picks from their preferred categories.
  double taste_strength = 0.8;
  // How often a preferred category follows the user's attributes
  // (DemoData::users). 0: attributes carry no signal.
  double attribute_signal = 0.75;
};

// The demo's attribute values, each drawn uniformly per user.
inline constexpr const char* kDemoAgeBands[] = {"18-24", "25-34", "35-44",
                                                "45-54", "55+"};
inline constexpr const char* kDemoRegions[] = {"north", "south", "east",
                                               "west"};
// Departments (0 sports, 1 home, 2 electronics, 3 fashion, 4 beauty,
// 5 toys, 6 garden, 7 books) each age band leans to: 18-24 fashion and
// electronics, 25-34 sports and electronics, 35-44 (young parents) toys
// and home, 45-54 garden and home, 55+ books and garden.
inline constexpr int kBandDepartments[5][2] = {
    {3, 2}, {0, 2}, {5, 1}, {6, 1}, {7, 6}};
// The department each region leans to: the north camps and runs (sports),
// the south gardens, the east reads (books), the west shops beauty.
inline constexpr int kRegionDepartment[4] = {0, 6, 7, 4};

struct DemoData {
  std::vector<Item> items;    // ids "i0".."i<N-1>"
  std::vector<Event> events;  // by timestamp; ids "e0".., users "u0"..
  // Every user's attributes, "u0".. in order: age_band and region, drawn
  // uniformly; the taste follows them. With probability attribute_signal
  // the user's first preferred category is drawn from the departments of
  // their age band (kBandDepartments), and, independently, the second
  // from their region's department (kRegionDepartment); otherwise, like
  // the third, from the whole tree (by popularity). So what users of an
  // age band or region buy says what a new user of it will like, as in a
  // real store, but not for certain.
  std::vector<UserAttributes> users;
  // The planted taste, hidden from the store (for tests that check what
  // a new user is offered): users[u]'s preferred leaf category paths
  // ("department/category/subcategory"), 2-3 of them (repeats possible).
  std::vector<std::vector<std::string>> preferred_categories;
};

// Returns the demo store; sizes are clamped to at least 1.
DemoData GenerateDemoData(const DemoOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_DEMO_DATA_H_
