#include "ceres_wiberg/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ceres_wiberg {
namespace {

Status OsError(const std::string& what, const std::string& path, int error_number) {
  return Status(StatusCode::kInternalError,
                "cannot " + what + " '" + path + "': " + std::strerror(error_number));
}

// The directory holding `path` ("." for a bare file name).
std::string DirectoryOf(const std::string& path) {
  const std::string::size_type slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& contents, bool durable) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return OsError("create", temporary, errno);

  const char* data = contents.data();
  size_t remaining = contents.size();
  while (remaining > 0) {
    const ssize_t written = ::write(fd, data, remaining);
    if (written < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      ::close(fd);
      ::unlink(temporary.c_str());
      return OsError("write", temporary, error_number);
    }
    data += written;
    remaining -= static_cast<size_t>(written);
  }
  if (durable && ::fsync(fd) != 0) {
    const int error_number = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    return OsError("fsync", temporary, error_number);
  }
  if (::close(fd) != 0) {
    const int error_number = errno;
    ::unlink(temporary.c_str());
    return OsError("close", temporary, error_number);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error_number = errno;
    ::unlink(temporary.c_str());
    return OsError("rename '" + temporary + "' to", path, error_number);
  }
  if (!durable) return Status::Ok();
  // Make the rename itself durable. Best effort: some file systems refuse
  // fsync on directories, and the data is already safely in place.
  const int directory_fd = ::open(DirectoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd >= 0) {
    ::fsync(directory_fd);
    ::close(directory_fd);
  }
  return Status::Ok();
}

Status ReadFileToString(const std::string& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgumentError("cannot open '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return InvalidArgumentError("cannot read '" + path + "'");
  *contents = buffer.str();
  return Status::Ok();
}

}  // namespace ceres_wiberg
