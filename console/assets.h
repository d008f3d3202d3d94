// The console's pages: the files of console/assets/, compiled into the
// binary by embed_assets.cmake (the generated console_assets.cc defines
// FindAsset).
//
// Thread safety: immutable data.
#ifndef AISLE_CONSOLE_ASSETS_H_
#define AISLE_CONSOLE_ASSETS_H_

#include <string_view>

namespace aisle::console {

struct Asset {
  std::string_view path;          // "/console.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view data;
};

// The asset served at `path`, or nullptr when there is none.
const Asset* FindAsset(std::string_view path);

}  // namespace aisle::console

#endif  // AISLE_CONSOLE_ASSETS_H_
