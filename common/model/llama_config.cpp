#include "common/model/llama_config.h"

#include <cmath>
#include <limits>

namespace ps {

namespace {

// llama.cpp keeps hyper-parameters in 32-bit integers; anything larger is not a real model and
// would overflow the products (n_embd * n_vocab, ...) computed from these values downstream.
constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

class Reader {
 public:
  explicit Reader(const gguf::GgufFile& f) : f_(f) {}

  Status Missing(const std::string& key) const {
    return Status::Corruption(f_.path() + ": metadata key '" + key + "' is missing");
  }

  // A positive integer; `fallback` when the key is absent (0 means it is required).
  Result<int64_t> Dim(const std::string& key, int64_t fallback = 0) const {
    if (!f_.Has(key)) {
      if (fallback > 0) return fallback;
      return Missing(key);
    }
    PS_ASSIGN_OR_RETURN(const int64_t v, f_.GetI64(key));
    if (v <= 0 || v > kMaxDim) {
      return Status::Corruption(f_.path() + ": " + key + " = " + std::to_string(v) + " is not in 1.." +
                                std::to_string(kMaxDim));
    }
    return v;
  }

  // A finite positive float, or `fallback` when absent.
  Result<float> Positive(const std::string& key, float fallback) const {
    if (!f_.Has(key)) return fallback;
    PS_ASSIGN_OR_RETURN(const float v, f_.GetF32(key));
    if (!std::isfinite(v) || v <= 0.0f) {
      return Status::Corruption(f_.path() + ": " + key + " = " + std::to_string(v) + " is not a positive number");
    }
    return v;
  }

 private:
  const gguf::GgufFile& f_;
};

Result<int64_t> VocabSize(const gguf::GgufFile& f, const Reader& r, const std::string& k) {
  if (f.Has(k + "vocab_size")) return r.Dim(k + "vocab_size");
  if (const gguf::Value* tokens = f.Find("tokenizer.ggml.tokens")) {
    const gguf::Array* a = tokens->as_array();
    if (a == nullptr || a->items.empty()) {
      return Status::Corruption(f.path() + ": tokenizer.ggml.tokens is not a non-empty array");
    }
    return static_cast<int64_t>(a->items.size());
  }
  if (const gguf::TensorInfo* embd = f.FindTensor("token_embd.weight"); embd != nullptr && embd->ne.size() == 2) {
    return embd->ne[1];
  }
  return Status::Corruption(f.path() + ": cannot tell the vocabulary size (no " + k +
                            "vocab_size, tokenizer.ggml.tokens or 2-D token_embd.weight)");
}

// Variants that share an architecture name but need machinery we do not have. k: "<arch>."
Status CheckPlainVariant(const gguf::GgufFile& f, const std::string& k) {
  if (f.Has(k + "expert_count")) {
    PS_ASSIGN_OR_RETURN(const int64_t experts, f.GetI64(k + "expert_count"));
    if (experts > 0) {
      return Status::Unsupported(f.path() + ": mixture-of-experts model (" + k + "expert_count = " +
                                 std::to_string(experts) + ") is not supported");
    }
  }
  if (f.Has(k + "rope.scaling.factor")) {
    PS_ASSIGN_OR_RETURN(const float factor, f.GetF32(k + "rope.scaling.factor"));
    // llama.cpp reads 0 as "no scaling".
    if (factor != 0.0f && factor != 1.0f) {
      return Status::Unsupported(f.path() + ": RoPE scaling (" + k + "rope.scaling.factor = " +
                                 std::to_string(factor) + ") is not supported");
    }
  }
  return Status::Ok();
}

struct ArchEntry {
  ModelArch arch;
  const char* name;
};
constexpr ArchEntry kArchs[] = {
    {ModelArch::kLlama, "llama"},
    {ModelArch::kQwen2, "qwen2"},
    {ModelArch::kQwen3, "qwen3"},
};

}  // namespace

const char* ArchName(ModelArch arch) {
  for (const ArchEntry& e : kArchs) {
    if (e.arch == arch) return e.name;
  }
  return "unknown";
}

std::string SupportedArchNames() {
  std::string names;
  for (const ArchEntry& e : kArchs) names += std::string(names.empty() ? "" : ", ") + e.name;
  return names;
}

Result<ModelArch> ParseArch(const std::string& name) {
  for (const ArchEntry& e : kArchs) {
    if (name == e.name) return e.arch;
  }
  return Status::Unsupported("architecture '" + name + "' is not supported (supported: " + SupportedArchNames() + ")");
}

Result<LlamaConfig> ReadLlamaConfig(const gguf::GgufFile& file) {
  const Reader r(file);
  const std::string& path = file.path();
  if (!file.Has("general.architecture")) return r.Missing("general.architecture");
  PS_ASSIGN_OR_RETURN(const std::string arch, file.GetString("general.architecture"));
  LlamaConfig c;
  const Result<ModelArch> parsed = ParseArch(arch);
  if (!parsed.ok()) return Status::Unsupported(path + ": " + parsed.status().message());
  c.arch = *parsed;
  // Every hyper-parameter key starts with the architecture's name ("qwen2.block_count").
  const std::string k = arch + ".";
  PS_RETURN_IF_ERROR(CheckPlainVariant(file, k));
  c.rope_neox = c.arch == ModelArch::kQwen2 || c.arch == ModelArch::kQwen3;
  c.qk_norm = c.arch == ModelArch::kQwen3;

  if (file.Has("general.name")) {
    PS_ASSIGN_OR_RETURN(c.name, file.GetString("general.name"));
  }
  PS_ASSIGN_OR_RETURN(c.n_embd, r.Dim(k + "embedding_length"));
  PS_ASSIGN_OR_RETURN(c.n_layer, r.Dim(k + "block_count"));
  PS_ASSIGN_OR_RETURN(c.n_head, r.Dim(k + "attention.head_count"));
  PS_ASSIGN_OR_RETURN(c.n_head_kv, r.Dim(k + "attention.head_count_kv", c.n_head));
  PS_ASSIGN_OR_RETURN(c.n_ff, r.Dim(k + "feed_forward_length"));
  PS_ASSIGN_OR_RETURN(c.n_ctx_train, r.Dim(k + "context_length"));
  PS_ASSIGN_OR_RETURN(c.n_vocab, VocabSize(file, r, k));
  PS_ASSIGN_OR_RETURN(c.rope_freq_base, r.Positive(k + "rope.freq_base", c.rope_freq_base));
  PS_ASSIGN_OR_RETURN(c.rms_eps, r.Positive(k + "attention.layer_norm_rms_epsilon", c.rms_eps));

  // The head size is key_length when given (it may differ from embedding_length / head_count),
  // else embedding_length / head_count. Keys and values share one head size here.
  if (file.Has(k + "attention.key_length")) {
    PS_ASSIGN_OR_RETURN(c.n_head_dim, r.Dim(k + "attention.key_length"));
    // Bounded so that n_embd_q() and n_embd_kv() stay in llama.cpp's 32-bit range.
    if (c.n_head_dim * c.n_head > kMaxDim) {
      return Status::Corruption(path + ": " + k + "attention.key_length " + std::to_string(c.n_head_dim) + " x " +
                                k + "attention.head_count " + std::to_string(c.n_head) + " exceeds " +
                                std::to_string(kMaxDim));
    }
  } else if (c.n_embd % c.n_head != 0) {
    return Status::Corruption(path + ": " + k + "embedding_length " + std::to_string(c.n_embd) +
                              " is not a multiple of " + k + "attention.head_count " + std::to_string(c.n_head));
  }
  if (c.n_head_kv > c.n_head || c.n_head % c.n_head_kv != 0) {
    return Status::Corruption(path + ": " + k + "attention.head_count " + std::to_string(c.n_head) +
                              " is not a multiple of " + k + "attention.head_count_kv " + std::to_string(c.n_head_kv));
  }
  if (file.Has(k + "attention.value_length")) {
    PS_ASSIGN_OR_RETURN(const int64_t len, r.Dim(k + "attention.value_length"));
    if (len != c.head_dim()) {
      return Status::Unsupported(path + ": " + k + "attention.value_length " + std::to_string(len) +
                                 " differs from the key head size " + std::to_string(c.head_dim()));
    }
  }
  // These architectures rotate whole heads (llama.cpp asserts n_rot == head size for them).
  PS_ASSIGN_OR_RETURN(c.n_rot, r.Dim(k + "rope.dimension_count", c.head_dim()));
  if (c.n_rot != c.head_dim()) {
    return Status::Corruption(path + ": " + k + "rope.dimension_count " + std::to_string(c.n_rot) +
                              " differs from the head size " + std::to_string(c.head_dim()));
  }
  if (c.head_dim() % 2 != 0) {
    return Status::Corruption(path + ": head size " + std::to_string(c.head_dim()) + " is odd; RoPE needs pairs");
  }
  return c;
}

}  // namespace ps
