// Weights resident on the device: matrices in their stored type (no dequantized copy), rows
// padded to a 16-byte pitch for the GEMV kernel's vector loads; 1-D tensors (norms, rope
// factors) widened to F32 as the CPU backend keeps them.
// Thread-safety: immutable after upload.
#pragma once

#include <cstdint>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "worker/backend/cuda/kernels/kernels.h"
#include "worker/backend/cuda/runtime/device_resources.h"

namespace ps::cuda {

class DeviceMatrix {
 public:
  DeviceMatrix() = default;
  // `rows` rows of `cols` elements of `type` at `data` (rows back to back, as in GGUF). Checks
  // that the kernels read the type and shape (launch_config.h), naming `name` on error.
  static Result<DeviceMatrix> Upload(const std::string& name, GgmlType type, const uint8_t* data, int64_t cols,
                                     int64_t rows);
  // A GGUF tensor that must be [cols, rows]: NotFound when missing, Unsupported for a type the
  // kernels cannot read, Corruption for another shape (the CPU backend's checks and messages).
  static Result<DeviceMatrix> FromTensor(const gguf::TensorInfo* t, int64_t cols, int64_t rows);

  const DeviceMatrixView& view() const { return view_; }
  int64_t rows() const { return view_.rows; }
  int64_t cols() const { return view_.cols; }

 private:
  DeviceBuffer buffer_;
  DeviceMatrixView view_;
};

// The first n elements of a 1-D tensor as F32 on the device. Corruption when it has fewer.
Result<DeviceBuffer> UploadVector(const gguf::TensorInfo* t, int64_t n);

// Host floats to a new device buffer (synchronous).
Result<DeviceBuffer> UploadFloats(const std::vector<float>& values);

}  // namespace ps::cuda
