// Time helpers: seconds elapsed on the steady clock since a time point (how long a request, a
// heartbeat's silence or a recovery has lasted), and this host's wall clock in microseconds since
// the Unix epoch (the unit of the micro-batch timelines, comparable across processes).
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>

namespace ps {

inline double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

inline int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace ps
