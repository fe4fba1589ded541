// A streaming-read memory bandwidth probe for `pipeshard bench --roofline`: how fast all threads
// together can read a buffer too large for the caches. Decode reads every weight once per token,
// so weight bytes / this bandwidth bounds decode speed from above.
// Thread-safety: each call owns its buffer and threads; calls may run concurrently (but then they
// measure each other).
#pragma once

#include <cstddef>

#include "common/util/status.h"

namespace ps::cli {

// Bytes of the last-level cache as the OS reports it; 0 when unknown.
size_t LastLevelCacheBytes();

// Reads a buffer of `bytes` (rounded down to whole 64-bit words) `runs` times, each run split
// over `threads` threads, and returns the best run's bytes per second. The buffer is filled with
// non-zero data first so that every page is backed by its own memory (untouched pages all map
// the one zero page, which would be read from cache).
Result<double> MeasureReadBandwidth(size_t bytes, int threads, int runs);

}  // namespace ps::cli
