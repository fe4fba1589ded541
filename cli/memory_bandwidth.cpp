#include "cli/memory_bandwidth.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace ps::cli {

namespace {

// "32768K" or "32M" as sysfs writes cache sizes.
size_t ParseSysfsSize(const std::string& text) {
  size_t value = 0;
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') value = value * 10 + static_cast<size_t>(text[i++] - '0');
  if (i < text.size() && (text[i] == 'K' || text[i] == 'k')) return value << 10;
  if (i < text.size() && (text[i] == 'M' || text[i] == 'm')) return value << 20;
  return value;
}

// Sums words [begin, end): independent accumulators so the loop is bound by loads, not by one
// addition chain.
uint64_t SumWords(const uint64_t* begin, const uint64_t* end) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  const uint64_t* p = begin;
  for (; p + 4 <= end; p += 4) {
    a += p[0];
    b += p[1];
    c += p[2];
    d += p[3];
  }
  for (; p < end; ++p) a += *p;
  return a + b + c + d;
}

}  // namespace

size_t LastLevelCacheBytes() {
  // sysfs lists every cache level of cpu0; the largest is the last level. It is preferred to
  // sysconf because glibc derives sysconf's figure from CPUID, which in a VM can describe the
  // whole host (256 MiB of L3 where the guest sees 32 MiB).
  size_t best = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream in("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    std::string text;
    if (!(in >> text)) continue;
    best = std::max(best, ParseSysfsSize(text));
  }
#ifdef _SC_LEVEL3_CACHE_SIZE
  if (best == 0) {
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) best = static_cast<size_t>(l3);
  }
#endif
  return best;
}

Result<double> MeasureReadBandwidth(size_t bytes, int threads, int runs) {
  if (threads < 1 || runs < 1) return Status::InvalidArgument("bandwidth probe needs threads >= 1 and runs >= 1");
  const size_t words = bytes / sizeof(uint64_t);
  if (words < static_cast<size_t>(threads)) return Status::InvalidArgument("bandwidth probe buffer is too small");
  std::vector<uint64_t> buffer;
  try {
    buffer.resize(words);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes for the bandwidth probe");
  }
  for (size_t i = 0; i < words; ++i) buffer[i] = i * 0x9E3779B97F4A7C15ull + 1;

  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  double best_seconds = 0;
  for (int run = 0; run < runs; ++run) {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(threads));
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      const size_t begin = words * static_cast<size_t>(t) / static_cast<size_t>(threads);
      const size_t end = words * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
      pool.emplace_back([&, t, begin, end] {
        sums[static_cast<size_t>(t)] += SumWords(buffer.data() + begin, buffer.data() + end);
      });
    }
    for (auto& th : pool) th.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (run == 0 || seconds < best_seconds) best_seconds = seconds;
  }
  // The sums feed a volatile store so the reads cannot be optimised away.
  volatile uint64_t sink = 0;
  for (uint64_t s : sums) sink = sink + s;
  if (best_seconds <= 0) return Status::Internal("bandwidth probe measured no time");
  return static_cast<double>(words * sizeof(uint64_t)) / best_seconds;
}

}  // namespace ps::cli
