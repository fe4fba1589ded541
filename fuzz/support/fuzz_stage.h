// The stage the frame fuzzer checks frames against, shared with the seed writer so that its
// seed frames pass the check and lead the fuzzer past it into the batch check and the sampler.
// Thread-safety: constants.
#pragma once

#include <cstdint>

#include "worker/stage/frame_check.h"

namespace ps::fuzz {

inline constexpr int64_t kStageVocab = 32;
inline constexpr int64_t kStageEmbd = 8;
inline constexpr int32_t kStageCtx = 64;
inline constexpr int32_t kStageSeqs = 4;

inline FrameLimits StageLimits(bool first_stage) {
  FrameLimits l;
  l.first_stage = first_stage;
  l.n_vocab = kStageVocab;
  l.n_embd = kStageEmbd;
  l.n_ctx = kStageCtx;
  l.max_seqs = kStageSeqs;
  l.max_rows = MaxFrameRows(kStageCtx, kStageSeqs);
  return l;
}

}  // namespace ps::fuzz
