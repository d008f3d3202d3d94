// Deterministic synthetic store for demos, load tests and tests of the
// engine: a category tree of items with titles, prices, a style tag and a
// brand of their leaf (so content predicts taste), users with
// planted tastes (a few preferred categories and a price band), and a
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
  // How often a user's attributes follow their taste (DemoData::users).
  double attribute_signal = 0.75;
};

// The demo's attribute values: kDemoAgeBands[d % 5] is department d's
// age band, kDemoRegions[d % 4] its region.
inline constexpr const char* kDemoAgeBands[] = {"18-24", "25-34", "35-44",
                                                "45-54", "55+"};
inline constexpr const char* kDemoRegions[] = {"north", "south", "east",
                                               "west"};

struct DemoData {
  std::vector<Item> items;    // ids "i0".."i<N-1>"
  std::vector<Event> events;  // by timestamp; ids "e0".., users "u0"..
  // Every user's attributes, "u0".. in order: age_band (one of five) and
  // region (one of four) carry the planted taste: with probability
  // attribute_signal the age band is the one of the department of the
  // user's first preferred category (department d: band d % 5), the
  // region that of their second (d % 4); otherwise uniform. Drawn from
  // their own random stream: items and events are the same as without.
  std::vector<UserAttributes> users;
};

// Returns the demo store; sizes are clamped to at least 1.
DemoData GenerateDemoData(const DemoOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_DEMO_DATA_H_
