// CPU backend tests: small random Llama models written with GgufWriter, checked against a plain
// double-precision reference forward pass written here, and against itself across batch shapes,
// sequence interleavings, layer splits, thread counts and bad input.
#include "worker/backend/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <optional>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/gguf/gguf_writer.h"
#include "common/model/llama_config.h"
#include "common/quant/quant.h"
#include "tools/make_model/make_model.h"
#include "worker/backend/cpu/kernel_level.h"

namespace ps {
namespace {

// ---------------------------------------------------------------------------------------------
// Test models: random weights, kept dequantized for the reference.

struct Shape {
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 4;
  int64_t n_ff = 128;
  int64_t n_vocab = 48;
  GgmlType type = GgmlType::F32;  // of the 2-D matrices
  bool tied = false;
  bool rope_freqs = false;
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  uint64_t seed = 7;
};

struct RefLayer {
  std::vector<float> attn_norm, wq, wk, wv, wo, ffn_norm, gate, up, down;  // row-major [rows][cols]
};

struct TestModel {
  Shape shape;
  std::string path;
  std::vector<float> tok_embd;  // [n_vocab][n_embd]
  std::vector<float> output;    // [n_vocab][n_embd]
  std::vector<float> output_norm;
  std::vector<float> rope_freqs;  // [head_dim / 2] or empty
  std::vector<RefLayer> layers;
};

class ModelBuilder {
 public:
  explicit ModelBuilder(uint64_t seed) : rng_(seed) {}

  // A [rows][cols] matrix stored as `type`; returns the dequantized values the file holds.
  std::vector<float> Matrix(gguf::GgufWriter& w, const std::string& name, GgmlType type, int64_t cols,
                            int64_t rows, float scale) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> values(cols * rows);
    for (float& v : values) v = normal(rng_);
    const size_t row_bytes = RowBytes(type, cols).value();
    auto bytes = std::make_shared<std::vector<uint8_t>>(row_bytes * rows);
    std::vector<float> stored(cols * rows);
    for (int64_t r = 0; r < rows; ++r) {
      QuantizeRow(type, &values[r * cols], bytes->data() + r * row_bytes, cols);
      DequantizeRow(type, bytes->data() + r * row_bytes, &stored[r * cols], cols);
    }
    EXPECT_TRUE(w.AddTensor(name, type, {cols, rows},
                            [bytes](uint8_t* dst, size_t n) { std::memcpy(dst, bytes->data(), n); })
                    .ok());
    return stored;
  }

  std::vector<float> Vector(gguf::GgufWriter& w, const std::string& name, int64_t n, float mean, float spread) {
    std::uniform_real_distribution<float> u(mean - spread, mean + spread);
    auto values = std::make_shared<std::vector<float>>(n);
    for (float& v : *values) v = u(rng_);
    EXPECT_TRUE(w.AddTensor(name, GgmlType::F32, {n},
                            [values](uint8_t* dst, size_t nb) { std::memcpy(dst, values->data(), nb); })
                    .ok());
    return *values;
  }

 private:
  std::mt19937_64 rng_;
};

TestModel BuildModel(const Shape& s, const std::string& name) {
  TestModel m;
  m.shape = s;
  m.path = testing::TempDir() + "/cpu_backend_test_" + name + ".gguf";
  gguf::GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", name);
  w.SetU32("llama.context_length", 256);
  w.SetU32("llama.embedding_length", static_cast<uint32_t>(s.n_embd));
  w.SetU32("llama.block_count", static_cast<uint32_t>(s.n_layer));
  w.SetU32("llama.feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.SetU32("llama.attention.head_count", static_cast<uint32_t>(s.n_head));
  w.SetU32("llama.attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  w.SetU32("llama.rope.dimension_count", static_cast<uint32_t>(s.n_embd / s.n_head));
  w.SetU32("llama.vocab_size", static_cast<uint32_t>(s.n_vocab));
  w.SetF32("llama.rope.freq_base", s.rope_base);
  w.SetF32("llama.attention.layer_norm_rms_epsilon", s.rms_eps);

  ModelBuilder b(s.seed);
  const int64_t e = s.n_embd;
  const int64_t ekv = e / s.n_head * s.n_head_kv;
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(e));
  m.tok_embd = b.Matrix(w, "token_embd.weight", s.type, e, s.n_vocab, 1.0f);
  m.output_norm = b.Vector(w, "output_norm.weight", e, 1.0f, 0.2f);
  m.output = s.tied ? m.tok_embd : b.Matrix(w, "output.weight", s.type, e, s.n_vocab, in_scale);
  if (s.rope_freqs) {
    // Like Llama 3.1's factors: low frequencies (late pairs) divided by up to 8.
    const int64_t pairs = e / s.n_head / 2;
    auto f = std::make_shared<std::vector<float>>(pairs);
    for (int64_t i = 0; i < pairs; ++i) (*f)[i] = 1.0f + 7.0f * static_cast<float>(i) / static_cast<float>(pairs);
    m.rope_freqs = *f;
    EXPECT_TRUE(w.AddTensor("rope_freqs.weight", GgmlType::F32, {pairs},
                            [f](uint8_t* dst, size_t nb) { std::memcpy(dst, f->data(), nb); })
                    .ok());
  }
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    RefLayer L;
    L.attn_norm = b.Vector(w, p + "attn_norm.weight", e, 1.0f, 0.2f);
    L.wq = b.Matrix(w, p + "attn_q.weight", s.type, e, e, in_scale);
    L.wk = b.Matrix(w, p + "attn_k.weight", s.type, e, ekv, in_scale);
    L.wv = b.Matrix(w, p + "attn_v.weight", s.type, e, ekv, in_scale);
    L.wo = b.Matrix(w, p + "attn_output.weight", s.type, e, e, in_scale);
    L.ffn_norm = b.Vector(w, p + "ffn_norm.weight", e, 1.0f, 0.2f);
    L.gate = b.Matrix(w, p + "ffn_gate.weight", s.type, e, s.n_ff, in_scale);
    L.up = b.Matrix(w, p + "ffn_up.weight", s.type, e, s.n_ff, in_scale);
    L.down = b.Matrix(w, p + "ffn_down.weight", s.type, s.n_ff, e, 1.0f / std::sqrt(static_cast<float>(s.n_ff)));
    m.layers.push_back(std::move(L));
  }
  const Status st = w.Write(m.path);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return m;
}

// ---------------------------------------------------------------------------------------------
// The reference: the Llama forward pass in double precision, one token at a time.

class Reference {
 public:
  explicit Reference(const TestModel& m) : m_(m), k_(m.shape.n_layer), v_(m.shape.n_layer) {}

  // Feeds the next token of the sequence; returns its logits [n_vocab].
  std::vector<double> Step(int32_t token) {
    const Shape& s = m_.shape;
    const int64_t e = s.n_embd, hd = e / s.n_head, ekv = hd * s.n_head_kv;
    const int64_t pos = static_cast<int64_t>(k_[0].size()) / ekv;
    std::vector<double> x(m_.tok_embd.begin() + token * e, m_.tok_embd.begin() + (token + 1) * e);
    for (int64_t l = 0; l < s.n_layer; ++l) {
      const RefLayer& L = m_.layers[l];
      std::vector<double> h = Norm(x, L.attn_norm);
      std::vector<double> q = MatVec(L.wq, h, e), k = MatVec(L.wk, h, ekv), v = MatVec(L.wv, h, ekv);
      Rope(q, pos);
      Rope(k, pos);
      k_[l].insert(k_[l].end(), k.begin(), k.end());
      v_[l].insert(v_[l].end(), v.begin(), v.end());
      std::vector<double> attn(e, 0.0);
      for (int64_t head = 0; head < s.n_head; ++head) {
        const int64_t kvh = head / (s.n_head / s.n_head_kv);
        std::vector<double> scores(pos + 1);
        double max_score = -1e300;
        for (int64_t p = 0; p <= pos; ++p) {
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) dot += q[head * hd + d] * k_[l][p * ekv + kvh * hd + d];
          scores[p] = dot / std::sqrt(static_cast<double>(hd));
          max_score = std::max(max_score, scores[p]);
        }
        double sum = 0;
        for (double& sc : scores) sum += (sc = std::exp(sc - max_score));
        for (int64_t p = 0; p <= pos; ++p) {
          for (int64_t d = 0; d < hd; ++d) attn[head * hd + d] += scores[p] / sum * v_[l][p * ekv + kvh * hd + d];
        }
      }
      std::vector<double> o = MatVec(L.wo, attn, e);
      for (int64_t i = 0; i < e; ++i) x[i] += o[i];
      h = Norm(x, L.ffn_norm);
      std::vector<double> g = MatVec(L.gate, h, s.n_ff), u = MatVec(L.up, h, s.n_ff);
      for (int64_t i = 0; i < s.n_ff; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      std::vector<double> down = MatVec(L.down, g, e);
      for (int64_t i = 0; i < e; ++i) x[i] += down[i];
    }
    return MatVec(m_.output, Norm(x, m_.output_norm), s.n_vocab);
  }

 private:
  std::vector<double> Norm(const std::vector<double>& x, const std::vector<float>& w) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + m_.shape.rms_eps);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * scale * w[i];
    return out;
  }
  static std::vector<double> MatVec(const std::vector<float>& w, const std::vector<double>& x, int64_t rows) {
    const int64_t cols = static_cast<int64_t>(x.size());
    std::vector<double> y(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) y[r] += static_cast<double>(w[r * cols + c]) * x[c];
    }
    return y;
  }
  // Pairs (2i, 2i+1) of each head rotate by pos * base^(-2i/head_dim) / freq_factor[i].
  void Rope(std::vector<double>& x, int64_t pos) const {
    const int64_t hd = m_.shape.n_embd / m_.shape.n_head;
    for (size_t h0 = 0; h0 < x.size(); h0 += hd) {
      for (int64_t i = 0; i < hd / 2; ++i) {
        double theta = pos * std::pow(static_cast<double>(m_.shape.rope_base), -2.0 * i / hd);
        if (!m_.rope_freqs.empty()) theta /= m_.rope_freqs[i];
        const double a = x[h0 + 2 * i], b = x[h0 + 2 * i + 1];
        x[h0 + 2 * i] = a * std::cos(theta) - b * std::sin(theta);
        x[h0 + 2 * i + 1] = a * std::sin(theta) + b * std::cos(theta);
      }
    }
  }

  const TestModel& m_;
  std::vector<std::vector<double>> k_, v_;  // [layer][pos * n_embd_kv]
};

// ---------------------------------------------------------------------------------------------
// Helpers around the backend.

struct Loaded {
  std::unique_ptr<gguf::GgufFile> file;
  LlamaConfig config;
};

Loaded Load(const TestModel& m) {
  Loaded l;
  auto file = gguf::GgufFile::Open(m.path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  l.file = std::move(file).value();
  auto config = ReadLlamaConfig(*l.file);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  l.config = config.value();
  return l;
}

std::unique_ptr<CpuBackend> MakeBackend(const Loaded& l, LayerRange range, CpuBackendOptions o) {
  auto b = CpuBackend::Create(*l.file, l.config, range, o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

std::unique_ptr<CpuBackend> MakeBackend(const Loaded& l, CpuBackendOptions o = {}) {
  return MakeBackend(l, LayerRange{0, l.config.n_layer}, o);
}

// A batch of one sequence's next tokens, every row asking for logits.
Batch SeqBatch(const std::vector<int32_t>& tokens, int32_t seq, int32_t first_pos) {
  Batch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.tokens.push_back(tokens[i]);
    b.positions.push_back(first_pos + static_cast<int32_t>(i));
    b.seq_ids.push_back(seq);
    b.logits.push_back(1);
  }
  return b;
}

std::vector<float> Logits(Backend& backend, const Batch& b) {
  BatchOutput out;
  const Status st = backend.Forward(b, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out.logits;
}

// Feeds tokens one batch each; returns all logits concatenated.
std::vector<float> RunTokenByToken(Backend& backend, const std::vector<int32_t>& tokens, int32_t seq) {
  std::vector<float> all;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::vector<float> l = Logits(backend, SeqBatch({tokens[i]}, seq, backend.SequenceLength(seq)));
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

std::vector<int32_t> Prompt(int n, int64_t n_vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % n_vocab);
  return t;
}

// max |a - b| / max(1, max |b|)
double RelErr(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 1;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

// ---------------------------------------------------------------------------------------------
// (1) Against the reference.

struct RefCase {
  const char* name;
  Shape shape;
  double tol_f32_cache;  // relative to the largest logit, with kv_f16 = false
  double tol_f16_cache;  // with kv_f16 = true (K/V and the attention accumulator in F16)
};

void PrintTo(const RefCase& c, std::ostream* os) { *os << c.name; }

Shape With(Shape s, GgmlType type, int64_t n_head_kv, bool tied, bool rope_freqs) {
  s.type = type;
  s.n_head_kv = n_head_kv;
  s.tied = tied;
  s.rope_freqs = rope_freqs;
  return s;
}

class ReferenceTest : public testing::TestWithParam<RefCase> {};

TEST_P(ReferenceTest, LogitsMatchDoublePrecisionReference) {
  const RefCase& c = GetParam();
  const TestModel m = BuildModel(c.shape, c.name);
  const Loaded l = Load(m);
  ASSERT_TRUE(l.file);
  const std::vector<int32_t> prompt = Prompt(12, c.shape.n_vocab, 3);

  Reference ref(m);
  std::vector<float> expected;
  for (int32_t t : prompt) {
    const std::vector<double> r = ref.Step(t);
    expected.insert(expected.end(), r.begin(), r.end());
  }
  for (bool kv_f16 : {false, true}) {
    SCOPED_TRACE(kv_f16 ? "kv_f16" : "kv_f32");
    CpuBackendOptions o;
    o.kv_f16 = kv_f16;
    o.n_ctx = 32;
    const double tol = kv_f16 ? c.tol_f16_cache : c.tol_f32_cache;
    // The whole prompt as one batch (all rows want logits) ...
    std::unique_ptr<CpuBackend> batched = MakeBackend(l, o);
    ASSERT_TRUE(batched);
    const std::vector<float> got = Logits(*batched, SeqBatch(prompt, 0, 0));
    EXPECT_LE(RelErr(got, expected), tol);
    EXPECT_EQ(batched->SequenceLength(0), 12);
    // ... and token by token.
    std::unique_ptr<CpuBackend> stepped = MakeBackend(l, o);
    EXPECT_LE(RelErr(RunTokenByToken(*stepped, prompt, 0), expected), tol);
  }
}

const Shape kSmall;
const Shape kQuantShape = [] {
  Shape s;
  s.n_embd = 256;  // Q4_K blocks hold 256 values
  s.n_ff = 512;
  s.n_head = 4;
  return s;
}();

INSTANTIATE_TEST_SUITE_P(
    Shapes, ReferenceTest,
    testing::Values(RefCase{"mha_f32", With(kSmall, GgmlType::F32, 4, false, false), 1e-5, 3e-3},
                    RefCase{"gqa_f32_ropefreqs_tied", With(kSmall, GgmlType::F32, 2, true, true), 1e-5, 3e-3},
                    RefCase{"mqa_f32", With(kSmall, GgmlType::F32, 1, false, false), 1e-5, 3e-3},
                    // Quantized weights see every activation row quantized to 8 bits first (Q8_0
                    // or Q8_K), as llama.cpp does, while the reference keeps activations exact:
                    // about 1/254 of each block's largest value per element, compounded over the
                    // layers, leaves the logits 0.5-2% of the largest one away.
                    RefCase{"gqa_q8_0", With(kSmall, GgmlType::Q8_0, 2, false, false), 4e-2, 4e-2},
                    RefCase{"mha_q4_k_tied_ropefreqs", With(kQuantShape, GgmlType::Q4_K, 4, true, true), 4e-2, 4e-2},
                    RefCase{"gqa_q4_k", With(kQuantShape, GgmlType::Q4_K, 2, false, false), 4e-2, 4e-2},
                    // F16 weights see activations rounded to F16, as llama.cpp does.
                    RefCase{"gqa_f16", With(kSmall, GgmlType::F16, 2, false, false), 3e-3, 3e-3}),
    [](const testing::TestParamInfo<RefCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// Fixture for the self-consistency tests: one GQA model with rope_freqs.

class CpuBackendTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new TestModel(BuildModel(With(Shape{}, GgmlType::Q8_0, 2, false, true), "fixture"));
    loaded_ = new Loaded(Load(*model_));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    delete model_;
  }
  static CpuBackendOptions Options(bool kv_f16, int threads = 1,
                                   cpu::KernelLevel kernels = cpu::KernelLevel::kAuto) {
    CpuBackendOptions o;
    o.kv_f16 = kv_f16;
    o.threads = threads;
    o.n_ctx = 128;
    o.max_seqs = 4;
    o.kernels = kernels;
    return o;
  }
  static int64_t Vocab() { return model_->shape.n_vocab; }
  static TestModel* model_;
  static Loaded* loaded_;
};
TestModel* CpuBackendTest::model_ = nullptr;
Loaded* CpuBackendTest::loaded_ = nullptr;

// (2) A prompt as one batch equals the same prompt token by token.
TEST_F(CpuBackendTest, BatchEqualsTokenByToken) {
  struct Case {
    bool kv_f16;
    int n;
    double tol;
  };
  // With an F16 cache a sequence of >= 64 tokens in one batch takes llama.cpp's F32 attention
  // tiles while single tokens take its F16-accumulator path, so those two only agree loosely; the
  // fixture's Q8_0 weights quantize every activation row, which turns that small difference into
  // flipped 8-bit roundings downstream (about 1% of the largest logit).
  for (const Case& c : {Case{false, 70, 1e-4}, Case{true, 20, 1e-4}, Case{true, 70, 3e-2}}) {
    SCOPED_TRACE("kv_f16=" + std::to_string(c.kv_f16) + " n=" + std::to_string(c.n));
    const std::vector<int32_t> prompt = Prompt(c.n, Vocab(), 11);
    auto batched = MakeBackend(*loaded_, Options(c.kv_f16));
    auto stepped = MakeBackend(*loaded_, Options(c.kv_f16));
    EXPECT_LE(RelErr(Logits(*batched, SeqBatch(prompt, 1, 0)), RunTokenByToken(*stepped, prompt, 1)), c.tol);
  }
}

// (3) Two sequences interleaved in one batch equal each run alone, bit for bit.
TEST_F(CpuBackendTest, InterleavedSequencesEqualSeparateRuns) {
  for (bool kv_f16 : {false, true}) {
    SCOPED_TRACE(kv_f16 ? "kv_f16" : "kv_f32");
    const std::vector<int32_t> a = Prompt(7, Vocab(), 1), b = Prompt(5, Vocab(), 2);
    auto alone = MakeBackend(*loaded_, Options(kv_f16));
    const std::vector<float> la = Logits(*alone, SeqBatch(a, 0, 0));
    const std::vector<float> lb = Logits(*alone, SeqBatch(b, 2, 0));
    const std::vector<float> la2 = Logits(*alone, SeqBatch({4}, 0, 7));
    const std::vector<float> lb2 = Logits(*alone, SeqBatch({9}, 2, 5));

    // Rows: b0 a0 a1 b1 a2 ... mixed, each sequence's rows in order; only some want logits.
    auto mixed = MakeBackend(*loaded_, Options(kv_f16));
    Batch batch;
    std::vector<std::pair<int, size_t>> rows;  // (which sequence, index in it)
    size_t ia = 0, ib = 0;
    while (ia < a.size() || ib < b.size()) {
      if (ib < b.size() && (ib <= ia / 2 || ia == a.size())) {
        rows.push_back({2, ib++});
      } else {
        rows.push_back({0, ia++});
      }
    }
    for (auto [seq, i] : rows) {
      batch.tokens.push_back(seq == 0 ? a[i] : b[i]);
      batch.positions.push_back(static_cast<int32_t>(i));
      batch.seq_ids.push_back(seq);
      batch.logits.push_back(i % 2 == 0 ? 1 : 0);
    }
    const std::vector<float> lm = Logits(*mixed, batch);
    const int64_t V = Vocab();
    size_t out_row = 0;
    for (auto [seq, i] : rows) {
      if (i % 2 != 0) continue;
      const std::vector<float>& alone_logits = seq == 0 ? la : lb;
      for (int64_t t = 0; t < V; ++t) {
        ASSERT_EQ(lm[out_row * V + t], alone_logits[i * V + t]) << "seq " << seq << " token " << i;
      }
      ++out_row;
    }
    EXPECT_EQ(lm.size(), out_row * V);
    // Then one generation step of both in one batch.
    Batch step;
    step.tokens = {9, 4};
    step.positions = {5, 7};
    step.seq_ids = {2, 0};
    step.logits = {1, 1};
    const std::vector<float> ls = Logits(*mixed, step);
    EXPECT_EQ(std::vector<float>(ls.begin(), ls.begin() + V), lb2);
    EXPECT_EQ(std::vector<float>(ls.begin() + V, ls.end()), la2);
  }
}

// (4) Layers [0, k) then [k, n) passing hidden states equal the whole model exactly.
TEST_F(CpuBackendTest, LayerSplitEqualsWholeModel) {
  const std::vector<int32_t> prompt = Prompt(9, Vocab(), 5);
  const int64_t n_layer = loaded_->config.n_layer;
  auto whole = MakeBackend(*loaded_, Options(true));
  const std::vector<float> expected = Logits(*whole, SeqBatch(prompt, 0, 0));
  const std::vector<float> expected_next = Logits(*whole, SeqBatch({3}, 0, 9));
  for (int64_t k = 1; k < n_layer; ++k) {
    auto front = MakeBackend(*loaded_, LayerRange{0, k}, Options(true));
    auto back = MakeBackend(*loaded_, LayerRange{k, n_layer}, Options(true, 2));
    ASSERT_TRUE(front && back);
    for (auto [batch, want] : {std::pair{SeqBatch(prompt, 0, 0), expected}, std::pair{SeqBatch({3}, 0, 9), expected_next}}) {
      BatchOutput mid;
      ASSERT_TRUE(front->Forward(batch, &mid).ok());
      EXPECT_TRUE(mid.logits.empty());
      ASSERT_EQ(mid.hidden.size(), batch.size() * loaded_->config.n_embd);
      Batch next = batch;
      next.tokens.clear();  // later stages read only the activations
      next.embeddings = mid.hidden;
      EXPECT_EQ(Logits(*back, next), want);
    }
    EXPECT_EQ(front->SequenceLength(0), 10);
    EXPECT_EQ(back->SequenceLength(0), 10);
  }
}

// (5) Bad batches are refused before any cache changes.
TEST_F(CpuBackendTest, BadBatchesFailAndLeaveCachesUntouched) {
  const std::vector<int32_t> part1 = Prompt(6, Vocab(), 8), part2 = Prompt(4, Vocab(), 9);
  CpuBackendOptions o = Options(true);
  o.n_ctx = 10;
  auto fresh = MakeBackend(*loaded_, o);
  Logits(*fresh, SeqBatch(part1, 1, 0));
  const std::vector<float> expected = Logits(*fresh, SeqBatch(part2, 1, 6));

  auto backend = MakeBackend(*loaded_, o);
  Logits(*backend, SeqBatch(part1, 1, 0));
  // Each bad batch starts with a valid row for sequence 1 and a new sequence 0, so a backend
  // that wrote before checking every row would have changed a cache.
  auto bad = [&](auto mutate) {
    Batch b = SeqBatch({part2[0], part2[1], part2[2]}, 1, 6);
    b.tokens.insert(b.tokens.begin(), 5);
    b.positions.insert(b.positions.begin(), 0);
    b.seq_ids.insert(b.seq_ids.begin(), 0);
    b.logits.insert(b.logits.begin(), 1);
    mutate(b);
    return b;
  };
  struct Case {
    const char* what;
    Batch batch;
    StatusCode code;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"token id past vocab", bad([&](Batch& b) { b.tokens[2] = static_cast<int32_t>(Vocab()); }),
       StatusCode::kInvalidArgument, "token"},
      {"negative token id", bad([](Batch& b) { b.tokens[3] = -1; }), StatusCode::kInvalidArgument, "token -1"},
      {"seq id past max_seqs", bad([](Batch& b) { b.seq_ids[3] = 4; }), StatusCode::kInvalidArgument, "seq_id 4"},
      {"negative seq id", bad([](Batch& b) { b.seq_ids[2] = -1; }), StatusCode::kInvalidArgument, "seq_id -1"},
      {"gap in positions", bad([](Batch& b) { b.positions[3] = 9; }), StatusCode::kInvalidArgument, "position 9"},
      {"repeated position", bad([](Batch& b) { b.positions[2] = 6; }), StatusCode::kInvalidArgument, "position 6"},
      {"does not continue cache", bad([](Batch& b) { b.positions = {0, 5, 6, 7}; }), StatusCode::kInvalidArgument,
       "expected 6"},
      {"past n_ctx", bad([&](Batch& b) {
         for (int32_t p = 9; p < 12; ++p) {
           b.tokens.push_back(1);
           b.positions.push_back(p);
           b.seq_ids.push_back(1);
           b.logits.push_back(1);
         }
       }),
       StatusCode::kOutOfRange, "n_ctx 10"},
      {"seq_ids size", bad([](Batch& b) { b.seq_ids.pop_back(); }), StatusCode::kInvalidArgument, "seq_ids"},
      {"tokens size", bad([](Batch& b) { b.tokens.pop_back(); }), StatusCode::kInvalidArgument, "tokens"},
      {"logits size", bad([](Batch& b) { b.logits.push_back(1); }), StatusCode::kInvalidArgument, "logits"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    BatchOutput out;
    const Status st = backend->Forward(c.batch, &out);
    EXPECT_EQ(st.code(), c.code) << st.ToString();
    EXPECT_NE(st.message().find(c.mentions), std::string::npos) << st.message();
    EXPECT_EQ(backend->SequenceLength(0), 0);
    EXPECT_EQ(backend->SequenceLength(1), 6);
  }
  EXPECT_EQ(Logits(*backend, SeqBatch(part2, 1, 6)), expected);

  // A later stage checks the size of the activations it receives.
  const int64_t n_layer = loaded_->config.n_layer;
  auto back = MakeBackend(*loaded_, LayerRange{n_layer - 1, n_layer}, o);
  Batch b = SeqBatch({1, 2}, 0, 0);
  b.embeddings.assign(2 * loaded_->config.n_embd - 1, 0.5f);
  BatchOutput out;
  const Status st = back->Forward(b, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("embeddings"), std::string::npos) << st.message();
  EXPECT_EQ(back->SequenceLength(0), 0);
}

// (6) A freed sequence forgets its tokens and its slot behaves like a new one.
TEST_F(CpuBackendTest, FreeSequenceThenReuse) {
  const std::vector<int32_t> a = Prompt(8, Vocab(), 21), b = Prompt(5, Vocab(), 22);
  auto fresh = MakeBackend(*loaded_, Options(true));
  const std::vector<float> expected = Logits(*fresh, SeqBatch(b, 3, 0));

  auto backend = MakeBackend(*loaded_, Options(true));
  Logits(*backend, SeqBatch(a, 3, 0));
  EXPECT_EQ(backend->SequenceLength(3), 8);
  backend->FreeSequence(3);
  EXPECT_EQ(backend->SequenceLength(3), 0);
  BatchOutput out;
  EXPECT_FALSE(backend->Forward(SeqBatch({1}, 3, 8), &out).ok());  // the old length is gone
  EXPECT_EQ(Logits(*backend, SeqBatch(b, 3, 0)), expected);
  backend->FreeSequence(-1);  // out of range ids are ignored
  backend->FreeSequence(99);
  EXPECT_EQ(backend->SequenceLength(99), 0);
}

// (7) The thread count changes nothing.
TEST_F(CpuBackendTest, ThreadCountDoesNotChangeResults) {
  for (bool kv_f16 : {false, true}) {
    SCOPED_TRACE(kv_f16 ? "kv_f16" : "kv_f32");
    const std::vector<int32_t> prompt = Prompt(66, Vocab(), 31);
    auto one = MakeBackend(*loaded_, Options(kv_f16, 1));
    auto three = MakeBackend(*loaded_, Options(kv_f16, 3));
    EXPECT_EQ(Logits(*one, SeqBatch(prompt, 0, 0)), Logits(*three, SeqBatch(prompt, 0, 0)));
    EXPECT_EQ(RunTokenByToken(*one, {1, 2, 3}, 0), RunTokenByToken(*three, {1, 2, 3}, 0));
  }
}

// (8) Kernel levels. scalar and reference are one set of numerics (llama.cpp's), bit for bit,
// on both attention paths of an F16 cache (70 prompt tokens: F32 tiles; steps: F16 rows).
TEST_F(CpuBackendTest, ScalarAndReferenceLevelsAgreeBitwise) {
  const std::vector<int32_t> prompt = Prompt(70, Vocab(), 41);
  for (bool kv_f16 : {false, true}) {
    SCOPED_TRACE(kv_f16 ? "kv_f16" : "kv_f32");
    auto scalar = MakeBackend(*loaded_, Options(kv_f16, 2, cpu::KernelLevel::kScalar));
    auto reference = MakeBackend(*loaded_, Options(kv_f16, 2, cpu::KernelLevel::kReference));
    ASSERT_TRUE(scalar && reference);
    EXPECT_EQ(scalar->kernel_level(), cpu::KernelLevel::kScalar);
    EXPECT_EQ(reference->kernel_level(), cpu::KernelLevel::kReference);
    EXPECT_EQ(Logits(*scalar, SeqBatch(prompt, 0, 0)), Logits(*reference, SeqBatch(prompt, 0, 0)));
    EXPECT_EQ(RunTokenByToken(*scalar, {5, 6}, 0), RunTokenByToken(*reference, {5, 6}, 0));
  }
}

// At avx2 a row's logits depend only on its own tokens: not on the thread count, on how a prompt
// is cut into batches (one, ubatches of 32, token by token), or on other sequences in the batch.
TEST_F(CpuBackendTest, Avx2ResultsDependOnlyOnEachRowsInputs) {
  if (!cpu::CpuHasAvx2Fma()) GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C";
  const std::vector<int32_t> prompt = Prompt(70, Vocab(), 43), other = Prompt(40, Vocab(), 44);
  for (bool kv_f16 : {false, true}) {
    SCOPED_TRACE(kv_f16 ? "kv_f16" : "kv_f32");
    auto options = [&](int threads) { return Options(kv_f16, threads, cpu::KernelLevel::kAvx2); };
    // Reference run: one thread, the prompt in one batch, then two steps.
    auto base = MakeBackend(*loaded_, options(1));
    ASSERT_TRUE(base);
    EXPECT_EQ(base->kernel_level(), cpu::KernelLevel::kAvx2);
    std::vector<float> want = Logits(*base, SeqBatch(prompt, 0, 0));
    for (int32_t t : {7, 8}) {
      const std::vector<float> step = Logits(*base, SeqBatch({t}, 0, base->SequenceLength(0)));
      want.insert(want.end(), step.begin(), step.end());
    }
    const std::vector<int32_t> all = [&] {
      std::vector<int32_t> v = prompt;
      v.push_back(7);
      v.push_back(8);
      return v;
    }();
    for (int threads : {2, 3}) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      auto b = MakeBackend(*loaded_, options(threads));
      std::vector<float> got = Logits(*b, SeqBatch(prompt, 0, 0));
      const std::vector<float> steps = RunTokenByToken(*b, {7, 8}, 0);
      got.insert(got.end(), steps.begin(), steps.end());
      EXPECT_EQ(got, want);
    }
    {
      SCOPED_TRACE("ubatches of 32");
      auto b = MakeBackend(*loaded_, options(2));
      std::vector<float> got;
      for (size_t begin = 0; begin < all.size(); begin += 32) {
        const size_t end = std::min(all.size(), begin + 32);
        const std::vector<float> part = Logits(
            *b, SeqBatch(std::vector<int32_t>(all.begin() + begin, all.begin() + end), 0, static_cast<int32_t>(begin)));
        got.insert(got.end(), part.begin(), part.end());
      }
      EXPECT_EQ(got, want);
    }
    {
      SCOPED_TRACE("token by token");
      auto b = MakeBackend(*loaded_, options(2));
      EXPECT_EQ(RunTokenByToken(*b, all, 0), want);
    }
    {
      SCOPED_TRACE("interleaved with another sequence");
      auto b = MakeBackend(*loaded_, options(3));
      Batch mixed;
      std::vector<size_t> prompt_rows;  // rows of `mixed` that belong to the prompt
      for (size_t i = 0; i < prompt.size(); ++i) {
        if (i < other.size()) {
          mixed.tokens.push_back(other[i]);
          mixed.positions.push_back(static_cast<int32_t>(i));
          mixed.seq_ids.push_back(3);
          mixed.logits.push_back(0);
        }
        prompt_rows.push_back(mixed.size());
        mixed.tokens.push_back(prompt[i]);
        mixed.positions.push_back(static_cast<int32_t>(i));
        mixed.seq_ids.push_back(0);
        mixed.logits.push_back(1);
      }
      std::vector<float> got = Logits(*b, mixed);
      Batch step;  // both sequences' next tokens in one batch, the other one first
      step.tokens = {9, 7};
      step.positions = {static_cast<int32_t>(other.size()), static_cast<int32_t>(prompt.size())};
      step.seq_ids = {3, 0};
      step.logits = {1, 1};
      const std::vector<float> both = Logits(*b, step);
      got.insert(got.end(), both.begin() + Vocab(), both.end());
      EXPECT_EQ(got, std::vector<float>(want.begin(), want.end() - Vocab()));
    }
  }
}

TEST_F(CpuBackendTest, CreateRejectsBadOptions) {
  CpuBackendOptions o;
  o.threads = 0;
  EXPECT_EQ(CpuBackend::Create(*loaded_->file, loaded_->config, {0, 2}, o).status().code(),
            StatusCode::kInvalidArgument);
  o = {};
  o.max_seqs = 0;
  EXPECT_FALSE(CpuBackend::Create(*loaded_->file, loaded_->config, {0, 2}, o).ok());
  o = {};
  o.n_ctx = 0;
  EXPECT_FALSE(CpuBackend::Create(*loaded_->file, loaded_->config, {0, 2}, o).ok());
  EXPECT_FALSE(CpuBackend::Create(*loaded_->file, loaded_->config, {1, 1}, {}).ok());
  EXPECT_FALSE(CpuBackend::Create(*loaded_->file, loaded_->config, {0, 3}, {}).ok());
}

// Writes make-model's tiny preset (in `type`, or the preset's own type) to TempDir()/file and
// points m at it.
void MakeTinyModel(std::optional<GgmlType> type, const std::string& file, TestModel* m) {
  auto options = PresetOptions("tiny");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  if (type) options->type = *type;
  m->path = testing::TempDir() + "/" + file;
  const Status st = MakeModel(m->path, *options);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// make-model's tiny model (the engine's default test model) in a quantized type runs, gives
// finite logits, and agrees between one batch and token by token.
TEST(CpuBackendMakeModelTest, TinyQuantizedModelRuns) {
  TestModel m;
  ASSERT_NO_FATAL_FAILURE(MakeTinyModel(GgmlType::Q4_K, "cpu_backend_test_tiny_q4_k.gguf", &m));
  const Loaded l = Load(m);
  ASSERT_TRUE(l.file);
  const std::vector<int32_t> prompt = Prompt(10, l.config.n_vocab, 4);
  auto batched = MakeBackend(l, {});
  auto stepped = MakeBackend(l, {});
  ASSERT_TRUE(batched && stepped);
  const std::vector<float> logits = Logits(*batched, SeqBatch(prompt, 0, 0));
  ASSERT_EQ(logits.size(), prompt.size() * l.config.n_vocab);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  EXPECT_EQ(logits, RunTokenByToken(*stepped, prompt, 0));
}

// The avx2 kernels round differently from llama.cpp's numerics, but on make-model's tiny model
// (F32 weights) the logits stay close to the reference level's, prompt and steps, both caches.
TEST(CpuBackendMakeModelTest, TinyModelAvx2IsCloseToReference) {
  if (!cpu::CpuHasAvx2Fma()) GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C";
  TestModel m;
  ASSERT_NO_FATAL_FAILURE(MakeTinyModel(std::nullopt, "cpu_backend_test_tiny_f32.gguf", &m));
  const Loaded l = Load(m);
  ASSERT_TRUE(l.file);
  const std::vector<int32_t> prompt = Prompt(80, l.config.n_vocab, 6);
  for (bool kv_f16 : {false, true}) {
    SCOPED_TRACE(kv_f16 ? "kv_f16" : "kv_f32");
    CpuBackendOptions o;
    o.kv_f16 = kv_f16;
    o.n_ctx = 128;
    o.threads = 2;
    o.kernels = cpu::KernelLevel::kReference;
    auto reference = MakeBackend(l, o);
    o.kernels = cpu::KernelLevel::kAvx2;
    auto fast = MakeBackend(l, o);
    ASSERT_TRUE(reference && fast);
    const double prompt_err = RelErr(Logits(*fast, SeqBatch(prompt, 0, 0)), Logits(*reference, SeqBatch(prompt, 0, 0)));
    const double step_err = RelErr(RunTokenByToken(*fast, {1, 2, 3}, 0), RunTokenByToken(*reference, {1, 2, 3}, 0));
    // Measured: 4e-7 of the largest logit with an F32 cache (F32 sums in another order, a
    // polynomial exp). With an F16 cache a last-bit difference can flip a K/V rounding to F16
    // (3e-5 for the prompt), and the reference's steps round the query and the attention
    // accumulator to F16 (llama.cpp's one-row path) where avx2 keeps F32 (6e-4).
    EXPECT_LE(prompt_err, kv_f16 ? 3e-4 : 1e-5);
    EXPECT_LE(step_err, kv_f16 ? 5e-3 : 1e-5);
  }
}

}  // namespace
}  // namespace ps
