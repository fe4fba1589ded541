// The CUDA backend's whole forward pass against the CPU backend on tiny random models (make-model
// defaults: 256 wide, 4 layers, GQA 4/2 heads), and against itself across stage splits, batch
// compositions and freed sequences. Stated tolerances: logits within 1% (float weights) or 5%
// (quantized weights: the CPU quantizes activations to 8 bits, the GPU keeps them in float) of
// the largest CPU logit, and the GPU's greedy token is one the CPU ranks within that tolerance
// of its best. Without a GPU every test skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "tests/gpu/gpu_test_support.h"
#include "tests/support/subprocess.h"
#include "tools/make_model/make_model.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cuda/cuda_backend_factory.h"

namespace ps {
namespace {

struct Model {
  std::unique_ptr<gguf::GgufFile> file;
  LlamaConfig config;
};

Model MakeTiny(const test::TempDir& dir, GgmlType type, bool rope_scaling = false) {
  MakeModelOptions o;
  o.type = type;
  o.rope_scaling_llama3 = rope_scaling;
  const std::string path = dir.file(std::string(TypeName(type)) + (rope_scaling ? "-rope" : "") + ".gguf");
  EXPECT_TRUE(MakeModel(path, o).ok());
  Model m;
  auto file = gguf::GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return m;
  m.file = std::move(*file);
  m.config = ReadLlamaConfig(*m.file).value();
  return m;
}

std::unique_ptr<Backend> Gpu(const Model& m, LayerRange range, int32_t max_seqs = 2) {
  CudaBackendOptions o;
  o.n_ctx = 64;
  o.max_seqs = max_seqs;
  auto b = CreateCudaBackend(*m.file, m.config, range, o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(*b) : nullptr;
}

std::unique_ptr<Backend> Cpu(const Model& m) {
  CpuBackendOptions o;
  o.threads = 2;
  o.n_ctx = 64;
  o.max_seqs = 2;
  auto b = CpuBackend::Create(*m.file, m.config, LayerRange{0, m.config.n_layer}, o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::unique_ptr<Backend>(std::move(*b)) : nullptr;
}

// Tokens [first, first + count) of sequence `seq`, logits for the last row only.
Batch Prompt(const std::vector<int32_t>& tokens, int32_t seq, int32_t first_pos) {
  Batch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.tokens.push_back(tokens[i]);
    b.positions.push_back(first_pos + static_cast<int32_t>(i));
    b.seq_ids.push_back(seq);
    b.logits.push_back(i + 1 == tokens.size() ? 1 : 0);
  }
  return b;
}

std::vector<int32_t> PromptTokens(int64_t n_vocab, int count) {
  std::vector<int32_t> t;
  for (int i = 0; i < count; ++i) t.push_back(static_cast<int32_t>((7 * i + 3) % n_vocab));
  return t;
}

int32_t Argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

void ExpectCloseLogits(const std::vector<float>& gpu, const std::vector<float>& cpu, double rel) {
  ASSERT_EQ(gpu.size(), cpu.size());
  double scale = 0, worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(cpu[i])));
    worst = std::max(worst, std::fabs(static_cast<double>(gpu[i]) - cpu[i]));
  }
  EXPECT_LE(worst, rel * scale) << "largest logit " << scale;
  const int32_t g = Argmax(gpu), c = Argmax(cpu);
  EXPECT_GE(cpu[g], cpu[c] - rel * scale) << "GPU picks " << g << ", CPU " << c;
}

class CudaBackendTest : public test::GpuTest {
 protected:
  test::TempDir dir_;
};

// Prompt (the cuBLAS path: 21 rows) then 12 greedy steps (the GEMV path), both backends fed the
// CPU's tokens so that one near-tie cannot derail the rest.
void CompareWithCpu(const Model& m, double rel) {
  std::unique_ptr<Backend> gpu = Gpu(m, LayerRange{0, m.config.n_layer});
  std::unique_ptr<Backend> cpu = Cpu(m);
  ASSERT_TRUE(gpu && cpu);
  Batch batch = Prompt(PromptTokens(m.config.n_vocab, 21), 0, 0);
  int same_greedy = 0;
  for (int step = 0; step <= 12; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    BatchOutput g, c;
    ASSERT_TRUE(gpu->Forward(batch, &g).ok());
    ASSERT_TRUE(cpu->Forward(batch, &c).ok());
    ASSERT_EQ(g.logits.size(), static_cast<size_t>(m.config.n_vocab));
    ExpectCloseLogits(g.logits, c.logits, rel);
    same_greedy += Argmax(g.logits) == Argmax(c.logits);
    const int32_t next_pos = batch.positions.back() + 1;
    batch = Prompt({Argmax(c.logits)}, 0, next_pos);
  }
  EXPECT_EQ(gpu->SequenceLength(0), cpu->SequenceLength(0));
  // Greedy tokens: equal at (nearly) every step; a rare near-tie may flip one.
  EXPECT_GE(same_greedy, 12);
}

TEST_F(CudaBackendTest, FloatModelsMatchTheCpuBackend) {
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    SCOPED_TRACE(TypeName(type));
    CompareWithCpu(MakeTiny(dir_, type), 1e-2);
  }
}

TEST_F(CudaBackendTest, QuantizedModelsMatchTheCpuBackend) {
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q4_K,
                        GgmlType::Q5_K, GgmlType::Q6_K}) {
    SCOPED_TRACE(TypeName(type));
    CompareWithCpu(MakeTiny(dir_, type), 5e-2);
  }
}

TEST_F(CudaBackendTest, RopeFrequencyFactorsMatchTheCpuBackend) {
  CompareWithCpu(MakeTiny(dir_, GgmlType::F32, /*rope_scaling=*/true), 1e-2);
}

TEST_F(CudaBackendTest, TwoStagesGiveTheLogitsOfOne) {
  const Model m = MakeTiny(dir_, GgmlType::Q8_0);
  const int64_t mid = m.config.n_layer / 2;
  std::unique_ptr<Backend> whole = Gpu(m, {0, m.config.n_layer});
  std::unique_ptr<Backend> first = Gpu(m, {0, mid});
  std::unique_ptr<Backend> last = Gpu(m, {mid, m.config.n_layer});
  ASSERT_TRUE(whole && first && last);
  Batch batch = Prompt(PromptTokens(m.config.n_vocab, 13), 1, 0);
  for (int step = 0; step < 4; ++step) {
    BatchOutput a, h, b;
    ASSERT_TRUE(whole->Forward(batch, &a).ok());
    ASSERT_TRUE(first->Forward(batch, &h).ok());
    EXPECT_TRUE(h.logits.empty());
    ASSERT_EQ(h.hidden.size(), batch.size() * static_cast<size_t>(m.config.n_embd));
    Batch next = batch;
    next.tokens.clear();
    next.embeddings = h.hidden;
    ASSERT_TRUE(last->Forward(next, &b).ok());
    // The same kernels on the same inputs: the same bits.
    EXPECT_EQ(a.logits, b.logits);
    batch = Prompt({Argmax(a.logits)}, 1, batch.positions.back() + 1);
  }
}

TEST_F(CudaBackendTest, ABatchOfSequencesEqualsEachAlone) {
  const Model m = MakeTiny(dir_, GgmlType::Q4_K);
  std::unique_ptr<Backend> together = Gpu(m, {0, m.config.n_layer});
  std::unique_ptr<Backend> alone = Gpu(m, {0, m.config.n_layer});
  ASSERT_TRUE(together && alone);
  const std::vector<int32_t> p0 = {5, 9, 2}, p1 = {17, 4, 4, 30, 8};
  BatchOutput out;
  for (Backend* b : {together.get(), alone.get()}) {
    ASSERT_TRUE(b->Forward(Prompt(p0, 0, 0), &out).ok());
    ASSERT_TRUE(b->Forward(Prompt(p1, 1, 0), &out).ok());
  }
  // One decode step of both sequences (logits for both rows) against one row at a time.
  Batch both;
  both.tokens = {11, 12};
  both.positions = {3, 5};
  both.seq_ids = {0, 1};
  both.logits = {1, 1};
  BatchOutput joint, a, b;
  ASSERT_TRUE(together->Forward(both, &joint).ok());
  ASSERT_TRUE(alone->Forward(Prompt({11}, 0, 3), &a).ok());
  ASSERT_TRUE(alone->Forward(Prompt({12}, 1, 5), &b).ok());
  const size_t v = static_cast<size_t>(m.config.n_vocab);
  ASSERT_EQ(joint.logits.size(), 2 * v);
  EXPECT_EQ(std::vector<float>(joint.logits.begin(), joint.logits.begin() + v), a.logits);
  EXPECT_EQ(std::vector<float>(joint.logits.begin() + v, joint.logits.end()), b.logits);
}

TEST_F(CudaBackendTest, BadBatchesAreRejectedLikeTheCpuBackendAndChangeNothing) {
  const Model m = MakeTiny(dir_, GgmlType::F16);
  std::unique_ptr<Backend> gpu = Gpu(m, {0, m.config.n_layer});
  std::unique_ptr<Backend> cpu = Cpu(m);
  ASSERT_TRUE(gpu && cpu);
  BatchOutput out;
  for (Backend* b : {gpu.get(), cpu.get()}) ASSERT_TRUE(b->Forward(Prompt({1, 2, 3}, 0, 0), &out).ok());
  std::vector<Batch> bad;
  bad.push_back(Prompt({4}, 0, 5));                        // skips positions
  bad.push_back(Prompt({4}, 2, 0));                        // seq_id past max_seqs
  bad.push_back(Prompt({static_cast<int32_t>(m.config.n_vocab)}, 1, 0));  // token past the vocabulary
  bad.push_back(Prompt(PromptTokens(m.config.n_vocab, 62), 0, 3));        // past n_ctx 64
  Batch mixed = Prompt({4, 5}, 1, 0);  // row 0 valid, row 1 not: nothing may be written
  mixed.positions[1] = 7;
  bad.push_back(mixed);
  for (const Batch& b : bad) {
    const Status g = gpu->Forward(b, &out);
    const Status c = cpu->Forward(b, &out);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.code(), c.code());
    EXPECT_EQ(g.message(), c.message());
  }
  EXPECT_EQ(gpu->SequenceLength(0), 3);
  EXPECT_EQ(gpu->SequenceLength(1), 0);
  EXPECT_EQ(gpu->SequenceLength(-1), 0);
  EXPECT_EQ(gpu->SequenceLength(99), 0);
}

TEST_F(CudaBackendTest, AFreedSequenceStartsOver) {
  const Model m = MakeTiny(dir_, GgmlType::Q6_K);
  std::unique_ptr<Backend> gpu = Gpu(m, {0, m.config.n_layer});
  ASSERT_TRUE(gpu);
  const Batch prompt = Prompt({3, 1, 4, 1, 5}, 0, 0);
  BatchOutput first, again;
  ASSERT_TRUE(gpu->Forward(prompt, &first).ok());
  EXPECT_EQ(gpu->SequenceLength(0), 5);
  gpu->FreeSequence(0);
  gpu->FreeSequence(-3);  // ignored, as by the CPU backend
  EXPECT_EQ(gpu->SequenceLength(0), 0);
  ASSERT_TRUE(gpu->Forward(prompt, &again).ok());
  EXPECT_EQ(first.logits, again.logits);
}

TEST_F(CudaBackendTest, MissingDeviceIsNamed) {
  const Model m = MakeTiny(dir_, GgmlType::Q8_0);
  CudaBackendOptions o;
  o.device = 999;
  const auto b = CreateCudaBackend(*m.file, m.config, LayerRange{0, m.config.n_layer}, o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().message().find("cuda:999 not present"), std::string::npos) << b.status().message();
}

}  // namespace
}  // namespace ps
