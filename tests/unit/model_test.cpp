// Llama config parsing and weight binding over small GGUF files built with GgufWriter.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <set>

#include "common/gguf/gguf_writer.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"

namespace ps {
namespace {

using gguf::Value;
using gguf::ValueType;

// A 3-layer model: n_embd 8, 4 heads of 2, 2 KV heads, n_ff 16, 10 tokens; all f32.
struct ModelSpec {
  std::map<std::string, Value> metadata = {
      {"general.architecture", Value::String("llama")},
      {"general.name", Value::String("tiny")},
      {"llama.embedding_length", Value::Unsigned(ValueType::kUint32, 8)},
      {"llama.block_count", Value::Unsigned(ValueType::kUint32, 3)},
      {"llama.attention.head_count", Value::Unsigned(ValueType::kUint32, 4)},
      {"llama.attention.head_count_kv", Value::Unsigned(ValueType::kUint32, 2)},
      {"llama.feed_forward_length", Value::Unsigned(ValueType::kUint32, 16)},
      {"llama.context_length", Value::Unsigned(ValueType::kUint32, 128)},
      {"llama.rope.dimension_count", Value::Unsigned(ValueType::kUint32, 2)},
      {"llama.rope.freq_base", Value::Float(ValueType::kFloat32, 500000.0)},
      {"llama.attention.layer_norm_rms_epsilon", Value::Float(ValueType::kFloat32, 1e-6)},
      {"llama.vocab_size", Value::Unsigned(ValueType::kUint32, 10)},
  };
  struct Tensor {
    GgmlType type;
    std::vector<int64_t> ne;
  };
  std::map<std::string, Tensor> tensors;

  ModelSpec() {
    tensors["token_embd.weight"] = {GgmlType::F32, {8, 10}};
    tensors["output_norm.weight"] = {GgmlType::F32, {8}};
    tensors["output.weight"] = {GgmlType::F32, {8, 10}};
    for (int l = 0; l < 3; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      tensors[p + "attn_norm.weight"] = {GgmlType::F32, {8}};
      tensors[p + "attn_q.weight"] = {GgmlType::F32, {8, 8}};
      tensors[p + "attn_k.weight"] = {GgmlType::F32, {8, 4}};
      tensors[p + "attn_v.weight"] = {GgmlType::F32, {8, 4}};
      tensors[p + "attn_output.weight"] = {GgmlType::F32, {8, 8}};
      tensors[p + "ffn_norm.weight"] = {GgmlType::F32, {8}};
      tensors[p + "ffn_gate.weight"] = {GgmlType::F32, {8, 16}};
      tensors[p + "ffn_up.weight"] = {GgmlType::F32, {8, 16}};
      tensors[p + "ffn_down.weight"] = {GgmlType::F32, {16, 8}};
    }
  }
};

class ModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/model_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<gguf::GgufFile> Write(const ModelSpec& spec) {
    gguf::GgufWriter w;
    for (const auto& [key, value] : spec.metadata) w.SetValue(key, value);
    for (const auto& [name, t] : spec.tensors) {
      EXPECT_TRUE(w.AddTensor(name, t.type, t.ne, [](uint8_t*, size_t) {}).ok()) << name;
    }
    const std::string path = dir_ + "/model" + std::to_string(n_++) + ".gguf";
    EXPECT_TRUE(w.Write(path).ok());
    auto f = gguf::GgufFile::Open(path);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  Result<LlamaConfig> Config(const ModelSpec& spec) {
    file_ = Write(spec);
    return ReadLlamaConfig(*file_);
  }

  // Binds range of the model in spec (with its own config).
  Result<LlamaWeights> Bind(const ModelSpec& spec, LayerRange range) {
    file_ = Write(spec);
    auto c = ReadLlamaConfig(*file_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    config_ = *c;
    return BindLlamaWeights(*file_, config_, range);
  }

  std::string dir_;
  int n_ = 0;
  std::unique_ptr<gguf::GgufFile> file_;
  LlamaConfig config_;
};

void ExpectError(const Status& s, StatusCode code, const std::vector<std::string>& fragments) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  for (const std::string& frag : fragments) {
    EXPECT_NE(s.message().find(frag), std::string::npos) << "'" << frag << "' not in: " << s.message();
  }
}

TEST_F(ModelTest, ReadsEveryField) {
  auto c = Config(ModelSpec());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "tiny");
  EXPECT_EQ(c->n_embd, 8);
  EXPECT_EQ(c->n_layer, 3);
  EXPECT_EQ(c->n_head, 4);
  EXPECT_EQ(c->n_head_kv, 2);
  EXPECT_EQ(c->n_ff, 16);
  EXPECT_EQ(c->n_ctx_train, 128);
  EXPECT_EQ(c->n_rot, 2);
  EXPECT_EQ(c->n_vocab, 10);
  EXPECT_EQ(c->rope_freq_base, 500000.0f);
  EXPECT_EQ(c->rms_eps, 1e-6f);
  EXPECT_EQ(c->head_dim(), 2);
  EXPECT_EQ(c->n_embd_kv(), 4);
}

TEST_F(ModelTest, OptionalKeysTakeDefaults) {
  ModelSpec spec;
  for (const char* key : {"general.name", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                          "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"}) {
    spec.metadata.erase(key);
  }
  auto c = Config(spec);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "");
  EXPECT_EQ(c->n_head_kv, 4);
  EXPECT_EQ(c->n_rot, 2);
  EXPECT_EQ(c->rope_freq_base, 10000.0f);
  EXPECT_EQ(c->rms_eps, 1e-5f);
}

TEST_F(ModelTest, VocabularySizeFallsBackToTokensThenEmbedding) {
  ModelSpec spec;
  spec.metadata.erase("llama.vocab_size");
  std::vector<Value> tokens;
  for (int i = 0; i < 7; ++i) tokens.push_back(Value::String(std::to_string(i)));
  spec.metadata["tokenizer.ggml.tokens"] = Value::MakeArray(ValueType::kString, tokens);
  auto from_tokens = Config(spec);
  ASSERT_TRUE(from_tokens.ok()) << from_tokens.status().ToString();
  EXPECT_EQ(from_tokens->n_vocab, 7);

  spec.metadata.erase("tokenizer.ggml.tokens");
  auto from_embd = Config(spec);
  ASSERT_TRUE(from_embd.ok()) << from_embd.status().ToString();
  EXPECT_EQ(from_embd->n_vocab, 10);

  spec.tensors.erase("token_embd.weight");
  ExpectError(Config(spec).status(), StatusCode::kCorruption, {"vocabulary size"});
}

TEST_F(ModelTest, MissingRequiredKeysAreNamed) {
  for (const char* key : {"general.architecture", "llama.embedding_length", "llama.block_count",
                          "llama.attention.head_count", "llama.feed_forward_length", "llama.context_length"}) {
    ModelSpec spec;
    spec.metadata.erase(key);
    ExpectError(Config(spec).status(), StatusCode::kCorruption, {std::string("'").append(key).append("' is missing"), ".gguf"});
  }
}

TEST_F(ModelTest, OtherArchitecturesAreUnsupported) {
  ModelSpec spec;
  spec.metadata["general.architecture"] = Value::String("gpt2");
  ExpectError(Config(spec).status(), StatusCode::kUnsupported, {"'gpt2'"});
  spec.metadata["general.architecture"] = Value::Unsigned(ValueType::kUint32, 1);
  ExpectError(Config(spec).status(), StatusCode::kCorruption, {"general.architecture", "uint32"});
}

TEST_F(ModelTest, LlamaVariantsWeCannotRunAreUnsupported) {
  ModelSpec moe;
  moe.metadata["llama.expert_count"] = Value::Unsigned(ValueType::kUint32, 8);
  ExpectError(Config(moe).status(), StatusCode::kUnsupported, {"expert_count = 8"});
  ModelSpec scaled;
  scaled.metadata["llama.rope.scaling.factor"] = Value::Float(ValueType::kFloat32, 4.0);
  ExpectError(Config(scaled).status(), StatusCode::kUnsupported, {"llama.rope.scaling.factor"});
}

TEST_F(ModelTest, InconsistentHyperParametersFail) {
  struct Case {
    std::string key;
    Value value;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"llama.attention.head_count", Value::Unsigned(ValueType::kUint32, 3), "not a multiple of llama.attention.head_count 3"},
      {"llama.attention.head_count_kv", Value::Unsigned(ValueType::kUint32, 3), "head_count_kv 3"},
      {"llama.attention.head_count_kv", Value::Unsigned(ValueType::kUint32, 8), "head_count_kv 8"},
      {"llama.rope.dimension_count", Value::Unsigned(ValueType::kUint32, 1), "dimension_count 1"},
      {"llama.block_count", Value::Unsigned(ValueType::kUint32, 0), "llama.block_count = 0"},
      {"llama.embedding_length", Value::Signed(ValueType::kInt32, -8), "llama.embedding_length = -8"},
      {"llama.feed_forward_length", Value::Unsigned(ValueType::kUint64, uint64_t{1} << 40), "feed_forward_length"},
      {"llama.attention.layer_norm_rms_epsilon", Value::Float(ValueType::kFloat32, 0.0), "rms_epsilon"},
      {"llama.rope.freq_base", Value::String("10000"), "freq_base' has type string"},
  };
  for (const Case& c : cases) {
    ModelSpec spec;
    spec.metadata[c.key] = c.value;
    ExpectError(Config(spec).status(), StatusCode::kCorruption, {c.fragment});
  }
  ModelSpec odd_head;  // 4 heads of 3: rotation needs pairs
  odd_head.metadata["llama.embedding_length"] = Value::Unsigned(ValueType::kUint32, 12);
  odd_head.metadata.erase("llama.rope.dimension_count");
  ExpectError(Config(odd_head).status(), StatusCode::kCorruption, {"head size 3 is odd"});
}

// The same model under another architecture name: every "llama." key renamed.
ModelSpec AsArch(const std::string& arch) {
  ModelSpec spec;
  std::map<std::string, Value> renamed;
  for (const auto& [key, value] : spec.metadata) {
    renamed[key.rfind("llama.", 0) == 0 ? arch + key.substr(5) : key] = value;
  }
  renamed["general.architecture"] = Value::String(arch);
  spec.metadata = renamed;
  return spec;
}

TEST_F(ModelTest, QwenArchitecturesReadTheirOwnKeysAndFlags) {
  auto llama = Config(ModelSpec());
  ASSERT_TRUE(llama.ok()) << llama.status().ToString();
  EXPECT_EQ(llama->arch, ModelArch::kLlama);
  EXPECT_FALSE(llama->rope_neox);
  EXPECT_FALSE(llama->qk_norm);

  auto qwen2 = Config(AsArch("qwen2"));
  ASSERT_TRUE(qwen2.ok()) << qwen2.status().ToString();
  EXPECT_EQ(qwen2->arch, ModelArch::kQwen2);
  EXPECT_EQ(qwen2->n_layer, 3);
  EXPECT_FLOAT_EQ(qwen2->rope_freq_base, 500000.0f);
  EXPECT_TRUE(qwen2->rope_neox);
  EXPECT_FALSE(qwen2->qk_norm);

  auto qwen3 = Config(AsArch("qwen3"));
  ASSERT_TRUE(qwen3.ok()) << qwen3.status().ToString();
  EXPECT_EQ(qwen3->arch, ModelArch::kQwen3);
  EXPECT_TRUE(qwen3->rope_neox);
  EXPECT_TRUE(qwen3->qk_norm);
  EXPECT_STREQ(ArchName(qwen3->arch), "qwen3");

  // A qwen2 file with llama.* keys lacks its own: the error names the qwen2 key.
  ModelSpec mislabelled;
  mislabelled.metadata["general.architecture"] = Value::String("qwen2");
  ExpectError(Config(mislabelled).status(), StatusCode::kCorruption, {"qwen2.embedding_length", "missing"});
}

TEST_F(ModelTest, KeyLengthSetsAHeadWiderThanEmbeddingOverHeads) {
  // 4 heads of 4 over n_embd 8 (as Qwen3 0.6B: 16 heads of 128 over 1024).
  ModelSpec spec;
  spec.metadata["llama.attention.key_length"] = Value::Unsigned(ValueType::kUint32, 4);
  spec.metadata["llama.attention.value_length"] = Value::Unsigned(ValueType::kUint32, 4);
  spec.metadata["llama.rope.dimension_count"] = Value::Unsigned(ValueType::kUint32, 4);
  auto c = Config(spec);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->head_dim(), 4);
  EXPECT_EQ(c->n_embd_q(), 16);
  EXPECT_EQ(c->n_embd_kv(), 8);
  // The old tensor shapes no longer fit: attn_q must be [8, 16].
  ExpectError(Bind(spec, {0, 3}).status(), StatusCode::kCorruption, {"attn_q.weight", "[8, 8]", "[8, 16]"});
  for (int l = 0; l < 3; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    spec.tensors[p + "attn_q.weight"] = {GgmlType::F32, {8, 16}};
    spec.tensors[p + "attn_k.weight"] = {GgmlType::F32, {8, 8}};
    spec.tensors[p + "attn_v.weight"] = {GgmlType::F32, {8, 8}};
    spec.tensors[p + "attn_output.weight"] = {GgmlType::F32, {16, 8}};
  }
  auto wide = Bind(spec, {0, 3});
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  ExpectError(CheckPlainLlamaLayer(config_, *wide), StatusCode::kUnsupported, {"architecture 'llama'", "head size"});

  ModelSpec odd_value;  // values must share the keys' head size
  odd_value.metadata["llama.attention.value_length"] = Value::Unsigned(ValueType::kUint32, 4);
  ExpectError(Config(odd_value).status(), StatusCode::kUnsupported, {"value_length 4"});
}

TEST_F(ModelTest, BiasesAreOptionalButCheckedAndQwen3NeedsItsNorms) {
  ModelSpec qwen2 = AsArch("qwen2");
  auto plain = Bind(qwen2, {0, 3});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->layers[0].bq, nullptr);
  qwen2.tensors["blk.1.attn_q.bias"] = {GgmlType::F32, {8}};
  qwen2.tensors["blk.1.attn_k.bias"] = {GgmlType::F32, {4}};
  qwen2.tensors["blk.1.attn_v.bias"] = {GgmlType::F32, {4}};
  qwen2.tensors["output.bias"] = {GgmlType::F32, {10}};
  auto biased = Bind(qwen2, {0, 3});
  ASSERT_TRUE(biased.ok()) << biased.status().ToString();
  EXPECT_EQ(biased->layers[0].bk, nullptr);
  ASSERT_NE(biased->layers[1].bk, nullptr);
  EXPECT_EQ(biased->layers[1].bk->name, "blk.1.attn_k.bias");
  ASSERT_NE(biased->output_bias, nullptr);
  qwen2.tensors["blk.2.attn_k.bias"] = {GgmlType::F32, {8}};  // n_embd, not n_embd_kv
  ExpectError(Bind(qwen2, {0, 3}).status(), StatusCode::kCorruption, {"blk.2.attn_k.bias", "[8]", "[4]"});

  ModelSpec qwen3 = AsArch("qwen3");
  ExpectError(Bind(qwen3, {1, 2}).status(), StatusCode::kNotFound, {"blk.1.attn_q_norm.weight"});
  for (int l = 0; l < 3; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    qwen3.tensors[p + "attn_q_norm.weight"] = {GgmlType::F32, {2}};
    qwen3.tensors[p + "attn_k_norm.weight"] = {GgmlType::F32, {2}};
  }
  auto normed = Bind(qwen3, {0, 3});
  ASSERT_TRUE(normed.ok()) << normed.status().ToString();
  ASSERT_NE(normed->layers[2].k_norm, nullptr);
  EXPECT_EQ(normed->layers[2].k_norm->name, "blk.2.attn_k_norm.weight");
}

// The plain Llama layer (the CUDA kernels' scope): llama without biases, and nothing else.
TEST_F(ModelTest, PlainLlamaLayerIsLlamaWithoutBiases) {
  auto plain = Bind(ModelSpec(), {0, 3});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(CheckPlainLlamaLayer(config_, *plain).ok());
  ModelSpec biased;
  biased.tensors["blk.2.attn_v.bias"] = {GgmlType::F32, {4}};
  auto with_bias = Bind(biased, {0, 3});
  ASSERT_TRUE(with_bias.ok()) << with_bias.status().ToString();
  ExpectError(CheckPlainLlamaLayer(config_, *with_bias), StatusCode::kUnsupported, {"attention biases", "blk.2.attn_v.bias"});
  // A range without the biased layer needs only the plain layer.
  auto front = Bind(biased, {0, 2});
  ASSERT_TRUE(front.ok()) << front.status().ToString();
  EXPECT_TRUE(CheckPlainLlamaLayer(config_, *front).ok());
  auto qwen2 = Bind(AsArch("qwen2"), {0, 3});
  ASSERT_TRUE(qwen2.ok()) << qwen2.status().ToString();
  ExpectError(CheckPlainLlamaLayer(config_, *qwen2), StatusCode::kUnsupported, {"architecture 'qwen2'"});
  EXPECT_EQ(*ParseArch("qwen3"), ModelArch::kQwen3);
  ExpectError(ParseArch("gemma2").status(), StatusCode::kUnsupported, {"'gemma2'", "llama, qwen2, qwen3"});
}

TEST_F(ModelTest, BindsTheWholeModel) {
  auto w = Bind(ModelSpec(), {0, 3});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_NE(w->tok_embd, nullptr);
  EXPECT_EQ(w->tok_embd->name, "token_embd.weight");
  ASSERT_NE(w->output, nullptr);
  EXPECT_EQ(w->output->name, "output.weight");
  ASSERT_NE(w->output_norm, nullptr);
  EXPECT_EQ(w->rope_freqs, nullptr);
  ASSERT_EQ(w->layers.size(), 3u);
  EXPECT_EQ(w->layers[2].wk->name, "blk.2.attn_k.weight");
  EXPECT_EQ(w->layers[2].ffn_down->name, "blk.2.ffn_down.weight");
  EXPECT_EQ(w->layers[0].attn_norm->name, "blk.0.attn_norm.weight");
  EXPECT_EQ(w->layers[1].wo->name, "blk.1.attn_output.weight");
}

TEST_F(ModelTest, PartialRangesNeedOnlyTheirTensors) {
  ModelSpec spec;  // a shard file for the middle stage: no embedding, no head, no block 0 or 2
  for (const char* drop : {"token_embd.weight", "output.weight", "output_norm.weight"}) spec.tensors.erase(drop);
  for (auto it = spec.tensors.begin(); it != spec.tensors.end();) {
    it = it->first.starts_with("blk.1.") ? std::next(it) : spec.tensors.erase(it);
  }
  auto mid = Bind(spec, {1, 2});
  ASSERT_TRUE(mid.ok()) << mid.status().ToString();
  EXPECT_EQ(mid->tok_embd, nullptr);
  EXPECT_EQ(mid->output, nullptr);
  EXPECT_EQ(mid->output_norm, nullptr);
  ASSERT_EQ(mid->layers.size(), 1u);
  EXPECT_EQ(mid->layers[0].wq->name, "blk.1.attn_q.weight");
  ExpectError(BindLlamaWeights(*file_, config_, {1, 3}).status(), StatusCode::kNotFound, {"'output_norm.weight' not found"});

  auto first = Bind(ModelSpec(), {0, 1});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_NE(first->tok_embd, nullptr);
  EXPECT_EQ(first->output, nullptr);
  auto last = Bind(ModelSpec(), {2, 3});
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->tok_embd, nullptr);  // untied: the last stage needs no embedding
  EXPECT_EQ(last->output->name, "output.weight");
  EXPECT_EQ(last->layers[0].attn_norm->name, "blk.2.attn_norm.weight");
}

TEST_F(ModelTest, TiedEmbeddingsServeAsTheHead) {
  ModelSpec spec;
  spec.tensors.erase("output.weight");
  auto last = Bind(spec, {2, 3});
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  ASSERT_NE(last->output, nullptr);
  EXPECT_EQ(last->output->name, "token_embd.weight");
  EXPECT_EQ(last->tok_embd, last->output);
  spec.tensors.erase("token_embd.weight");
  ExpectError(Bind(spec, {2, 3}).status(), StatusCode::kNotFound, {"'token_embd.weight' not found"});
}

TEST_F(ModelTest, MissingTensorIsNamed) {
  ModelSpec spec;
  spec.tensors.erase("blk.1.ffn_up.weight");
  ExpectError(Bind(spec, {0, 3}).status(), StatusCode::kNotFound, {"'blk.1.ffn_up.weight' not found", ".gguf"});
  spec.tensors.erase("output_norm.weight");
  ExpectError(Bind(spec, {2, 3}).status(), StatusCode::kNotFound, {"'output_norm.weight' not found"});
}

TEST_F(ModelTest, WrongShapeNamesExpectedAndFound) {
  ModelSpec spec;
  spec.tensors["blk.0.attn_k.weight"] = {GgmlType::F32, {8, 8}};  // as if there were no GQA
  ExpectError(Bind(spec, {0, 1}).status(), StatusCode::kCorruption,
              {"'blk.0.attn_k.weight' has shape [8, 8], expected [8, 4]"});
  ModelSpec transposed;
  transposed.tensors["blk.2.ffn_down.weight"] = {GgmlType::F32, {8, 16}};
  ExpectError(Bind(transposed, {2, 3}).status(), StatusCode::kCorruption, {"expected [16, 8]"});
  ModelSpec vocab;
  vocab.tensors["output.weight"] = {GgmlType::F32, {8, 11}};
  ExpectError(Bind(vocab, {0, 3}).status(), StatusCode::kCorruption, {"'output.weight'", "expected [8, 10]"});
  ModelSpec norm;
  norm.tensors["blk.0.ffn_norm.weight"] = {GgmlType::F32, {8, 1}};
  ExpectError(Bind(norm, {0, 1}).status(), StatusCode::kCorruption, {"[8, 1], expected [8]"});
}

TEST_F(ModelTest, TypesAreChecked) {
  ModelSpec q2;  // q2_K loads (a known ggml type) but pipeshard cannot multiply by it
  q2.metadata["llama.embedding_length"] = Value::Unsigned(ValueType::kUint32, 256);
  q2.metadata["llama.rope.dimension_count"] = Value::Unsigned(ValueType::kUint32, 64);
  q2.tensors["token_embd.weight"] = {GgmlType::F32, {256, 10}};
  q2.tensors["blk.0.attn_norm.weight"] = {GgmlType::F32, {256}};
  q2.tensors["blk.0.attn_q.weight"] = {GgmlType::Q2_K, {256, 256}};
  ExpectError(Bind(q2, {0, 1}).status(), StatusCode::kUnsupported, {"'blk.0.attn_q.weight' has type q2_K"});

  ModelSpec f16_norm;
  f16_norm.tensors["output_norm.weight"] = {GgmlType::F16, {8}};
  ExpectError(Bind(f16_norm, {2, 3}).status(), StatusCode::kUnsupported, {"'output_norm.weight' has type f16, expected f32"});

  ModelSpec mixed;  // quantized matrices are fine
  mixed.metadata["llama.embedding_length"] = Value::Unsigned(ValueType::kUint32, 32);
  mixed.metadata["llama.rope.dimension_count"] = Value::Unsigned(ValueType::kUint32, 8);
  mixed.tensors["output_norm.weight"] = {GgmlType::F32, {32}};
  mixed.tensors["output.weight"] = {GgmlType::Q8_0, {32, 10}};
  mixed.tensors["blk.2.attn_norm.weight"] = {GgmlType::F32, {32}};
  mixed.tensors["blk.2.ffn_norm.weight"] = {GgmlType::F32, {32}};
  mixed.tensors["blk.2.attn_q.weight"] = {GgmlType::Q4_0, {32, 32}};
  mixed.tensors["blk.2.attn_k.weight"] = {GgmlType::F16, {32, 16}};
  mixed.tensors["blk.2.attn_v.weight"] = {GgmlType::BF16, {32, 16}};
  mixed.tensors["blk.2.attn_output.weight"] = {GgmlType::Q8_0, {32, 32}};
  mixed.tensors["blk.2.ffn_gate.weight"] = {GgmlType::Q5_0, {32, 16}};
  mixed.tensors["blk.2.ffn_up.weight"] = {GgmlType::Q4_1, {32, 16}};
  mixed.tensors["blk.2.ffn_down.weight"] = {GgmlType::F32, {16, 32}};
  auto w = Bind(mixed, {2, 3});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->layers[0].wq->type, GgmlType::Q4_0);
}

TEST_F(ModelTest, RopeFrequencyFactorsAreBoundWhenPresent) {
  ModelSpec spec;
  spec.tensors["rope_freqs.weight"] = {GgmlType::F32, {1}};  // n_rot / 2
  auto w = Bind(spec, {1, 2});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_NE(w->rope_freqs, nullptr);
  EXPECT_EQ(w->rope_freqs->name, "rope_freqs.weight");
  spec.tensors["rope_freqs.weight"] = {GgmlType::F32, {2}};
  ExpectError(Bind(spec, {1, 2}).status(), StatusCode::kCorruption, {"'rope_freqs.weight' has shape [2], expected [1]"});
}

TEST_F(ModelTest, RangesOutsideTheModelAreRejected) {
  for (LayerRange r : {LayerRange{-1, 2}, LayerRange{2, 2}, LayerRange{2, 1}, LayerRange{0, 4}}) {
    ExpectError(Bind(ModelSpec(), r).status(), StatusCode::kInvalidArgument,
                {"[" + std::to_string(r.first) + ", " + std::to_string(r.last) + ")", "3 layers"});
  }
}

}  // namespace
}  // namespace ps

namespace ps {
namespace {

// `run` and the coordinator share one default context: the model's, at most 4096.
TEST(LlamaConfigDefaults, DefaultContextIsTheModelsAtMost4096) {
  LlamaConfig config;
  config.n_ctx_train = 131072;  // Llama 3.1
  EXPECT_EQ(DefaultContext(config), 4096);
  config.n_ctx_train = 2048;
  EXPECT_EQ(DefaultContext(config), 2048);
  config.n_ctx_train = 0;  // unknown
  EXPECT_EQ(DefaultContext(config), 4096);
}

}  // namespace
}  // namespace ps
