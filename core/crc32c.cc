#include "core/crc32c.h"

#include <array>
#include <cstring>

namespace aisle::core {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // reflected 0x1EDC6F41

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t TableExtend(uint32_t c, std::string_view data) {
  for (const char ch : data) {
    c = kTable[(c ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (c >> 8);
  }
  return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The SSE4.2 CRC32 instruction computes the same polynomial 8 bytes at a
// time (engine snapshots are checked at start-up: hundreds of MB).
__attribute__((target("sse4.2"))) uint32_t HardwareExtend(
    uint32_t c, std::string_view data) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c64 = __builtin_ia32_crc32di(c64, word);
  }
  return TableExtend(static_cast<uint32_t>(c64), std::string_view(p, n));
}
const bool kHasHardwareCrc = __builtin_cpu_supports("sse4.2");
#else
uint32_t HardwareExtend(uint32_t c, std::string_view data) {
  return TableExtend(c, data);
}
constexpr bool kHasHardwareCrc = false;
#endif

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, std::string_view data) {
  const uint32_t c =
      kHasHardwareCrc ? HardwareExtend(~crc, data) : TableExtend(~crc, data);
  return ~c;
}

}  // namespace aisle::core
