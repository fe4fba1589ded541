// The named model shapes of make-model (PresetOptions in make_model.h).
#include "tools/make_model/make_model.h"

namespace ps {

Result<MakeModelOptions> PresetOptions(const std::string& preset) {
  MakeModelOptions o;  // the defaults are the tiny model
  if (preset == "tiny") {
    // Small enough to write and run in well under a second: the README's main job and the tests.
    return o;
  }
  if (preset == "small") {
    o.dim = 512;
    o.layers = 8;
    o.heads = 8;
    o.kv_heads = 4;
    o.ff = 1536;
    o.ctx = 4096;
    o.vocab = "llama3";
    return o;
  }
  if (preset == "medium") {
    // A 0.5B shape with the Llama 3 vocabulary: the benchmarks' model (bench/cluster_bench.sh).
    o.dim = 1024;
    o.layers = 16;
    o.heads = 16;
    o.kv_heads = 4;
    o.ff = 4096;
    o.ctx = 8192;
    o.vocab = "llama3";
    o.rope_freq_base = 500000.0f;
    return o;
  }
  if (preset == "llama3-8b") {
    // The shape of Meta's Llama 3.1 8B (its real context length is 131072; 8192 keeps the
    // default KV cache of a test run small).
    o.dim = 4096;
    o.layers = 32;
    o.heads = 32;
    o.kv_heads = 8;
    o.ff = 14336;
    o.ctx = 8192;
    o.vocab = "llama3";
    o.rope_freq_base = 500000.0f;
    o.rope_scaling_llama3 = true;
    return o;
  }
  if (preset == "qwen3-0.6b" || preset == "qwen3-8b") {
    // The shapes of Qwen3 0.6B and 8B (their config.json), with the Qwen3 vocabulary; their real
    // context is 40960, 8192 keeps a test run's KV cache small.
    o.arch = "qwen3";
    o.vocab = "qwen3";
    o.ctx = 8192;
    o.rope_freq_base = 1000000.0f;
    o.rms_eps = 1e-6f;
    o.head_dim = 128;
    if (preset == "qwen3-0.6b") {
      o.dim = 1024;
      o.layers = 28;
      o.heads = 16;
      o.kv_heads = 8;
      o.ff = 3072;
      o.tied_embeddings = true;
    } else {
      o.dim = 4096;
      o.layers = 36;
      o.heads = 32;
      o.kv_heads = 8;
      o.ff = 12288;
    }
    return o;
  }
  return Status::InvalidArgument("--preset '" + preset + "' is not one of " + std::string(kPresetNames));
}

}  // namespace ps
