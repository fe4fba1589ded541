// The Llama-family forward pass (llama, qwen2, qwen3) over a layer range, one batch at a time:
//
//   x = token_embd[token]                      (first stage)  or  x = batch.embeddings
//   for each layer l in [first, last):
//     h = rmsnorm(x) * attn_norm
//     q = h Wq (+ bq), k = h Wk (+ bk), v = h Wv (+ bv)      (biases: when the file has them)
//     q, k = rmsnorm per head * q_norm, k_norm                  (qwen3)
//     rope(q, k) at each token's position                      (NEOX layout for qwen2/qwen3)
//     cache[seq][l][pos] = (k, v)
//     x += attention(q, cache[seq][l][0..pos]) Wo
//     h = rmsnorm(x) * ffn_norm
//     x += (silu(h Wgate) * (h Wup)) Wdown
//   logits = (rmsnorm(x) * output_norm) output^T (+ output bias)  (last stage, rows asking for logits)
//   or hidden = x
//
// Each step is one parallel pass over the batch (one ParallelFor): a residual add is folded into
// the norm that follows it (x += down-projection happens at the next layer's attention norm, or
// after the last layer), RoPE and the KV store share a pass, and the rotation angles of every
// row are computed once per batch, next to the embedding, for all layers. The per-row kernels
// and the attention follow the resolved kernel level (kernel_level.h).
#include "worker/backend/cpu/cpu_backend.h"

#include <algorithm>
#include <string>

#include "common/quant/quant.h"
#include "worker/backend/common/batch_check.h"
#include "worker/backend/common/tensor_checks.h"
#include "worker/backend/cpu/attention.h"
#include "worker/backend/cpu/kv_cache.h"
#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/ops.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps {

using cpu::WeightMatrix;

namespace {

struct Layer {
  std::vector<float> attn_norm;  // [n_embd]
  WeightMatrix wq;               // [n_embd] -> [n_embd_q]
  WeightMatrix wk;               // [n_embd] -> [n_embd_kv]
  WeightMatrix wv;               // [n_embd] -> [n_embd_kv]
  WeightMatrix wo;               // [n_embd_q] -> [n_embd]
  std::vector<float> bq, bk, bv;        // projection biases; empty when the file has none
  std::vector<float> q_norm, k_norm;    // [head_dim] per-head norms; empty unless qk_norm
  std::vector<float> ffn_norm;   // [n_embd]
  WeightMatrix gate;             // [n_embd] -> [n_ff]
  WeightMatrix up;               // [n_embd] -> [n_ff]
  WeightMatrix down;             // [n_ff] -> [n_embd]
};

// A weight matrix checked for the shape the forward pass indexes it with and a type we multiply.
Result<WeightMatrix> Matrix(const gguf::TensorInfo* t, int64_t cols, int64_t rows) {
  PS_RETURN_IF_ERROR(CheckMatrix(t, cols, rows, "CPU backend"));
  return WeightMatrix::Of(*t);
}

// A 1-D tensor of at least n elements, widened to F32.
Result<std::vector<float>> Vector(const gguf::TensorInfo* t, int64_t n) { return ReadVector(t, n, "CPU backend"); }
// The same for a tensor the file may lack: empty then.
Result<std::vector<float>> OptionalVector(const gguf::TensorInfo* t, int64_t n) {
  if (t == nullptr) return std::vector<float>{};
  return Vector(t, n);
}

void AddBias(float* row, const std::vector<float>& bias) {
  for (size_t j = 0; j < bias.size(); ++j) row[j] += bias[j];
}

}  // namespace

struct CpuBackend::Impl {
  LlamaConfig config;
  LayerRange range;
  CpuBackendOptions options;
  bool first_stage = false;
  bool last_stage = false;

  WeightMatrix tok_embd;            // [n_embd] rows, n_vocab of them; first stage
  std::vector<Layer> layers;        // layers[i] is block range.first + i
  std::vector<float> output_norm;   // [n_embd]; last stage
  WeightMatrix output;              // [n_embd] -> [n_vocab]; last stage
  std::vector<float> output_bias;   // [n_vocab] or empty

  cpu::ThreadPool pool;
  cpu::MatMul matmul;
  cpu::RepackedWeights repacked;  // the fast level's load-time weight copies, in huge pages
  cpu::KvCache cache;
  cpu::Attention attention;
  cpu::RopeTable rope;
  const cpu::RowKernels& row_ops;  // the level's add + norm, SwiGLU and rotation kernels
  // The rotation for this architecture's layout: row_ops.rope_rotate, or the NEOX one.
  void (*rope_rotate)(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);

  // Activations, grown to the largest batch seen and reused, so steady-state calls allocate
  // nothing. Shapes for a batch of n rows:
  int64_t capacity = 0;
  std::vector<float> x;        // [n, n_embd] residual stream
  std::vector<float> h;        // [n, n_embd] normed input of a sub-block
  std::vector<float> q;        // [n, n_embd_q]
  std::vector<float> k;        // [n, n_embd_kv]
  std::vector<float> v;        // [n, n_embd_kv]
  std::vector<float> attn;     // [n, n_embd_q] attention output before Wo
  std::vector<float> proj;     // [n, n_embd] a sub-block's output before the residual add
  std::vector<float> gate;     // [n, n_ff]
  std::vector<float> up;       // [n, n_ff]
  std::vector<float> rope_cs;  // [n, n_rot] each row's rotation angles (RopeTable::Angles)
  std::vector<uint8_t> half_rows;       // [n] attention numerics per row (see attention.h)
  std::vector<int32_t> end_pos;         // [max_seqs] next position while validating
  std::vector<int32_t> seq_tokens;      // [max_seqs] tokens of each sequence in the batch

  Impl(const LlamaConfig& c, LayerRange r, const CpuBackendOptions& o)
      : config(c),
        range(r),
        options(o),
        pool(o.threads),
        matmul(o.threads, std::max({c.n_embd, c.n_embd_q(), c.n_ff}), o.kernels),
        cache(r.last - r.first, o.n_ctx, c.n_embd_kv(), o.max_seqs, o.kv_f16, o.kernels),
        attention(o.threads, {c.n_head, c.n_head_kv, c.head_dim()}, o.kernels),
        rope(c.head_dim(), c.n_rot, c.rope_freq_base, {}),
        row_ops(cpu::RowKernelsFor(o.kernels)),
        rope_rotate(c.rope_neox ? cpu::RopeRotateNeox : row_ops.rope_rotate),
        end_pos(o.max_seqs),
        seq_tokens(o.max_seqs) {}

  Status Validate(const Batch& b);
  void Grow(int64_t n);
  void Embed(const Batch& b, int64_t n);
  // Leaves the layer's feed-forward output in proj, not yet added to x.
  void RunLayer(int64_t il, const Batch& b, int64_t n);
  void Head(const Batch& b, int64_t n, std::vector<float>* logits);
  void AddNormRows(const float* add, const std::vector<float>& weight, int64_t n);
  void AddInto(float* dst, const float* src, int64_t count);
};

Status CpuBackend::Impl::Validate(const Batch& b) {
  for (int32_t s = 0; s < options.max_seqs; ++s) end_pos[s] = cache.Length(s);
  BatchLimits limits;
  limits.first_stage = first_stage;
  limits.last_stage = last_stage;
  limits.n_embd = config.n_embd;
  limits.n_vocab = config.n_vocab;
  limits.n_ctx = options.n_ctx;
  limits.max_seqs = options.max_seqs;
  return ValidateBatch(b, limits, &end_pos);
}

void CpuBackend::Impl::Grow(int64_t n) {
  if (n <= capacity) return;
  const int64_t e = config.n_embd;
  const int64_t ekv = config.n_embd_kv();
  const int64_t eq = config.n_embd_q();
  const int64_t ff = config.n_ff;
  x.resize(n * e);
  h.resize(n * e);
  q.resize(n * eq);
  k.resize(n * ekv);
  v.resize(n * ekv);
  attn.resize(n * eq);
  proj.resize(n * e);
  gate.resize(n * ff);
  up.resize(n * ff);
  half_rows.resize(n);
  rope_cs.resize(n * config.n_rot);
  matmul.Reserve(n);
  capacity = n;
}

void CpuBackend::Impl::Embed(const Batch& b, int64_t n) {
  const int64_t e = config.n_embd;
  const int64_t n_rot = config.n_rot;
  pool.ParallelFor(n, [&](int, int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      if (first_stage) {
        DequantizeRow(tok_embd.type, tok_embd.row(b.tokens[i]), &x[i * e], e);
      } else {
        std::copy(&b.embeddings[i * e], &b.embeddings[i * e] + e, &x[i * e]);
      }
      rope.Angles(b.positions[i], &rope_cs[i * n_rot]);
    }
  });
}

// x += add (when not null), then h = rmsnorm(x) * weight, row by row.
void CpuBackend::Impl::AddNormRows(const float* add, const std::vector<float>& weight, int64_t n) {
  const int64_t e = config.n_embd;
  pool.ParallelFor(n, [&](int, int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      row_ops.add_rms_norm(&x[i * e], add == nullptr ? nullptr : add + i * e, weight.data(), e, config.rms_eps,
                           &h[i * e]);
    }
  });
}

void CpuBackend::Impl::AddInto(float* dst, const float* src, int64_t count) {
  pool.ParallelFor(count, [&](int, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dst[i] += src[i];
  });
}

void CpuBackend::Impl::RunLayer(int64_t il, const Batch& b, int64_t n) {
  const Layer& L = layers[il];
  const int64_t eq = config.n_embd_q();
  const int64_t ekv = config.n_embd_kv();
  const int64_t ff = config.n_ff;

  // Attention block; x += the previous layer's feed-forward output, still in proj.
  AddNormRows(il == 0 ? nullptr : proj.data(), L.attn_norm, n);  // h[n, e]
  // q[n, eq], k[n, ekv], v[n, ekv]
  matmul.MultiplyShared(pool, {{&L.wq, q.data()}, {&L.wk, k.data()}, {&L.wv, v.data()}}, h.data(), n);
  const int64_t hd = config.head_dim();
  pool.ParallelFor(n, [&](int, int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      float* qi = &q[i * eq];
      float* ki = &k[i * ekv];
      AddBias(qi, L.bq);
      AddBias(ki, L.bk);
      AddBias(&v[i * ekv], L.bv);
      if (!L.q_norm.empty()) {  // in place, one head at a time
        for (int64_t hh = 0; hh < config.n_head; ++hh) {
          row_ops.add_rms_norm(qi + hh * hd, nullptr, L.q_norm.data(), hd, config.rms_eps, qi + hh * hd);
        }
        for (int64_t hh = 0; hh < config.n_head_kv; ++hh) {
          row_ops.add_rms_norm(ki + hh * hd, nullptr, L.k_norm.data(), hd, config.rms_eps, ki + hh * hd);
        }
      }
      const float* cs = &rope_cs[i * config.n_rot];
      rope_rotate(qi, config.n_head, hd, config.n_rot, cs);
      rope_rotate(ki, config.n_head_kv, hd, config.n_rot, cs);
      cache.Store(b.seq_ids[i], il, b.positions[i], &k[i * ekv], &v[i * ekv]);
    }
  });
  attention.Run(pool, cache, il, q.data(), b.seq_ids.data(), b.positions.data(), half_rows.data(), n,
                attn.data());                                  // attn[n, eq]
  matmul.Multiply(pool, L.wo, attn.data(), n, proj.data());   // proj[n, e]

  // Feed-forward block; x += the attention output.
  AddNormRows(proj.data(), L.ffn_norm, n);                     // h[n, e]
  matmul.MultiplyShared(pool, {{&L.gate, gate.data()}, {&L.up, up.data()}}, h.data(), n);  // gate, up[n, ff]
  // Element-wise, so split by elements: a single decode row still uses every thread.
  pool.ParallelFor(n * ff, [&](int, int64_t i0, int64_t i1) {
    row_ops.swiglu(&gate[i0], &up[i0], i1 - i0, &gate[i0]);
  });
  matmul.Multiply(pool, L.down, gate.data(), n, proj.data());  // proj[n, e], added by the caller
}

void CpuBackend::Impl::Head(const Batch& b, int64_t n, std::vector<float>* logits) {
  const int64_t e = config.n_embd;
  // Gather the rows that want logits into h, then norm them in place.
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (b.logits[i] != 0) {
      std::copy(&x[i * e], &x[i * e] + e, &h[m * e]);
      ++m;
    }
  }
  pool.ParallelFor(m, [&](int, int64_t r0, int64_t r1) {  // h[m, e], normed in place
    for (int64_t i = r0; i < r1; ++i) {
      row_ops.add_rms_norm(&h[i * e], nullptr, output_norm.data(), e, config.rms_eps, &h[i * e]);
    }
  });
  logits->resize(static_cast<size_t>(m) * config.n_vocab);
  matmul.Multiply(pool, output, h.data(), m, logits->data());  // logits[m, n_vocab]
  if (!output_bias.empty()) {
    pool.ParallelFor(m, [&](int, int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) AddBias(logits->data() + i * config.n_vocab, output_bias);
    });
  }
}

Result<std::unique_ptr<CpuBackend>> CpuBackend::Create(const gguf::GgufFile& file, const LlamaConfig& config,
                                                       LayerRange range, const CpuBackendOptions& options) {
  if (options.threads < 1) {
    return Status::InvalidArgument("CPU backend: threads " + std::to_string(options.threads) + " must be >= 1");
  }
  if (options.n_ctx < 1) {
    return Status::InvalidArgument("CPU backend: n_ctx " + std::to_string(options.n_ctx) + " must be >= 1");
  }
  if (options.max_seqs < 1) {
    return Status::InvalidArgument("CPU backend: max_seqs " + std::to_string(options.max_seqs) + " must be >= 1");
  }
  if (range.first < 0 || range.first >= range.last || range.last > config.n_layer) {
    return Status::InvalidArgument("CPU backend: layer range [" + std::to_string(range.first) + ", " +
                                   std::to_string(range.last) + ") not inside [0, " +
                                   std::to_string(config.n_layer) + ")");
  }
  if (config.n_rot <= 0 || config.n_rot % 2 != 0 || config.n_rot > config.head_dim()) {
    return Status::Unsupported("CPU backend: rope dimension " + std::to_string(config.n_rot) +
                               " must be even and at most head_dim " + std::to_string(config.head_dim()));
  }
  PS_ASSIGN_OR_RETURN(LlamaWeights w, BindLlamaWeights(file, config, range));

  CpuBackendOptions resolved = options;
  PS_ASSIGN_OR_RETURN(resolved.kernels, cpu::ResolveKernelLevel(options.kernels));
  auto impl = std::make_unique<Impl>(config, range, resolved);
  impl->first_stage = range.has_embedding(config);
  impl->last_stage = range.has_head(config);
  const int64_t e = config.n_embd;
  const int64_t eq = config.n_embd_q();
  const int64_t ekv = config.n_embd_kv();
  const int64_t ff = config.n_ff;
  if (impl->first_stage) {
    PS_ASSIGN_OR_RETURN(impl->tok_embd, Matrix(w.tok_embd, e, config.n_vocab));
  }
  if (impl->last_stage) {
    PS_ASSIGN_OR_RETURN(impl->output_norm, Vector(w.output_norm, e));
    PS_ASSIGN_OR_RETURN(impl->output, Matrix(w.output, e, config.n_vocab));
    PS_ASSIGN_OR_RETURN(impl->output_bias, OptionalVector(w.output_bias, config.n_vocab));
    impl->repacked.Add(impl->options.kernels, &impl->output, /*release_source=*/true);
  }
  if (w.rope_freqs != nullptr) {
    PS_ASSIGN_OR_RETURN(std::vector<float> factors, Vector(w.rope_freqs, config.n_rot / 2));
    impl->rope = cpu::RopeTable(config.head_dim(), config.n_rot, config.rope_freq_base, std::move(factors));
  }
  if (static_cast<int64_t>(w.layers.size()) != range.last - range.first) {
    return Status::Internal("CPU backend: bound " + std::to_string(w.layers.size()) + " layers for range [" +
                            std::to_string(range.first) + ", " + std::to_string(range.last) + ")");
  }
  for (const LayerWeights& lw : w.layers) {
    Layer L;
    PS_ASSIGN_OR_RETURN(L.attn_norm, Vector(lw.attn_norm, e));
    PS_ASSIGN_OR_RETURN(L.wq, Matrix(lw.wq, e, eq));
    PS_ASSIGN_OR_RETURN(L.wk, Matrix(lw.wk, e, ekv));
    PS_ASSIGN_OR_RETURN(L.wv, Matrix(lw.wv, e, ekv));
    PS_ASSIGN_OR_RETURN(L.wo, Matrix(lw.wo, eq, e));
    PS_ASSIGN_OR_RETURN(L.bq, OptionalVector(lw.bq, eq));
    PS_ASSIGN_OR_RETURN(L.bk, OptionalVector(lw.bk, ekv));
    PS_ASSIGN_OR_RETURN(L.bv, OptionalVector(lw.bv, ekv));
    PS_ASSIGN_OR_RETURN(L.q_norm, OptionalVector(lw.q_norm, config.head_dim()));
    PS_ASSIGN_OR_RETURN(L.k_norm, OptionalVector(lw.k_norm, config.head_dim()));
    PS_ASSIGN_OR_RETURN(L.ffn_norm, Vector(lw.ffn_norm, e));
    PS_ASSIGN_OR_RETURN(L.gate, Matrix(lw.ffn_gate, e, ff));
    PS_ASSIGN_OR_RETURN(L.up, Matrix(lw.ffn_up, e, ff));
    PS_ASSIGN_OR_RETURN(L.down, Matrix(lw.ffn_down, ff, e));
    for (WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) {
      impl->repacked.Add(impl->options.kernels, m, /*release_source=*/true);
    }
    impl->layers.push_back(std::move(L));
    if (options.on_layers_loaded) {
      const auto done = static_cast<int32_t>(impl->layers.size());
      options.on_layers_loaded(done, static_cast<int32_t>(range.last - range.first));
    }
  }
  return std::unique_ptr<CpuBackend>(new CpuBackend(std::move(impl)));
}

CpuBackend::CpuBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CpuBackend::~CpuBackend() = default;

Status CpuBackend::Forward(const Batch& batch, BatchOutput* out) {
  Impl& s = *impl_;
  PS_RETURN_IF_ERROR(s.Validate(batch));
  const int64_t n = static_cast<int64_t>(batch.size());

  // Memory first, so that nothing below can fail half-way through the caches.
  std::fill(s.seq_tokens.begin(), s.seq_tokens.end(), 0);
  for (int32_t seq : batch.seq_ids) {
    if (s.seq_tokens[seq]++ == 0) PS_RETURN_IF_ERROR(s.cache.Reserve(seq));
  }
  s.Grow(n);
  for (int64_t i = 0; i < n; ++i) {
    s.half_rows[i] = s.cache.f16() && s.seq_tokens[batch.seq_ids[i]] < cpu::kF32AttentionMinTokens;
  }

  s.Embed(batch, n);  // x[n, e]
  for (int64_t il = 0; il < static_cast<int64_t>(s.layers.size()); ++il) s.RunLayer(il, batch, n);
  s.AddInto(s.x.data(), s.proj.data(), n * s.config.n_embd);  // the last layer's feed-forward output
  for (int32_t seq = 0; seq < s.options.max_seqs; ++seq) {
    if (s.seq_tokens[seq] > 0) s.cache.Commit(seq, s.end_pos[seq]);
  }

  out->hidden.clear();
  out->logits.clear();
  if (s.last_stage) {
    s.Head(batch, n, &out->logits);
  } else {
    out->hidden.assign(s.x.begin(), s.x.begin() + n * s.config.n_embd);
  }
  return Status::Ok();
}

void CpuBackend::FreeSequence(int32_t seq_id) {
  if (seq_id >= 0 && seq_id < impl_->options.max_seqs) impl_->cache.Free(seq_id);
}

cpu::KernelLevel CpuBackend::kernel_level() const { return impl_->options.kernels; }

int32_t CpuBackend::SequenceLength(int32_t seq_id) const {
  if (seq_id < 0 || seq_id >= impl_->options.max_seqs) return 0;
  return impl_->cache.Length(seq_id);
}

}  // namespace ps
