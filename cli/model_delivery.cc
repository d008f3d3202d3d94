#include "cli/model_delivery.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cli/text.h"
#include "server/model_manager.h"

namespace aisle::cli {

namespace fs = std::filesystem;

absl::Status WriteFileAtomically(const fs::path& dir, const std::string& name,
                                 std::string_view blob) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        Cat("cannot create ", dir.string(), ": ", ec.message()));
  }
  const fs::path tmp = dir / (name + ".tmp");
  const fs::path final_path = dir / name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        Cat("cannot create ", tmp.string(), ": ", std::strerror(errno)));
  }
  size_t off = 0;
  while (off < blob.size()) {
    const ssize_t n = ::write(fd, blob.data() + off, blob.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      fs::remove(tmp, ec);
      return absl::UnavailableError(Cat("writing ", tmp.string(), ": ", why));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    fs::remove(tmp, ec);
    return absl::UnavailableError(
        Cat("syncing ", tmp.string(), ": ", std::strerror(errno)));
  }
  fs::rename(tmp, final_path, ec);
  if (ec) {
    return absl::UnavailableError(Cat("renaming ", tmp.string(), " to ",
                                      final_path.string(), ": ", ec.message()));
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DeliverModel(const std::string& data_dir,
                                         bool server_running,
                                         storage::Store& store,
                                         const core::ModelMetadata& metadata,
                                         const std::string& blob,
                                         bool activate) {
  if (server_running) {
    const fs::path inbox = server::ModelInboxDir(data_dir);
    const std::string name = metadata.version + ".model";
    if (absl::Status s = WriteFileAtomically(inbox, name, blob); !s.ok()) {
      return s;
    }
    std::string where =
        Cat("written to ", (inbox / name).string(),
            "; the running server will validate, store and activate it at its "
            "next model poll (check with `aisle models list --data-dir ",
            data_dir, "` or `aisle model info`)");
    if (!activate) {
      where +=
          "; note: --no-activate does not apply to the inbox, the server "
          "activates inbox models";
    }
    return where;
  }
  if (absl::Status s = store.PutModel(metadata, blob); !s.ok()) {
    return absl::Status(s.code(), Cat("storing the model: ", s.message()));
  }
  if (!activate) {
    return Cat("stored, not active (activate with `aisle models activate ",
               metadata.version, " --data-dir ", data_dir, "`)");
  }
  if (absl::Status s = store.SetActiveModel(metadata.version); !s.ok()) {
    return absl::Status(s.code(), Cat("activating the model: ", s.message()));
  }
  return std::string(
      "stored and activated; the next `aisle serve` on this data dir serves "
      "it");
}

}  // namespace aisle::cli
