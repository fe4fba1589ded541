#include "transport/allocator_tuning.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ps {

bool TuneAllocatorForFrames() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return false;
  constexpr int kMiB = 1 << 20;
  bool ok = mallopt(M_ARENA_MAX, 1) == 1;
  ok = mallopt(M_MMAP_THRESHOLD, 32 * kMiB) == 1 && ok;  // glibc's largest allowed value
  ok = mallopt(M_TRIM_THRESHOLD, 128 * kMiB) == 1 && ok;
  return ok;
#else
  return false;
#endif
}

}  // namespace ps
