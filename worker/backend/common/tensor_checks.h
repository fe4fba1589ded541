// The checks every backend makes on the tensors it binds, with one set of messages: a weight
// matrix has the shape the forward pass indexes it with and a type pipeshard multiplies; a norm or
// rope vector has at least the elements the pass reads (widened to F32 here).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/util/status.h"

namespace ps {

// NotFound (naming `backend`) for a missing tensor; Unsupported for a type pipeshard cannot read;
// Corruption naming the tensor's shape and the expected [cols, rows] otherwise.
Status CheckMatrix(const gguf::TensorInfo* t, int64_t cols, int64_t rows, std::string_view backend);

// The first n elements of a 1-D tensor as F32; errors as CheckMatrix's.
Result<std::vector<float>> ReadVector(const gguf::TensorInfo* t, int64_t n, std::string_view backend);

}  // namespace ps
