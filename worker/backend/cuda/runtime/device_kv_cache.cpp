#include "worker/backend/cuda/runtime/device_kv_cache.h"

#include <string>

#include "worker/backend/cuda/runtime/cuda_check.h"

namespace ps::cuda {

Result<DeviceKvCache> DeviceKvCache::Create(int64_t n_layers, int64_t n_ctx, int64_t n_embd_kv, int32_t max_seqs) {
  DeviceKvCache c;
  c.n_layers_ = n_layers;
  c.n_ctx_ = n_ctx;
  c.n_embd_kv_ = n_embd_kv;
  c.length_.assign(max_seqs, 0);
  c.keys_.resize(max_seqs);
  c.values_.resize(max_seqs);
  c.host_table_.assign(2 * static_cast<size_t>(max_seqs), nullptr);
  PS_ASSIGN_OR_RETURN(c.table_, DeviceBuffer::Allocate(c.host_table_.size() * sizeof(uint16_t*)));
  PS_CUDA_CHECK(cudaMemcpy(c.table_.as<uint16_t*>(), c.host_table_.data(), c.table_.bytes(), cudaMemcpyHostToDevice));
  return c;
}

Status DeviceKvCache::Reserve(int32_t seq, cudaStream_t stream) {
  if (keys_[seq].bytes() > 0) return Status::Ok();
  const size_t bytes = static_cast<size_t>(n_layers_) * n_ctx_ * n_embd_kv_ * sizeof(uint16_t);
  auto k = DeviceBuffer::Allocate(bytes);
  auto v = k.ok() ? DeviceBuffer::Allocate(bytes) : Result<DeviceBuffer>(k.status());
  if (!k.ok() || !v.ok()) {
    return Status::ResourceExhausted("KV cache of sequence " + std::to_string(seq) + ": cannot allocate " +
                                     std::to_string(2 * bytes) + " bytes of device memory: " +
                                     (k.ok() ? v.status() : k.status()).message());
  }
  keys_[seq] = std::move(*k);
  values_[seq] = std::move(*v);
  return Publish(seq, stream);
}

void DeviceKvCache::Free(int32_t seq) {
  length_[seq] = 0;
  if (keys_[seq].bytes() == 0) return;
  keys_[seq] = DeviceBuffer();
  values_[seq] = DeviceBuffer();
  // A stale table entry is never read: kernels only look up sequences of the batch, and those
  // are reserved (and republished) first.
  host_table_[seq] = nullptr;
  host_table_[keys_.size() + seq] = nullptr;
}

Status DeviceKvCache::Publish(int32_t seq, cudaStream_t stream) {
  const size_t n_seqs = keys_.size();
  host_table_[seq] = keys_[seq].as<uint16_t>();
  host_table_[n_seqs + seq] = values_[seq].as<uint16_t>();
  uint16_t** table = table_.as<uint16_t*>();
  // From pageable memory: the copy has read host_table_ when the call returns.
  PS_CUDA_CHECK(cudaMemcpyAsync(table + seq, &host_table_[seq], sizeof(uint16_t*), cudaMemcpyHostToDevice, stream));
  PS_CUDA_CHECK(cudaMemcpyAsync(table + n_seqs + seq, &host_table_[n_seqs + seq], sizeof(uint16_t*),
                                cudaMemcpyHostToDevice, stream));
  return Status::Ok();
}

KvLayerView DeviceKvCache::Layer(int64_t layer) const {
  uint16_t* const* table = table_.as<uint16_t*>();
  return KvLayerView{table, table + keys_.size(), layer * n_ctx_ * n_embd_kv_, n_embd_kv_};
}

}  // namespace ps::cuda
