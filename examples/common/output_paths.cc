#include "common/output_paths.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

namespace examples {
namespace {

namespace fs = std::filesystem;
using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

Status PathError(const std::string& flag, const std::string& path, const std::string& cause) {
  return InvalidArgumentError(flag + "=" + path + ": " + cause);
}

Status CheckWritableDirectory(const std::string& flag, const std::string& path,
                              const fs::path& directory) {
  std::error_code error;
  if (!fs::is_directory(directory, error)) {
    return PathError(flag, path, "'" + directory.string() + "' is not a directory");
  }
  if (::access(directory.c_str(), W_OK | X_OK) != 0) {
    return PathError(flag, path, "'" + directory.string() + "' is not writable");
  }
  return Status::Ok();
}

}  // namespace

Status PrepareOutputDirectory(const std::string& flag, const std::string& directory) {
  if (directory.empty()) return PathError(flag, directory, "empty path");
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) return PathError(flag, directory, "cannot create it: " + error.message());
  return CheckWritableDirectory(flag, directory, directory);
}

Status CheckOutputFile(const std::string& flag, const std::string& path) {
  if (path.empty()) return PathError(flag, path, "empty path");
  std::error_code error;
  if (fs::is_directory(path, error)) return PathError(flag, path, "it is a directory");
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  return CheckWritableDirectory(flag, path, parent);
}

}  // namespace examples
