#include "common/util/disk_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/util/byte_size.h"

namespace ps {

std::string FolderOf(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

Result<uint64_t> FreeDiskBytes(const std::string& path) {
  const std::string folder = FolderOf(path);
  struct statvfs fs {};
  if (statvfs(folder.c_str(), &fs) != 0) {
    std::string message = folder;
    message += ": cannot read the free disk space: ";
    message += std::strerror(errno);
    return Status::IOError(std::move(message));
  }
  return static_cast<uint64_t>(fs.f_bavail) * static_cast<uint64_t>(fs.f_frsize);
}

Status CheckFreeSpace(const std::string& path, uint64_t needed, uint64_t free_bytes) {
  if (needed <= free_bytes) return Status::Ok();
  std::string message = "not enough disk space for ";
  message += path;
  message += ": it needs ";
  message += FormatBytes(needed);
  message += " (";
  message += std::to_string(needed);
  message += " bytes) and ";
  message += FolderOf(path);
  message += " has ";
  message += FormatBytes(free_bytes);
  message += " (";
  message += std::to_string(free_bytes);
  message += " bytes) free";
  return Status::ResourceExhausted(std::move(message));
}

}  // namespace ps
