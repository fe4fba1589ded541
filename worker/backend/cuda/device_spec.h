// The --device flag of the worker and the bench: "cpu" or "cuda:N" (N a CUDA device index).
// Thread-safety: pure functions on plain values.
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"

namespace ps {

struct DeviceSpec {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = 0;  // CUDA device ordinal; 0 for the CPU
  std::string ToString() const;  // "cpu" or "cuda:N"
};

// InvalidArgument quoting the text when it is neither "cpu" nor "cuda:" followed by a decimal
// index in [0, 1024).
Result<DeviceSpec> ParseDeviceSpec(std::string_view text);

}  // namespace ps
