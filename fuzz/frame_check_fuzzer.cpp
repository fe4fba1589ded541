// Hostile frames from a peer: any bytes are parsed as a pipeshard.v1.Frame and taken the way
// StageExecutor::Run takes them on a first, a middle, a last and a lone stage: CheckFrame; then the
// backends' batch check (worker/backend/common) on the batch built from the frame; and on the
// last stage the samplers (SequenceStart's sampling parameters come from the peer too), with
// logits derived from the frame's payload (NaN and infinities included). Every step must
// answer with a Status or a token inside the vocabulary: never a crash or an unbounded loop.
#include <cstdint>
#include <cstring>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "fuzz/support/fuzz_check.h"
#include "fuzz/support/fuzz_stage.h"
#include "proto/stage.pb.h"
#include "worker/backend/common/batch_check.h"
#include "worker/stage/frame_check.h"
#include "worker/stage/sequence_samplers.h"

namespace {

using namespace ps;
using pipeshard::v1::Frame;

// The batch StageExecutor::Run hands the backend.
Batch BatchOf(const Frame& frame, bool first_stage) {
  Batch b;
  b.tokens.assign(frame.tokens().begin(), frame.tokens().end());
  b.positions.assign(frame.positions().begin(), frame.positions().end());
  b.seq_ids.assign(frame.seq_ids().begin(), frame.seq_ids().end());
  b.logits.assign(frame.need_logits().begin(), frame.need_logits().end());
  if (!first_stage) {
    b.embeddings.resize(static_cast<size_t>(frame.rows()) * fuzz::kStageEmbd);
    std::memcpy(b.embeddings.data(), frame.payload().data(), frame.payload().size());
  }
  return b;
}

// [rows with need_logits, n_vocab] logits the fuzzer controls bit for bit: the row's
// activations repeated across the vocabulary, or on a stage that is both first and last (a
// one-worker cluster), multiples of the row's token.
std::vector<float> LogitsOf(const Batch& b) {
  std::vector<float> logits;
  for (size_t row = 0; row < b.size(); ++row) {
    if (b.logits[row] == 0) continue;
    for (int64_t v = 0; v < fuzz::kStageVocab; ++v) {
      const auto col = static_cast<size_t>(v % fuzz::kStageEmbd);
      logits.push_back(b.embeddings.empty() ? static_cast<float>(b.tokens[row]) * static_cast<float>(col)
                                            : b.embeddings[row * fuzz::kStageEmbd + col]);
    }
  }
  return logits;
}

void RunStage(const Frame& frame, bool first_stage, bool last_stage) {
  if (!CheckFrame(frame, fuzz::StageLimits(first_stage)).ok()) return;
  SequenceSamplers samplers;
  if (last_stage) {
    samplers.Start(frame);
    if (!samplers.CheckCanSample(frame).ok()) return;
  }
  const Batch batch = BatchOf(frame, first_stage);
  BatchLimits limits;
  limits.first_stage = first_stage;
  limits.last_stage = last_stage;
  limits.n_embd = fuzz::kStageEmbd;
  limits.n_vocab = fuzz::kStageVocab;
  limits.n_ctx = fuzz::kStageCtx;
  limits.max_seqs = fuzz::kStageSeqs;
  std::vector<int32_t> end_pos(fuzz::kStageSeqs, 0);
  // A stage stops at a batch its backend refuses; the fuzzer samples anyway, since the samplers
  // rely only on CheckFrame and CheckCanSample having passed.
  (void)ValidateBatch(batch, limits, &end_pos);
  if (!last_stage) return;
  google::protobuf::RepeatedPtrField<pipeshard::v1::SampledLogprobs> logprobs;
  const std::vector<int32_t> sampled = samplers.Sample(frame, LogitsOf(batch), fuzz::kStageVocab, &logprobs);
  for (int32_t token : sampled) {
    fuzz::Check(token >= 0 && token < fuzz::kStageVocab, "the sampler picks a token inside the vocabulary");
  }
  fuzz::Check(logprobs.empty() || logprobs.size() == static_cast<int>(sampled.size()),
              "log-probabilities come one per sampled token, or not at all");
  for (const auto& entry : logprobs) {
    fuzz::Check(entry.top_tokens_size() == entry.top_logprobs_size() && entry.top_tokens_size() <= kMaxTopLogprobs,
                "at most 20 top log-probabilities, each with its token");
    fuzz::Check(!(entry.logprob() > 0.0f), "a log-probability is never above 0");
  }
}

}  // namespace

// Protobuf logs every string field that is not valid UTF-8 (the peer's `error` text); at tens of
// thousands of inputs a second that drowns the fuzzer's own output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Frame frame;
  if (!frame.ParseFromArray(data, static_cast<int>(size))) return 0;
  for (const bool first : {true, false}) {
    for (const bool last : {true, false}) RunStage(frame, first, last);
  }
  return 0;
}
