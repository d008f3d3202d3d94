// The catalog side of Engine::State: upserting and deleting items, and the
// category index (every prefix of every category path, with the catalog
// items under it) that filters and the content source read, and the
// content vectors (core/content.h).
#include <algorithm>
#include <string>
#include <string_view>

#include "core/engine_state.h"

namespace aisle::core {

void Engine::State::Upsert(const Item& item) {
  const int32_t i = InternItem(item.item_id);
  ItemRec& rec = items[i];
  for (int32_t p : rec.prefixes) {
    auto& list = prefix_items[p];
    list.erase(std::remove(list.begin(), list.end(), i), list.end());
  }
  rec.prefixes.clear();
  rec.leaves.clear();
  if (!rec.in_catalog) ++catalog_size;
  rec.in_catalog = true;
  listed[i] = 1;
  ++listed_epoch;
  rec.item = item;
  content.Upsert(i, item);
  content.SetFresh(i, n_all[i] <= 0);
  for (const std::string& path : item.categories) {
    const std::string_view p = TrimSlashes(path);
    if (p.empty()) continue;
    for (size_t pos = 0;;) {
      const size_t slash = p.find('/', pos);
      const std::string_view prefix = p.substr(0, slash);
      const int32_t id = InternPrefix(prefix);
      if (std::find(rec.prefixes.begin(), rec.prefixes.end(), id) ==
          rec.prefixes.end()) {
        rec.prefixes.push_back(id);
        prefix_items[id].push_back(i);
      }
      if (slash == std::string_view::npos) {
        rec.leaves.push_back(id);
        break;
      }
      pos = slash + 1;
    }
  }
}

bool Engine::State::Delete(std::string_view id) {
  const int32_t i = FindItem(id);
  if (i < 0 || !items[i].in_catalog) return false;
  ItemRec& rec = items[i];
  for (int32_t p : rec.prefixes) {
    auto& list = prefix_items[p];
    list.erase(std::remove(list.begin(), list.end(), i), list.end());
  }
  rec = ItemRec();
  listed[i] = 0;
  ++listed_epoch;
  content.Remove(i);
  --catalog_size;
  return true;
}

}  // namespace aisle::core
