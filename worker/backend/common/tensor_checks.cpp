#include "worker/backend/common/tensor_checks.h"

#include <string>

#include "common/quant/ggml_type.h"
#include "common/quant/quant.h"

namespace ps {

Status CheckMatrix(const gguf::TensorInfo* t, int64_t cols, int64_t rows, std::string_view backend) {
  if (t == nullptr) return Status::NotFound(std::string(backend) + ": a weight matrix is missing");
  if (!TraitsOf(t->type).supported) {
    return Status::Unsupported("tensor " + t->name + ": type " + std::string(TypeName(t->type)) + " not supported");
  }
  const int64_t t_cols = t->ne.empty() ? 0 : t->ne[0];
  if (t_cols != cols || t->n_rows() != rows) {
    return Status::Corruption("tensor " + t->name + ": shape " + t->ShapeString() + ", expected [" +
                              std::to_string(cols) + ", " + std::to_string(rows) + "]");
  }
  return Status::Ok();
}

Result<std::vector<float>> ReadVector(const gguf::TensorInfo* t, int64_t n, std::string_view backend) {
  if (t == nullptr) return Status::NotFound(std::string(backend) + ": a norm or rope tensor is missing");
  if (!TraitsOf(t->type).supported || t->n_elements() < n || t->ne.empty() || t->ne[0] < n) {
    return Status::Corruption("tensor " + t->name + ": shape " + t->ShapeString() + " type " +
                              std::string(TypeName(t->type)) + ", expected at least " + std::to_string(n) +
                              " elements");
  }
  std::vector<float> v(t->ne[0]);
  DequantizeRow(t->type, t->data, v.data(), t->ne[0]);
  v.resize(n);
  return v;
}

}  // namespace ps
