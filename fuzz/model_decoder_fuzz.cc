// The model file decoder on arbitrary bytes: Deserialize, PeekMetadata and
// PeekUserVectors must answer DataLoss for damaged input, never crash,
// read out of bounds or allocate without bound. A blob that decodes must
// serialize to bytes that decode again.
//
// The checksum would make almost every mutation fail before the body is
// parsed; so the target also rewrites the header's CRC32C to match the
// mutated body (first input byte odd), which lets the fuzzer reach the
// body parser and Create's consistency checks.
//
// AISLE_FUZZ_WRITE_SEEDS=DIR: writes two small valid models (with and
// without user vectors) into DIR (how fuzz/corpus/model_decoder/ was made)
// and exits.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "core/crc32c.h"
#include "core/model.h"

namespace aisle::core {
namespace {

// model.cc's header: 8-byte magic, u32 format version, u32 CRC32C of the
// body, u64 body size, then the body.
constexpr size_t kHeaderSize = 24;
constexpr size_t kCrcOffset = 12;

void WriteSeeds(const std::string& dir) {
  RowMatrix items(3, 4);
  RowMatrix users(2, 4);
  for (int i = 0; i < items.size(); ++i) items.data()[i] = 0.1f * i;
  for (int i = 0; i < users.size(); ++i) users.data()[i] = -0.2f * i;
  ModelMetadata metadata;
  metadata.version = "20260101T000000-seed";
  metadata.factors = 4;
  metadata.parameters = {{"alpha", "1"}, {"regularization", "0.1"}};
  auto model = FactorModel::Create(metadata, {"i1", "i2", "i3"}, items,
                                   {"u1", "u2"}, users, ModelOptions{});
  if (!model.ok()) std::abort();
  // The leading byte is the target's own (even: keep the checksum).
  std::ofstream(dir + "/with_users", std::ios::binary)
      << '\0' << (*model)->Serialize();
  std::ofstream(dir + "/without_users", std::ios::binary)
      << '\0' << (*model)->SerializeWithoutUsers();
}

}  // namespace
}  // namespace aisle::core

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("AISLE_FUZZ_WRITE_SEEDS")) {
    aisle::core::WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aisle::core;
  if (size == 0) return 0;
  std::string blob(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) != 0 && blob.size() >= kHeaderSize) {
    const uint32_t crc = Crc32c(std::string_view(blob).substr(kHeaderSize));
    std::memcpy(blob.data() + kCrcOffset, &crc, sizeof(crc));
  }
  (void)FactorModel::PeekMetadata(blob);
  (void)FactorModel::PeekUserVectors(blob);
  ModelOptions options;
  options.defer_ann = true;
  auto model = FactorModel::Deserialize(blob, options);
  if (!model.ok()) return 0;
  const std::string again = (*model)->Serialize();
  if (!FactorModel::Deserialize(again, options).ok()) std::abort();
  return 0;
}
