// A property a fuzzer asserts about the code under test: when it does not hold, the fuzzer says
// which and aborts, and libFuzzer saves the input as a crash.
// Thread-safety: stateless.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace ps::fuzz {

inline void Check(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

}  // namespace ps::fuzz
