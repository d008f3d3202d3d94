#include "server/directory_pack.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace aisle::server {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPackMagic = "aisle-snapshot 1\n";

void PutFixed(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

uint64_t GetFixed(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i]))
             << (8 * i);
  }
  return value;
}

absl::Status FileError(const char* what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

// `n` bytes of the file at `path` from `offset`.
absl::Status ReadFile(const std::string& path, uint64_t offset, size_t n,
                      char* out) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return FileError("cannot open", path);
  size_t done = 0;
  absl::Status status;
  while (done < n) {
    const ssize_t got =
        ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      status = FileError("cannot read", path);
      break;
    }
    if (got == 0) {
      status = absl::UnavailableError(
          absl::StrCat(path, " got shorter while it was packed"));
      break;
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  return status;
}

}  // namespace

absl::StatusOr<PackedDirectory> PackedDirectory::Open(const std::string& dir) {
  std::error_code ec;
  std::vector<std::pair<std::string, uint64_t>> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    files.emplace_back(entry.path().string(), entry.file_size(ec));
    if (ec) break;
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listing ", dir, ": ", ec.message()));
  }
  std::sort(files.begin(), files.end());
  PackedDirectory out;
  const auto add = [&out](Segment segment) {
    segment.start = out.size_;
    if (!segment.header.empty()) segment.size = segment.header.size();
    out.size_ += segment.size;
    out.segments_.push_back(std::move(segment));
  };
  add({.header = std::string(kPackMagic)});
  for (auto& [path, size] : files) {
    const std::string name = fs::path(path).filename().string();
    Segment header;
    PutFixed(&header.header, name.size(), 4);
    header.header += name;
    PutFixed(&header.header, size, 8);
    add(std::move(header));
    if (size > 0) add({.size = size, .path = std::move(path)});
  }
  return out;
}

absl::Status PackedDirectory::Read(uint64_t offset, size_t n, char* out) const {
  if (offset + n > size_) {
    return absl::OutOfRangeError("read past the end of a packed directory");
  }
  // The last segment starting at or before `offset`, then the next ones.
  size_t i = static_cast<size_t>(
      std::upper_bound(
          segments_.begin(), segments_.end(), offset,
          [](uint64_t o, const Segment& s) { return o < s.start; }) -
      segments_.begin() - 1);
  for (; n > 0; ++i) {
    const Segment& segment = segments_[i];
    const uint64_t at = offset - segment.start;
    const size_t take =
        static_cast<size_t>(std::min<uint64_t>(n, segment.size - at));
    if (!segment.header.empty()) {
      std::memcpy(out, segment.header.data() + at, take);
    } else if (absl::Status s = ReadFile(segment.path, at, take, out);
               !s.ok()) {
      return s;
    }
    out += take;
    offset += take;
    n -= take;
  }
  return absl::OkStatus();
}

DirectoryUnpacker::DirectoryUnpacker(std::string dir) : dir_(std::move(dir)) {}

DirectoryUnpacker::~DirectoryUnpacker() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status DirectoryUnpacker::Add(std::string_view bytes) {
  while (status_.ok() && !bytes.empty()) status_ = Consume(&bytes);
  return status_;
}

absl::Status DirectoryUnpacker::Finish() {
  if (!status_.ok()) return status_;
  if (expect_ != Expect::kNameSize || !pending_.empty()) {
    status_ = absl::InvalidArgumentError(
        "packed snapshot: the bytes end inside a file or its header");
  }
  return status_;
}

absl::Status DirectoryUnpacker::Consume(std::string_view* bytes) {
  if (expect_ == Expect::kContents) {
    const size_t take =
        static_cast<size_t>(std::min<uint64_t>(left_, bytes->size()));
    size_t done = 0;
    while (done < take) {
      const ssize_t wrote = ::write(fd_, bytes->data() + done, take - done);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote < 0) return FileError("writing", dir_ + "/" + name_);
      done += static_cast<size_t>(wrote);
    }
    bytes->remove_prefix(take);
    left_ -= take;
    if (left_ == 0) return CloseFile();
    return absl::OkStatus();
  }
  // A header field: assembled in pending_ until it is whole.
  const size_t field = expect_ == Expect::kMagic      ? kPackMagic.size()
                       : expect_ == Expect::kNameSize ? 4
                       : expect_ == Expect::kName     ? left_
                                                      : 8;
  const size_t take = std::min(field - pending_.size(), bytes->size());
  pending_.append(bytes->substr(0, take));
  bytes->remove_prefix(take);
  if (pending_.size() < field) return absl::OkStatus();
  std::string value = std::move(pending_);
  pending_.clear();
  switch (expect_) {
    case Expect::kMagic: {
      if (value != kPackMagic) {
        return absl::InvalidArgumentError(
            "not a packed snapshot (no \"aisle-snapshot 1\" header)");
      }
      std::error_code ec;
      if (fs::exists(dir_, ec)) {
        return absl::FailedPreconditionError(absl::StrCat(dir_, " exists"));
      }
      if (!fs::create_directories(dir_, ec) || ec) {
        return absl::UnavailableError(
            absl::StrCat("cannot create ", dir_, ": ", ec.message()));
      }
      expect_ = Expect::kNameSize;
      return absl::OkStatus();
    }
    case Expect::kNameSize:
      left_ = GetFixed(value);
      if (left_ == 0 || left_ > 255) {
        return absl::InvalidArgumentError("packed snapshot: bad file name");
      }
      expect_ = Expect::kName;
      return absl::OkStatus();
    case Expect::kName:
      if (value == "." || value == ".." ||
          value.find_first_of(std::string_view("/\0", 2)) !=
              std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("packed snapshot: bad file name \"", value, "\""));
      }
      name_ = std::move(value);
      expect_ = Expect::kFileSize;
      return absl::OkStatus();
    case Expect::kFileSize:
      left_ = GetFixed(value);
      if (absl::Status s = OpenFile(); !s.ok()) return s;
      if (left_ == 0) return CloseFile();
      expect_ = Expect::kContents;
      return absl::OkStatus();
    case Expect::kContents:
      break;
  }
  return absl::InternalError("unreachable");
}

absl::Status DirectoryUnpacker::OpenFile() {
  const std::string path = absl::StrCat(dir_, "/", name_);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd_ < 0) return FileError("cannot create", path);
  return absl::OkStatus();
}

absl::Status DirectoryUnpacker::CloseFile() {
  const bool synced = ::fsync(fd_) == 0;
  const bool closed = ::close(fd_) == 0;
  fd_ = -1;
  expect_ = Expect::kNameSize;
  if (!synced || !closed) return FileError("fsync", dir_ + "/" + name_);
  return absl::OkStatus();
}

absl::StatusOr<std::string> PackDirectory(const std::string& dir) {
  absl::StatusOr<PackedDirectory> packed = PackedDirectory::Open(dir);
  if (!packed.ok()) return packed.status();
  std::string out(packed->size(), '\0');
  if (absl::Status s = packed->Read(0, out.size(), out.data()); !s.ok()) {
    return s;
  }
  return out;
}

absl::Status UnpackDirectory(std::string_view packed, const std::string& dir) {
  DirectoryUnpacker unpacker(dir);
  if (absl::Status s = unpacker.Add(packed); !s.ok()) return s;
  return unpacker.Finish();
}

}  // namespace aisle::server
