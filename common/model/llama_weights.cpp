#include "common/model/llama_weights.h"

#include <string>

namespace ps {

namespace {

std::string Shape(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "]";
}

// Looks tensors up by name and checks shape and type; errors name the file and the tensor.
class Binder {
 public:
  Binder(const gguf::GgufFile& file, LayerRange range) : file_(file), range_(range) {}

  // A weight matrix of any type pipeshard computes with. ne = {columns, rows}.
  Result<const gguf::TensorInfo*> Matrix(const std::string& name, int64_t ne0, int64_t ne1) const {
    PS_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Shaped(name, {ne0, ne1}));
    if (!TraitsOf(t->type).supported) {
      return Status::Unsupported(file_.path() + ": tensor '" + name + "' has type " + std::string(TypeName(t->type)) +
                                 ", which pipeshard cannot compute with");
    }
    return t;
  }

  // A vector applied element-wise (norm weights, RoPE frequency factors): always f32, as in
  // every converter's output.
  Result<const gguf::TensorInfo*> F32Vector(const std::string& name, int64_t n) const {
    PS_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Shaped(name, {n}));
    if (t->type != GgmlType::F32) {
      return Status::Unsupported(file_.path() + ": tensor '" + name + "' has type " + std::string(TypeName(t->type)) +
                                 ", expected f32");
    }
    return t;
  }

  // An F32 vector that may be absent: nullptr then, an error when present with a wrong shape.
  Result<const gguf::TensorInfo*> OptionalF32Vector(const std::string& name, int64_t n) const {
    if (file_.FindTensor(name) == nullptr) return static_cast<const gguf::TensorInfo*>(nullptr);
    return F32Vector(name, n);
  }

 private:
  Result<const gguf::TensorInfo*> Shaped(const std::string& name, const std::vector<int64_t>& ne) const {
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) {
      return Status::NotFound(file_.path() + ": tensor '" + name + "' not found (needed for layers [" +
                              std::to_string(range_.first) + ", " + std::to_string(range_.last) + "))");
    }
    if (t->ne != ne) {
      return Status::Corruption(file_.path() + ": tensor '" + name + "' has shape " + Shape(t->ne) + ", expected " +
                                Shape(ne));
    }
    return t;
  }

  const gguf::GgufFile& file_;
  LayerRange range_;
};

Result<LayerWeights> BindLayer(const Binder& b, const LlamaConfig& c, int64_t layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  LayerWeights w{};
  PS_ASSIGN_OR_RETURN(w.attn_norm, b.F32Vector(p + "attn_norm.weight", c.n_embd));
  PS_ASSIGN_OR_RETURN(w.wq, b.Matrix(p + "attn_q.weight", c.n_embd, c.n_embd_q()));
  PS_ASSIGN_OR_RETURN(w.wk, b.Matrix(p + "attn_k.weight", c.n_embd, c.n_embd_kv()));
  PS_ASSIGN_OR_RETURN(w.wv, b.Matrix(p + "attn_v.weight", c.n_embd, c.n_embd_kv()));
  PS_ASSIGN_OR_RETURN(w.wo, b.Matrix(p + "attn_output.weight", c.n_embd_q(), c.n_embd));
  PS_ASSIGN_OR_RETURN(w.bq, b.OptionalF32Vector(p + "attn_q.bias", c.n_embd_q()));
  PS_ASSIGN_OR_RETURN(w.bk, b.OptionalF32Vector(p + "attn_k.bias", c.n_embd_kv()));
  PS_ASSIGN_OR_RETURN(w.bv, b.OptionalF32Vector(p + "attn_v.bias", c.n_embd_kv()));
  if (c.qk_norm) {
    PS_ASSIGN_OR_RETURN(w.q_norm, b.F32Vector(p + "attn_q_norm.weight", c.head_dim()));
    PS_ASSIGN_OR_RETURN(w.k_norm, b.F32Vector(p + "attn_k_norm.weight", c.head_dim()));
  }
  PS_ASSIGN_OR_RETURN(w.ffn_norm, b.F32Vector(p + "ffn_norm.weight", c.n_embd));
  PS_ASSIGN_OR_RETURN(w.ffn_gate, b.Matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff));
  PS_ASSIGN_OR_RETURN(w.ffn_up, b.Matrix(p + "ffn_up.weight", c.n_embd, c.n_ff));
  PS_ASSIGN_OR_RETURN(w.ffn_down, b.Matrix(p + "ffn_down.weight", c.n_ff, c.n_embd));
  return w;
}

}  // namespace

Status CheckPlainLlamaLayer(const LlamaConfig& config, const LlamaWeights& weights) {
  if (config.arch != ModelArch::kLlama || config.n_embd_q() != config.n_embd) {
    return Status::Unsupported(std::string("architecture '") + ArchName(config.arch) + "'" +
                               (config.n_embd_q() != config.n_embd ? " with a head size other than n_embd / n_head" : ""));
  }
  for (const LayerWeights& l : weights.layers) {
    for (const gguf::TensorInfo* bias : {l.bq, l.bk, l.bv}) {
      if (bias != nullptr) return Status::Unsupported("a model with attention biases (" + bias->name + ")");
    }
  }
  return Status::Ok();
}

Result<LlamaWeights> BindLlamaWeights(const gguf::GgufFile& file, const LlamaConfig& config, LayerRange range) {
  if (range.first < 0 || range.first >= range.last || range.last > config.n_layer) {
    return Status::InvalidArgument("layer range [" + std::to_string(range.first) + ", " + std::to_string(range.last) +
                                   ") is empty or outside the model's " + std::to_string(config.n_layer) + " layers");
  }
  // Every block of the range has tensors in this file (a shard file holds only its range): more
  // blocks than the file has tensors is corrupt, and must not size anything (llama.block_count =
  // 2147483647 once made `run` and `plan` abort allocating the blocks). Fewer missing blocks are
  // named below by the first tensor not found.
  if (const auto tensors = static_cast<int64_t>(file.tensors().size()); range.last - range.first > tensors) {
    return Status::Corruption(file.path() + ": layers [" + std::to_string(range.first) + ", " +
                              std::to_string(range.last) + ") of llama.block_count = " + std::to_string(config.n_layer) +
                              " cannot be in a file of " + std::to_string(tensors) + " tensors");
  }
  const Binder b(file, range);
  LlamaWeights w;
  w.range = range;
  // Only the tensors this range uses are looked up, so a stage never depends on the others.
  if (range.has_embedding(config)) {
    PS_ASSIGN_OR_RETURN(w.tok_embd, b.Matrix("token_embd.weight", config.n_embd, config.n_vocab));
  }
  if (range.has_head(config)) {
    PS_ASSIGN_OR_RETURN(w.output_norm, b.F32Vector("output_norm.weight", config.n_embd));
    if (file.FindTensor("output.weight") != nullptr) {
      PS_ASSIGN_OR_RETURN(w.output, b.Matrix("output.weight", config.n_embd, config.n_vocab));
    } else {  // tied embeddings: the head multiplies by the token embedding matrix
      PS_ASSIGN_OR_RETURN(w.tok_embd, b.Matrix("token_embd.weight", config.n_embd, config.n_vocab));
      w.output = w.tok_embd;
    }
    if (config.arch == ModelArch::kQwen2) {  // the only architecture here whose head llama.cpp biases
      PS_ASSIGN_OR_RETURN(w.output_bias, b.OptionalF32Vector("output.bias", config.n_vocab));
    }
  }
  if (file.FindTensor("rope_freqs.weight") != nullptr) {
    PS_ASSIGN_OR_RETURN(w.rope_freqs, b.F32Vector("rope_freqs.weight", config.n_rot / 2));
  }
  w.layers.reserve(static_cast<size_t>(range.last - range.first));
  for (int64_t layer = range.first; layer < range.last; ++layer) {
    PS_ASSIGN_OR_RETURN(LayerWeights lw, BindLayer(b, config, layer));
    w.layers.push_back(lw);
  }
  return w;
}

}  // namespace ps
