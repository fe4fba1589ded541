// Per-sequence F16 key/value cache of one stage's layers in device memory, laid out as the CPU
// backend's KvCache: sequence s holds, for each local layer, [n_ctx, n_embd_kv] rows of K and of
// V. A sequence's memory is allocated on first use (Reserve) and released by Free; kernels find
// it through device-side tables of per-sequence pointers. Its length only moves through Commit,
// so a failed batch leaves nothing behind.
// Thread-safety: one caller at a time (the backend's).
#pragma once

#include <cstdint>
#include <vector>

#include "common/util/status.h"
#include "worker/backend/cuda/kernels/kernels.h"
#include "worker/backend/cuda/runtime/device_resources.h"

namespace ps::cuda {

class DeviceKvCache {
 public:
  DeviceKvCache() = default;
  static Result<DeviceKvCache> Create(int64_t n_layers, int64_t n_ctx, int64_t n_embd_kv, int32_t max_seqs);

  int32_t Length(int32_t seq) const { return length_[seq]; }
  const std::vector<int32_t>& lengths() const { return length_; }
  // Allocates the sequence's memory if it has none. ResourceExhausted naming the size when the
  // device is out of memory.
  Status Reserve(int32_t seq, cudaStream_t stream);
  void Commit(int32_t seq, int32_t length) { length_[seq] = length; }
  // Releases the sequence's memory (cudaFree waits for the device, so no kernel still reads it).
  void Free(int32_t seq);

  KvLayerView Layer(int64_t layer) const;

 private:
  Status Publish(int32_t seq, cudaStream_t stream);  // copies the seq's pointers to the tables

  int64_t n_layers_ = 0;
  int64_t n_ctx_ = 0;
  int64_t n_embd_kv_ = 0;
  std::vector<int32_t> length_;        // [max_seqs]
  std::vector<DeviceBuffer> keys_;     // [max_seqs], each n_layers * n_ctx * n_embd_kv halves
  std::vector<DeviceBuffer> values_;   // [max_seqs]
  std::vector<uint16_t*> host_table_;  // [2 * max_seqs]: key pointers, then value pointers
  DeviceBuffer table_;                 // the same on the device
};

}  // namespace ps::cuda
