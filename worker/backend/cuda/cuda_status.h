// Turns a failed CUDA runtime or cuBLAS call into a ps::Status that names the call, the source
// file and line, and the library's error name and text. The check macros (runtime/cuda_check.h)
// call this; it includes no CUDA header so it is tested on machines without the toolkit.
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "common/util/status.h"

namespace ps::cuda {

enum class FailureKind {
  kOutOfMemory,  // -> ResourceExhausted
  kNoDevice,     // no device or no usable driver -> Unavailable
  kOther,        // -> Internal
};

// "<library> call <call> failed at <file>:<line>: <error_name> (<error_text>)". `file` is cut to
// the part from "worker/" on when it contains it, so messages do not depend on the build path.
Status CallFailure(std::string_view library, std::string_view call, std::string_view error_name,
                   std::string_view error_text, FailureKind kind, std::string_view file, int line);

}  // namespace ps::cuda
