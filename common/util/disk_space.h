// Whether a file of a known size fits on the filesystem it is about to be written to, checked
// before a long write (make-model's multi-gigabyte models) so that it fails at once, naming the
// numbers, instead of minutes later with ENOSPC and a partial file.
// Thread-safety: pure functions (FreeDiskBytes asks the operating system).
#pragma once

#include <cstdint>
#include <string>

#include "common/util/status.h"

namespace ps {

// The folder that will hold `path` (its parent; "." for a bare file name).
std::string FolderOf(const std::string& path);

// Bytes an unprivileged writer may still use on the filesystem of the folder that will hold
// `path` (statvfs: f_bavail * f_frsize). IOError naming the folder when it cannot be asked.
Result<uint64_t> FreeDiskBytes(const std::string& path);

// Ok when `needed` bytes fit in `free_bytes`; else ResourceExhausted naming `path`, its folder,
// and both amounts (bytes and binary units).
Status CheckFreeSpace(const std::string& path, uint64_t needed, uint64_t free_bytes);

}  // namespace ps
