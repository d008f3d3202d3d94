// CRC32C (Castagnoli polynomial, as used by iSCSI, ext4 and LevelDB), used
// to detect damaged model blobs and engine snapshots. Uses the SSE4.2
// instruction where the CPU has it (GB/s), else a portable table.
//
// Thread safety: pure functions.
#ifndef AISLE_CORE_CRC32C_H_
#define AISLE_CORE_CRC32C_H_

#include <cstdint>
#include <string_view>

namespace aisle::core {

// Extends `crc` (the CRC32C of some preceding bytes, 0 for none) with
// `data`. Crc32c("123456789") == 0xE3069283.
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);
inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data); }

}  // namespace aisle::core

#endif  // AISLE_CORE_CRC32C_H_
