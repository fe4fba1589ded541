// What the worker reports about its host: resident memory of this process, the machine's total
// and available memory, and the CPU model, read from /proc.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace ps {

uint64_t ResidentBytes();          // this process's resident set, 0 if /proc is unreadable
uint64_t TotalMemoryBytes();       // MemTotal
uint64_t AvailableMemoryBytes();   // MemAvailable
std::string CpuDescription();      // "model name" of /proc/cpuinfo, or "cpu"

}  // namespace ps
