// Bounds checks on a frame received by a stage, before any of its bytes is used: every repeated
// field agrees with `rows`, ids and positions are in range, and the input matches the stage's
// role (tokens for the first stage, an F32 [rows, n_embd] payload for later stages).
// Thread-safety: pure function.
#pragma once

#include <cstdint>

#include "common/util/status.h"
#include "proto/stage.pb.h"

namespace ps {

struct FrameLimits {
  bool first_stage = false;  // embeds tokens: the frame carries no payload
  int64_t n_vocab = 0;       // token ids in [0, n_vocab)
  int64_t n_embd = 0;        // payload columns on later stages
  int32_t n_ctx = 0;         // positions in [0, n_ctx)
  int32_t max_seqs = 0;      // sequence ids in [0, max_seqs)
  int32_t max_rows = 0;      // rows in [1, max_rows]
};

// The most rows a stage accepts in one frame for a context and sequence count (each sequence can
// contribute at most its context), capped so a frame's payload stays allocatable.
int32_t MaxFrameRows(int32_t n_ctx, int32_t max_seqs);

// InvalidArgument or OutOfRange naming the field, the row and the value; a SequenceStart's
// sampler settings are checked as a client's are (transport/sampling_check.h). Does not look at
// `error`, `error_stage` or `microbatch_id`; error frames are passed on without checking.
Status CheckFrame(const pipeshard::v1::Frame& frame, const FrameLimits& limits);

}  // namespace ps
