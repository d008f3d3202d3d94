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
};

struct DemoData {
  std::vector<Item> items;    // ids "i0".."i<N-1>"
  std::vector<Event> events;  // by timestamp; ids "e0".., users "u0"..
};

// Returns the demo store; sizes are clamped to at least 1.
DemoData GenerateDemoData(const DemoOptions& options);

}  // namespace aisle::core

#endif  // AISLE_CORE_DEMO_DATA_H_
