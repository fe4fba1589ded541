// The emulated backend: checks batches as every backend does, keeps sequence lengths, waits at
// least the modelled time, and returns zeros between stages and, on the last stage, logits whose
// only maximum is the placeholder token.
#include "worker/backend/sim/sim_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "common/gguf/gguf_file.h"
#include "tests/support/subprocess.h"
#include "tools/make_model/make_model.h"

namespace ps {
namespace {

class SimBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tiny.gguf");
    MakeModelOptions o;
    ASSERT_TRUE(MakeModel(path_, o).ok());
    auto file = gguf::GgufFile::Open(path_);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    file_ = std::move(file).value();
    auto config = ReadLlamaConfig(*file_);
    ASSERT_TRUE(config.ok());
    config_ = *config;
    options_.device = *plan::HardwareCatalog::BuiltIn().FindDevice("cpu-xeon-spr-2c");
    options_.n_ctx = 64;
    options_.max_seqs = 2;
  }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<gguf::GgufFile> file_;
  LlamaConfig config_;
  SimBackendOptions options_;
};

Batch Prompt(int32_t seq, int32_t from, int32_t n, bool logits_last) {
  Batch b;
  for (int32_t i = 0; i < n; ++i) {
    b.tokens.push_back(5);
    b.positions.push_back(from + i);
    b.seq_ids.push_back(seq);
    b.logits.push_back(logits_last && i + 1 == n ? 1 : 0);
  }
  return b;
}

TEST_F(SimBackendTest, LastStageLogitsPickThePlaceholderAfterTheModelledTime) {
  auto backend = SimBackend::Create(*file_, config_, LayerRange{0, config_.n_layer}, options_);
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  const Batch b = Prompt(1, 0, 8, true);
  const double modelled = (*backend)->ModelledSeconds(b);
  EXPECT_GT(modelled, 0);
  BatchOutput out;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*backend)->Forward(b, &out).ok());
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), modelled);
  ASSERT_EQ(out.logits.size(), static_cast<size_t>(config_.n_vocab));
  const auto best = std::max_element(out.logits.begin(), out.logits.end()) - out.logits.begin();
  EXPECT_EQ(best, SimBackend::PlaceholderToken(1, 7, config_.n_vocab));
  EXPECT_EQ(std::count(out.logits.begin(), out.logits.end(), 0.0f), config_.n_vocab - 1);
  EXPECT_EQ((*backend)->SequenceLength(1), 8);
  EXPECT_EQ((*backend)->SequenceLength(0), 0);
  // Placeholders stay away from the special tokens at both ends of the vocabulary.
  for (int32_t pos = 0; pos < 50; ++pos) {
    const int32_t t = SimBackend::PlaceholderToken(0, pos, config_.n_vocab);
    EXPECT_GE(t, config_.n_vocab / 4);
    EXPECT_LT(t, config_.n_vocab * 3 / 4 + 1);
  }
}

TEST_F(SimBackendTest, MiddleStageReturnsZerosAndChecksBatches) {
  auto backend = SimBackend::Create(*file_, config_, LayerRange{0, 2}, options_);
  ASSERT_TRUE(backend.ok());
  BatchOutput out;
  ASSERT_TRUE((*backend)->Forward(Prompt(0, 0, 4, false), &out).ok());
  EXPECT_EQ(out.hidden.size(), static_cast<size_t>(4 * config_.n_embd));
  EXPECT_TRUE(std::all_of(out.hidden.begin(), out.hidden.end(), [](float v) { return v == 0.0f; }));
  // A gap in the positions is refused and changes nothing.
  EXPECT_FALSE((*backend)->Forward(Prompt(0, 6, 2, false), &out).ok());
  EXPECT_EQ((*backend)->SequenceLength(0), 4);
  (*backend)->FreeSequence(0);
  EXPECT_EQ((*backend)->SequenceLength(0), 0);
  EXPECT_TRUE((*backend)->Forward(Prompt(0, 0, 2, false), &out).ok());
}

}  // namespace
}  // namespace ps
