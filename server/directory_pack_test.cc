// Packing a directory's files into one byte sequence and back, in one
// piece and streamed in parts of every size.
#include "server/directory_pack.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace aisle::server {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the test's temporary directory, removed after.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/directory-pack-XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// A directory with a small file, an empty one, a 70,000-byte binary one
// and a subdirectory (not packed).
fs::path MakeFiles(const TempDir& dir, std::string* binary) {
  const fs::path from = dir.Sub("from");
  fs::create_directories(from / "subdir");
  std::ofstream(from / "CURRENT") << "MANIFEST-000005\n";
  std::ofstream(from / "empty");
  binary->assign(70000, '\0');
  for (size_t i = 0; i < binary->size(); ++i) {
    (*binary)[i] = static_cast<char>(i * 7 + i / 256);
  }
  std::ofstream(from / "000007.sst", std::ios::binary) << *binary;
  return from;
}

TEST(DirectoryPackTest, PackAndUnpackRoundTripEveryFile) {
  TempDir dir;
  std::string binary;
  const fs::path from = MakeFiles(dir, &binary);
  ASSERT_OK_AND_ASSIGN(std::string packed, PackDirectory(from.string()));

  const fs::path to = dir.Sub("to");
  ASSERT_OK(UnpackDirectory(packed, to.string()));
  EXPECT_EQ(ReadFile(to / "CURRENT"), "MANIFEST-000005\n");
  EXPECT_EQ(ReadFile(to / "000007.sst"), binary);
  EXPECT_TRUE(fs::exists(to / "empty"));
  EXPECT_FALSE(fs::exists(to / "subdir"));
  // Not over an existing directory.
  EXPECT_FALSE(UnpackDirectory(packed, to.string()).ok());
}

TEST(DirectoryPackTest, UnpackRefusesBytesItDidNotMake) {
  TempDir dir;
  const fs::path from = dir.Sub("from");
  fs::create_directories(from);
  std::ofstream(from / "file") << "contents";
  ASSERT_OK_AND_ASSIGN(std::string packed, PackDirectory(from.string()));
  // Cut short, wrong header, and a name that climbs out of the directory.
  EXPECT_TRUE(absl::IsInvalidArgument(
      UnpackDirectory(packed.substr(0, packed.size() - 1), dir.Sub("a"))));
  EXPECT_TRUE(
      absl::IsInvalidArgument(UnpackDirectory("not a snapshot", dir.Sub("b"))));
  std::string climbing = packed;
  const size_t at = climbing.find("file");
  ASSERT_NE(at, std::string::npos);
  climbing.replace(at, 4, "../x");
  EXPECT_TRUE(absl::IsInvalidArgument(UnpackDirectory(climbing, dir.Sub("c"))));
  EXPECT_FALSE(fs::exists(fs::path(dir.Sub("c")).parent_path() / "x"));
}

TEST(DirectoryPackTest, StreamedInPartsOfAnySizeItIsTheSame) {
  TempDir dir;
  std::string binary;
  const fs::path from = MakeFiles(dir, &binary);
  ASSERT_OK_AND_ASSIGN(std::string whole, PackDirectory(from.string()));
  ASSERT_OK_AND_ASSIGN(PackedDirectory packed,
                       PackedDirectory::Open(from.string()));
  ASSERT_EQ(packed.size(), whole.size());
  int n = 0;
  for (size_t part : {size_t{1}, size_t{3}, size_t{17}, size_t{4096},
                      size_t{65536}, whole.size()}) {
    // Read in parts (segments cut anywhere), as PutFrom reads it.
    std::string read;
    for (uint64_t offset = 0; offset < packed.size(); offset += part) {
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(part, packed.size() - offset));
      std::string chunk(take, '\0');
      ASSERT_OK(packed.Read(offset, take, chunk.data()));
      read += chunk;
    }
    EXPECT_EQ(read, whole) << "parts of " << part;
    // Unpacked from parts of the same size, as GetTo hands them over.
    const fs::path to = dir.Sub("to" + std::to_string(n++));
    DirectoryUnpacker unpacker(to.string());
    for (size_t at = 0; at < whole.size(); at += part) {
      ASSERT_OK(unpacker.Add(std::string_view(whole).substr(at, part)));
    }
    ASSERT_OK(unpacker.Finish());
    EXPECT_EQ(ReadFile(to / "CURRENT"), "MANIFEST-000005\n");
    EXPECT_EQ(ReadFile(to / "000007.sst"), binary);
    EXPECT_TRUE(fs::exists(to / "empty"));
  }
  EXPECT_FALSE(packed.Read(packed.size() - 1, 2, whole.data()).ok());
}

}  // namespace
}  // namespace aisle::server
