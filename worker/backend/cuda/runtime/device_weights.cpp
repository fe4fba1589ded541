#include "worker/backend/cuda/runtime/device_weights.h"

#include <string>

#include "common/quant/quant.h"
#include "worker/backend/common/tensor_checks.h"
#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/runtime/cuda_check.h"
#include "worker/backend/cuda/weight_format.h"

namespace ps::cuda {

Result<DeviceMatrix> DeviceMatrix::Upload(const std::string& name, GgmlType type, const uint8_t* data, int64_t cols,
                                          int64_t rows) {
  PS_RETURN_IF_ERROR(CheckWeightMatrix(name, type, cols));
  if (rows < 1) return Status::Corruption("tensor " + name + ": " + std::to_string(rows) + " rows");
  PS_ASSIGN_OR_RETURN(const size_t row_bytes, RowBytes(type, cols));
  const size_t pitch = RowPitch(row_bytes);
  DeviceMatrix m;
  PS_ASSIGN_OR_RETURN(m.buffer_, DeviceBuffer::Allocate(pitch * static_cast<size_t>(rows)));
  // Zeroed padding: the last tile of a row reads it (and multiplies nothing with it).
  PS_CUDA_CHECK(cudaMemset(m.buffer_.as<uint8_t>(), 0, m.buffer_.bytes()));
  PS_CUDA_CHECK(cudaMemcpy2D(m.buffer_.as<uint8_t>(), pitch, data, row_bytes, row_bytes, static_cast<size_t>(rows),
                             cudaMemcpyHostToDevice));
  m.view_ = DeviceMatrixView{type, m.buffer_.as<uint8_t>(), pitch, rows, cols};
  return m;
}

Result<DeviceMatrix> DeviceMatrix::FromTensor(const gguf::TensorInfo* t, int64_t cols, int64_t rows) {
  PS_RETURN_IF_ERROR(CheckMatrix(t, cols, rows, "CUDA backend"));
  return Upload(t->name, t->type, t->data, cols, rows);
}

Result<DeviceBuffer> UploadVector(const gguf::TensorInfo* t, int64_t n) {
  PS_ASSIGN_OR_RETURN(const std::vector<float> v, ReadVector(t, n, "CUDA backend"));
  return UploadFloats(v);
}

Result<DeviceBuffer> UploadFloats(const std::vector<float>& values) {
  PS_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(values.size() * sizeof(float)));
  if (!values.empty()) {
    PS_CUDA_CHECK(cudaMemcpy(buffer.as<float>(), values.data(), buffer.bytes(), cudaMemcpyHostToDevice));
  }
  return buffer;
}

}  // namespace ps::cuda
