// The Llama forward pass on the GPU, step for step the CPU backend's (cpu_backend.cpp):
//
//   x = token_embd[token]                      (first stage)  or  x = batch.embeddings
//   for each layer: h = rmsnorm(x) * attn_norm; q, k, v = h W; rope(q, k); cache (k, v);
//                   x += attention(q, cache) Wo; h = rmsnorm(x) * ffn_norm;
//                   x += (silu(h Wgate) * (h Wup)) Wdown
//   logits = (rmsnorm(x) * output_norm) output^T   (last stage, rows asking for logits)
//
// Every step is a kernel on the backend's one stream; the host waits once, when the outputs have
// been copied back, and only then commits the sequences' new lengths.
#include "worker/backend/cuda/runtime/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "worker/backend/common/batch_check.h"
#include "worker/backend/cuda/kernels/kernels.h"
#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/runtime/cuda_check.h"
#include "worker/backend/cuda/runtime/device_kv_cache.h"
#include "worker/backend/cuda/runtime/device_matmul.h"
#include "worker/backend/cuda/runtime/device_resources.h"
#include "worker/backend/cuda/runtime/device_weights.h"

namespace ps {

using cuda::DeviceBuffer;
using cuda::DeviceMatrix;

namespace cuda {
Result<int> DeviceCount() {
  int count = 0;
  // No GPU or no driver is the host's state, not a bug here: said plainly, without the call site.
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    return Status::Unavailable(std::string("no usable CUDA GPU on this host: ") + cudaGetErrorString(err) + " (" +
                               cudaGetErrorName(err) + ")");
  }
  return count;
}
}  // namespace cuda

namespace {

struct Layer {
  DeviceBuffer attn_norm;  // [n_embd] F32
  DeviceMatrix wq;         // [n_embd] -> [n_embd]
  DeviceMatrix wk;         // [n_embd] -> [n_embd_kv]
  DeviceMatrix wv;         // [n_embd] -> [n_embd_kv]
  DeviceMatrix wo;         // [n_embd] -> [n_embd]
  DeviceBuffer ffn_norm;   // [n_embd] F32
  DeviceMatrix gate;       // [n_embd] -> [n_ff]
  DeviceMatrix up;         // [n_embd] -> [n_ff]
  DeviceMatrix down;       // [n_ff] -> [n_embd]
};

Status Grow(DeviceBuffer& buffer, int64_t n, int64_t width) {
  return cuda::EnsureCapacity(buffer, static_cast<size_t>(n * width) * sizeof(float));
}

}  // namespace

struct CudaBackend::Impl {
  LlamaConfig config;
  LayerRange range;
  CudaBackendOptions options;
  bool first_stage = false;
  bool last_stage = false;
  float theta_scale = 0.0f;  // rope: freq_base^(-2 / n_rot)

  // Declared first, destroyed last: everything below enqueues on them.
  cuda::Stream stream;
  cuda::CublasHandle cublas;

  DeviceMatrix tok_embd;      // [n_embd] rows, n_vocab of them; first stage
  std::vector<Layer> layers;  // layers[i] is block range.first + i
  DeviceBuffer output_norm;   // [n_embd]; last stage
  DeviceMatrix output;        // [n_embd] -> [n_vocab]; last stage
  DeviceBuffer rope_freqs;    // [n_rot / 2] or empty
  cuda::DeviceMatMul matmul;
  cuda::DeviceKvCache cache;

  // Device activations, grown to the largest batch seen. Shapes for a batch of n rows:
  int64_t capacity = 0;
  DeviceBuffer x;     // [n, n_embd] residual stream
  DeviceBuffer h;     // [n, n_embd] normed input of a sub-block
  DeviceBuffer q;     // [n, n_embd]
  DeviceBuffer k;     // [n, n_embd_kv]
  DeviceBuffer v;     // [n, n_embd_kv]
  DeviceBuffer attn;  // [n, n_embd]
  DeviceBuffer proj;  // [n, n_embd]
  DeviceBuffer gate;  // [n, n_ff]
  DeviceBuffer up;    // [n, n_ff]
  DeviceBuffer ints;  // [4n] int32: tokens, positions, seq_ids, rows wanting logits
  DeviceBuffer logits;  // [m, n_vocab]
  std::vector<int32_t> host_ints;   // staging for `ints`
  std::vector<int32_t> end_pos;     // [max_seqs] lengths after the batch
  std::vector<int32_t> seq_tokens;  // [max_seqs] tokens of each sequence in the batch

  ~Impl() { static_cast<void>(cudaSetDevice(options.device)); }  // members free on their device

  BatchLimits Limits() const {
    return {first_stage, last_stage, config.n_embd, config.n_vocab, options.n_ctx, options.max_seqs};
  }
  Status Grow(int64_t n);
  Status RunLayer(const Layer& L, int64_t il, int64_t n, const int32_t* positions, const int32_t* seq_ids);
  Status Head(const int32_t* logit_rows, int64_t m, std::vector<float>* out);
};

Status CudaBackend::Impl::Grow(int64_t n) {
  if (n <= capacity) return Status::Ok();
  const int64_t e = config.n_embd;
  const int64_t ekv = config.n_embd_kv();
  const int64_t ff = config.n_ff;
  for (DeviceBuffer* b : {&x, &h, &q, &attn, &proj}) PS_RETURN_IF_ERROR(ps::Grow(*b, n, e));
  for (DeviceBuffer* b : {&k, &v}) PS_RETURN_IF_ERROR(ps::Grow(*b, n, ekv));
  for (DeviceBuffer* b : {&gate, &up}) PS_RETURN_IF_ERROR(ps::Grow(*b, n, ff));
  PS_RETURN_IF_ERROR(cuda::EnsureCapacity(ints, static_cast<size_t>(4 * n) * sizeof(int32_t)));
  if (last_stage) PS_RETURN_IF_ERROR(ps::Grow(logits, n, config.n_vocab));
  capacity = n;
  return Status::Ok();
}

Status CudaBackend::Impl::RunLayer(const Layer& L, int64_t il, int64_t n, const int32_t* positions,
                                   const int32_t* seq_ids) {
  const cudaStream_t st = stream.get();
  const int64_t e = config.n_embd;
  const int64_t ff = config.n_ff;
  const int64_t hd = config.head_dim();
  float* xp = x.as<float>();
  float* hp = h.as<float>();
  float* qp = q.as<float>();
  float* kp = k.as<float>();
  float* vp = v.as<float>();

  // Attention block.
  PS_RETURN_IF_ERROR(cuda::RmsNorm(xp, L.attn_norm.as<float>(), n, e, config.rms_eps, hp, st));  // h[n, e]
  PS_RETURN_IF_ERROR(matmul.Multiply(L.wq, hp, n, qp));  // q[n, e]
  PS_RETURN_IF_ERROR(matmul.Multiply(L.wk, hp, n, kp));  // k[n, ekv]
  PS_RETURN_IF_ERROR(matmul.Multiply(L.wv, hp, n, vp));  // v[n, ekv]
  cuda::RopeParams rope{config.n_head, hd, config.n_rot, theta_scale, rope_freqs.as<float>()};
  PS_RETURN_IF_ERROR(cuda::Rope(qp, n, positions, rope, st));
  rope.n_heads = config.n_head_kv;
  PS_RETURN_IF_ERROR(cuda::Rope(kp, n, positions, rope, st));
  const cuda::KvLayerView kv = cache.Layer(il);
  PS_RETURN_IF_ERROR(cuda::StoreKv(kp, vp, n, seq_ids, positions, kv, st));
  const cuda::AttentionParams shape{config.n_head, config.n_head_kv, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
  PS_RETURN_IF_ERROR(cuda::Attention(qp, n, seq_ids, positions, kv, shape, attn.as<float>(), st));  // attn[n, e]
  PS_RETURN_IF_ERROR(matmul.Multiply(L.wo, attn.as<float>(), n, proj.as<float>()));               // proj[n, e]
  PS_RETURN_IF_ERROR(cuda::AddInPlace(xp, proj.as<float>(), n * e, st));

  // Feed-forward block.
  PS_RETURN_IF_ERROR(cuda::RmsNorm(xp, L.ffn_norm.as<float>(), n, e, config.rms_eps, hp, st));  // h[n, e]
  PS_RETURN_IF_ERROR(matmul.Multiply(L.gate, hp, n, gate.as<float>()));                         // gate[n, ff]
  PS_RETURN_IF_ERROR(matmul.Multiply(L.up, hp, n, up.as<float>()));                             // up[n, ff]
  PS_RETURN_IF_ERROR(cuda::SwiGlu(gate.as<float>(), up.as<float>(), n * ff, st));
  PS_RETURN_IF_ERROR(matmul.Multiply(L.down, gate.as<float>(), n, proj.as<float>()));  // proj[n, e]
  return cuda::AddInPlace(xp, proj.as<float>(), n * e, st);
}

Status CudaBackend::Impl::Head(const int32_t* logit_rows, int64_t m, std::vector<float>* out) {
  const cudaStream_t st = stream.get();
  const int64_t e = config.n_embd;
  out->resize(static_cast<size_t>(m) * config.n_vocab);
  if (m == 0) return Status::Ok();
  // Gather the rows that want logits into h (x viewed as an F32 matrix), then norm them in place.
  const cuda::DeviceMatrixView rows_of_x{GgmlType::F32, x.as<uint8_t>(), static_cast<size_t>(e) * sizeof(float),
                                         capacity, e};
  PS_RETURN_IF_ERROR(cuda::GatherRowsF32(rows_of_x, logit_rows, m, h.as<float>(), st));  // h[m, e]
  PS_RETURN_IF_ERROR(cuda::RmsNorm(h.as<float>(), output_norm.as<float>(), m, e, config.rms_eps, h.as<float>(), st));
  PS_RETURN_IF_ERROR(matmul.Multiply(output, h.as<float>(), m, logits.as<float>()));  // logits[m, n_vocab]
  PS_CUDA_CHECK(cudaMemcpyAsync(out->data(), logits.as<float>(), out->size() * sizeof(float), cudaMemcpyDeviceToHost,
                                st));
  return Status::Ok();
}

Result<std::unique_ptr<CudaBackend>> CudaBackend::Create(const gguf::GgufFile& file, const LlamaConfig& config,
                                                         LayerRange range, const CudaBackendOptions& options) {
  if (options.n_ctx < 1) {
    return Status::InvalidArgument("CUDA backend: n_ctx " + std::to_string(options.n_ctx) + " must be >= 1");
  }
  if (options.max_seqs < 1) {
    return Status::InvalidArgument("CUDA backend: max_seqs " + std::to_string(options.max_seqs) + " must be >= 1");
  }
  if (range.first < 0 || range.first >= range.last || range.last > config.n_layer) {
    return Status::InvalidArgument("CUDA backend: layer range [" + std::to_string(range.first) + ", " +
                                   std::to_string(range.last) + ") not inside [0, " +
                                   std::to_string(config.n_layer) + ")");
  }
  if (config.n_rot <= 0 || config.n_rot % 2 != 0 || config.n_rot > config.head_dim()) {
    return Status::Unsupported("CUDA backend: rope dimension " + std::to_string(config.n_rot) +
                               " must be even and at most head_dim " + std::to_string(config.head_dim()));
  }
  PS_RETURN_IF_ERROR(cuda::CheckHeadDim(config.head_dim()));
  PS_ASSIGN_OR_RETURN(LlamaWeights w, BindLlamaWeights(file, config, range));
  // The CUDA kernels implement the Llama layer only; Qwen's NEOX rotation, per-head Q/K norms,
  // projection biases and heads wider than n_embd / n_head run on the CPU backend for now.
  if (const Status plain = CheckPlainLlamaLayer(config, w); !plain.ok()) {
    return Status::Unsupported("CUDA backend: " + plain.message() + " runs on the CPU backend only (use --device cpu)");
  }
  if (static_cast<int64_t>(w.layers.size()) != range.last - range.first) {
    return Status::Internal("CUDA backend: bound " + std::to_string(w.layers.size()) + " layers for range [" +
                            std::to_string(range.first) + ", " + std::to_string(range.last) + ")");
  }

  PS_ASSIGN_OR_RETURN(const int devices, cuda::DeviceCount());
  if (options.device < 0 || options.device >= devices) {
    return Status::InvalidArgument("CUDA backend: device cuda:" + std::to_string(options.device) + " not present (" +
                                   std::to_string(devices) + " CUDA devices)");
  }
  PS_CUDA_CHECK(cudaSetDevice(options.device));

  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->range = range;
  impl->options = options;
  impl->first_stage = range.has_embedding(config);
  impl->last_stage = range.has_head(config);
  impl->theta_scale = std::pow(config.rope_freq_base, -2.0f / static_cast<float>(config.n_rot));
  impl->end_pos.resize(options.max_seqs);
  impl->seq_tokens.resize(options.max_seqs);
  PS_ASSIGN_OR_RETURN(impl->stream, cuda::Stream::Create());
  PS_ASSIGN_OR_RETURN(impl->cublas, cuda::CublasHandle::Create(impl->stream.get()));

  const int64_t e = config.n_embd;
  const int64_t ekv = config.n_embd_kv();
  const int64_t ff = config.n_ff;
  int64_t max_weight_elems = std::max(e * ff, e * e);
  if (impl->first_stage) {
    PS_ASSIGN_OR_RETURN(impl->tok_embd, DeviceMatrix::FromTensor(w.tok_embd, e, config.n_vocab));
  }
  if (impl->last_stage) {
    PS_ASSIGN_OR_RETURN(impl->output_norm, cuda::UploadVector(w.output_norm, e));
    PS_ASSIGN_OR_RETURN(impl->output, DeviceMatrix::FromTensor(w.output, e, config.n_vocab));
    max_weight_elems = std::max(max_weight_elems, e * config.n_vocab);
  }
  if (w.rope_freqs != nullptr) {
    PS_ASSIGN_OR_RETURN(impl->rope_freqs, cuda::UploadVector(w.rope_freqs, config.n_rot / 2));
  }
  for (const LayerWeights& lw : w.layers) {
    Layer L;
    PS_ASSIGN_OR_RETURN(L.attn_norm, cuda::UploadVector(lw.attn_norm, e));
    PS_ASSIGN_OR_RETURN(L.wq, DeviceMatrix::FromTensor(lw.wq, e, e));
    PS_ASSIGN_OR_RETURN(L.wk, DeviceMatrix::FromTensor(lw.wk, e, ekv));
    PS_ASSIGN_OR_RETURN(L.wv, DeviceMatrix::FromTensor(lw.wv, e, ekv));
    PS_ASSIGN_OR_RETURN(L.wo, DeviceMatrix::FromTensor(lw.wo, e, e));
    PS_ASSIGN_OR_RETURN(L.ffn_norm, cuda::UploadVector(lw.ffn_norm, e));
    PS_ASSIGN_OR_RETURN(L.gate, DeviceMatrix::FromTensor(lw.ffn_gate, e, ff));
    PS_ASSIGN_OR_RETURN(L.up, DeviceMatrix::FromTensor(lw.ffn_up, e, ff));
    PS_ASSIGN_OR_RETURN(L.down, DeviceMatrix::FromTensor(lw.ffn_down, ff, e));
    impl->layers.push_back(std::move(L));
    if (options.on_layers_loaded) {
      const auto done = static_cast<int32_t>(impl->layers.size());
      options.on_layers_loaded(done, static_cast<int32_t>(range.last - range.first));
    }
  }
  PS_ASSIGN_OR_RETURN(impl->matmul,
                      cuda::DeviceMatMul::Create(impl->stream.get(), impl->cublas.get(), max_weight_elems));
  PS_ASSIGN_OR_RETURN(impl->cache,
                      cuda::DeviceKvCache::Create(range.last - range.first, options.n_ctx, ekv, options.max_seqs));
  // Uploads ran on the legacy default stream, which the backend's non-blocking stream does not
  // wait for: finish them before the first Forward.
  PS_CUDA_CHECK(cudaDeviceSynchronize());
  return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(impl)));
}

CudaBackend::CudaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaBackend::~CudaBackend() = default;

Status CudaBackend::Forward(const Batch& batch, BatchOutput* out) {
  Impl& s = *impl_;
  PS_CUDA_CHECK(cudaSetDevice(s.options.device));
  s.end_pos = s.cache.lengths();
  PS_RETURN_IF_ERROR(ValidateBatch(batch, s.Limits(), &s.end_pos));
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t e = s.config.n_embd;
  const cudaStream_t st = s.stream.get();

  // Memory first, so that nothing below fails for want of it half-way through the caches.
  std::fill(s.seq_tokens.begin(), s.seq_tokens.end(), 0);
  for (int32_t seq : batch.seq_ids) {
    if (s.seq_tokens[seq]++ == 0) PS_RETURN_IF_ERROR(s.cache.Reserve(seq, st));
  }
  out->hidden.clear();
  out->logits.clear();
  if (n == 0) return Status::Ok();
  PS_RETURN_IF_ERROR(s.Grow(n));

  // Row metadata in one upload: tokens, positions, seq_ids, then the rows wanting logits.
  s.host_ints.assign(static_cast<size_t>(3 * n), 0);
  if (s.first_stage) std::copy(batch.tokens.begin(), batch.tokens.end(), s.host_ints.begin());
  std::copy(batch.positions.begin(), batch.positions.end(), s.host_ints.begin() + n);
  std::copy(batch.seq_ids.begin(), batch.seq_ids.end(), s.host_ints.begin() + 2 * n);
  if (s.last_stage) {
    for (int64_t i = 0; i < n; ++i) {
      if (batch.logits[i] != 0) s.host_ints.push_back(static_cast<int32_t>(i));
    }
  }
  const int64_t m = static_cast<int64_t>(s.host_ints.size()) - 3 * n;
  int32_t* ints = s.ints.as<int32_t>();
  PS_CUDA_CHECK(cudaMemcpyAsync(ints, s.host_ints.data(), s.host_ints.size() * sizeof(int32_t),
                                cudaMemcpyHostToDevice, st));
  const int32_t* tokens = ints;
  const int32_t* positions = ints + n;
  const int32_t* seq_ids = ints + 2 * n;
  const int32_t* logit_rows = ints + 3 * n;

  if (s.first_stage) {
    PS_RETURN_IF_ERROR(cuda::GatherRowsF32(s.tok_embd.view(), tokens, n, s.x.as<float>(), st));  // x[n, e]
  } else {
    PS_CUDA_CHECK(cudaMemcpyAsync(s.x.as<float>(), batch.embeddings.data(), static_cast<size_t>(n * e) * sizeof(float),
                                  cudaMemcpyHostToDevice, st));
  }
  for (int64_t il = 0; il < static_cast<int64_t>(s.layers.size()); ++il) {
    PS_RETURN_IF_ERROR(s.RunLayer(s.layers[il], il, n, positions, seq_ids));
  }
  if (s.last_stage) {
    PS_RETURN_IF_ERROR(s.Head(logit_rows, m, &out->logits));
  } else {
    out->hidden.resize(static_cast<size_t>(n * e));
    PS_CUDA_CHECK(cudaMemcpyAsync(out->hidden.data(), s.x.as<float>(), out->hidden.size() * sizeof(float),
                                  cudaMemcpyDeviceToHost, st));
  }
  PS_CUDA_CHECK(cudaStreamSynchronize(st));

  for (int32_t seq = 0; seq < s.options.max_seqs; ++seq) {
    if (s.seq_tokens[seq] > 0) s.cache.Commit(seq, s.end_pos[seq]);
  }
  return Status::Ok();
}

void CudaBackend::FreeSequence(int32_t seq_id) {
  if (seq_id < 0 || seq_id >= impl_->options.max_seqs) return;
  // An error here would come from a context already broken; the next Forward reports it.
  static_cast<void>(cudaSetDevice(impl_->options.device));
  impl_->cache.Free(seq_id);
}

int32_t CudaBackend::SequenceLength(int32_t seq_id) const {
  if (seq_id < 0 || seq_id >= impl_->options.max_seqs) return 0;
  return impl_->cache.Length(seq_id);
}

}  // namespace ps
