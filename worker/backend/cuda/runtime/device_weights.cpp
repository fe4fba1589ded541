#include "worker/backend/cuda/runtime/device_weights.h"

#include <string>

#include "common/quant/quant.h"
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
  if (t == nullptr) return Status::NotFound("CUDA backend: a weight matrix is missing");
  if (!TraitsOf(t->type).supported) {
    return Status::Unsupported("tensor " + t->name + ": type " + std::string(TypeName(t->type)) + " not supported");
  }
  const int64_t t_cols = t->ne.empty() ? 0 : t->ne[0];
  if (t_cols != cols || t->n_rows() != rows) {
    return Status::Corruption("tensor " + t->name + ": shape " + t->ShapeString() + ", expected [" +
                              std::to_string(cols) + ", " + std::to_string(rows) + "]");
  }
  return Upload(t->name, t->type, t->data, cols, rows);
}

Result<DeviceBuffer> UploadVector(const gguf::TensorInfo* t, int64_t n) {
  if (t == nullptr) return Status::NotFound("CUDA backend: a norm or rope tensor is missing");
  if (!TraitsOf(t->type).supported || t->n_elements() < n || t->ne.empty() || t->ne[0] < n) {
    return Status::Corruption("tensor " + t->name + ": shape " + t->ShapeString() + " type " +
                              std::string(TypeName(t->type)) + ", expected at least " + std::to_string(n) +
                              " elements");
  }
  std::vector<float> v(t->ne[0]);
  DequantizeRow(t->type, t->data, v.data(), t->ne[0]);
  v.resize(n);
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
