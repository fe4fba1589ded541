#include "worker/backend/cpu/kv_cache.h"

#include <new>
#include <string>

#include "common/quant/quant.h"
#include "worker/backend/cpu/kernels/ops_avx2.h"

namespace ps::cpu {

KvCache::KvCache(int64_t n_layers, int64_t n_ctx, int64_t n_embd_kv, int32_t max_seqs, bool f16,
                 KernelLevel level)
    : n_layers_(n_layers),
      n_ctx_(n_ctx),
      n_embd_kv_(n_embd_kv),
      f16_(f16),
      f16c_(level == KernelLevel::kAvx2),
      length_(max_seqs, 0),
      f16_k_(max_seqs),
      f16_v_(max_seqs),
      f32_k_(max_seqs),
      f32_v_(max_seqs) {}

namespace {
// Uninitialised on purpose: pages are touched only as positions are written, and reads never go
// past a sequence's committed length.
template <typename T>
bool Allocate(std::unique_ptr<T[]>& p, size_t n) {
  if (p) return true;
  p.reset(new (std::nothrow) T[n]);
  return p != nullptr;
}
}  // namespace

Status KvCache::Reserve(int32_t seq) {
  const size_t n = ElementsPerSeq();
  const bool ok = f16_ ? Allocate(f16_k_[seq], n) && Allocate(f16_v_[seq], n)
                       : Allocate(f32_k_[seq], n) && Allocate(f32_v_[seq], n);
  if (!ok) {
    Free(seq);
    return Status::ResourceExhausted("KV cache of sequence " + std::to_string(seq) + ": cannot allocate " +
                                     std::to_string(2 * n * (f16_ ? 2 : 4)) + " bytes");
  }
  return Status::Ok();
}

void KvCache::Free(int32_t seq) {
  length_[seq] = 0;
  f16_k_[seq].reset();
  f16_v_[seq].reset();
  f32_k_[seq].reset();
  f32_v_[seq].reset();
}

void KvCache::Store(int32_t seq, int64_t layer, int32_t pos, const float* k, const float* v) {
  const size_t off = Offset(layer, pos);
  if (f16_) {
    uint16_t* kd = f16_k_[seq].get() + off;
    uint16_t* vd = f16_v_[seq].get() + off;
    if (f16c_) {
      RoundToF16RowAvx2(k, kd, n_embd_kv_);
      RoundToF16RowAvx2(v, vd, n_embd_kv_);
      return;
    }
    for (int64_t i = 0; i < n_embd_kv_; ++i) {
      kd[i] = Fp32ToFp16(k[i]);
      vd[i] = Fp32ToFp16(v[i]);
    }
  } else {
    float* kd = f32_k_[seq].get() + off;
    float* vd = f32_v_[seq].get() + off;
    for (int64_t i = 0; i < n_embd_kv_; ++i) {
      kd[i] = k[i];
      vd[i] = v[i];
    }
  }
}

}  // namespace ps::cpu
