// Seconds elapsed on the steady clock since a time point: how long a request, a heartbeat's
// silence or a recovery has lasted.
// Thread-safety: pure function.
#pragma once

#include <chrono>

namespace ps {

inline double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace ps
