// What the fuzz targets share: the AISLE_FUZZ_WRITE_SEEDS hook (a target
// writes its seed corpus into that directory and exits) and the input
// layout "first byte picks the variant, the rest is the input".
//
// Thread safety: libFuzzer calls a target from one thread.
#ifndef AISLE_FUZZ_FUZZ_UTIL_H_
#define AISLE_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace aisle::fuzz {

// For LLVMFuzzerInitialize: runs `write_seeds(dir)` and exits when
// AISLE_FUZZ_WRITE_SEEDS=dir is set; returns 0 otherwise.
inline int WriteSeedsIfAsked(void (*write_seeds)(const std::string& dir)) {
  if (const char* dir = std::getenv("AISLE_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

// For LLVMFuzzerTestOneInput: calls `one(first byte, rest)`; an empty
// input does nothing. Returns 0 (libFuzzer's "keep going").
inline int SplitFirstByte(const uint8_t* data, size_t size,
                          void (*one)(uint8_t variant, std::string_view rest)) {
  if (size == 0) return 0;
  one(data[0],
      std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}

}  // namespace aisle::fuzz

#endif  // AISLE_FUZZ_FUZZ_UTIL_H_
