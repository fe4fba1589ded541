// Byte counts for people: 512 B, 4.3 MiB, 31.9 GiB (binary units, one decimal), as progress
// lines, size warnings and disk-space errors show them.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>

namespace ps {

std::string FormatBytes(uint64_t bytes);

}  // namespace ps
