// The --device flag of the worker and the bench: "cpu" or "cuda:N" (N a CUDA device index).
// Thread-safety: pure functions on plain values.
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"

namespace ps {

struct DeviceSpec {
  // kSim: an emulated catalog device (worker/backend/sim/sim_backend.h), named by `sim_device`.
  enum class Kind { kCpu, kCuda, kSim };
  Kind kind = Kind::kCpu;
  int index = 0;  // CUDA device ordinal; 0 for the CPU
  std::string sim_device = {};
  std::string ToString() const;  // "cpu", "cuda:N" or "sim:NAME"
};

// InvalidArgument quoting the text when it is neither "cpu", "cuda:" followed by a decimal index
// in [0, 1024), nor "sim:" followed by a name (1 to 64 letters, digits, '-', '_' or '.'; the
// caller looks it up in a hardware catalog).
Result<DeviceSpec> ParseDeviceSpec(std::string_view text);

}  // namespace ps
