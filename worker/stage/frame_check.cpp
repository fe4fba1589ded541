#include "worker/stage/frame_check.h"

#include <algorithm>
#include <string>

#include "transport/sampling_check.h"

namespace ps {

namespace {

using pipeshard::v1::Frame;

std::string Row(int i) { return " (row " + std::to_string(i) + ")"; }

Status CheckCount(const char* field, int64_t count, int32_t rows) {
  if (count != rows) {
    return Status::InvalidArgument("frame field " + std::string(field) + " has " + std::to_string(count) +
                                   " entries for " + std::to_string(rows) + " rows");
  }
  return Status::Ok();
}

Status CheckSeqId(const char* field, int32_t seq_id, const FrameLimits& limits, int row) {
  if (seq_id < 0 || seq_id >= limits.max_seqs) {
    return Status::OutOfRange("frame field " + std::string(field) + " = " + std::to_string(seq_id) +
                              Row(row) + " is outside [0, " + std::to_string(limits.max_seqs) + ")");
  }
  return Status::Ok();
}

Status CheckRows(const Frame& frame, const FrameLimits& limits) {
  const int32_t rows = frame.rows();
  if (rows <= 0 || rows > limits.max_rows) {
    return Status::InvalidArgument("frame rows = " + std::to_string(rows) + " is outside [1, " +
                                   std::to_string(limits.max_rows) + "]");
  }
  PS_RETURN_IF_ERROR(CheckCount("seq_ids", frame.seq_ids_size(), rows));
  PS_RETURN_IF_ERROR(CheckCount("positions", frame.positions_size(), rows));
  PS_RETURN_IF_ERROR(CheckCount("tokens", frame.tokens_size(), rows));
  PS_RETURN_IF_ERROR(CheckCount("need_logits", static_cast<int64_t>(frame.need_logits().size()), rows));
  for (int i = 0; i < rows; ++i) {
    PS_RETURN_IF_ERROR(CheckSeqId("seq_ids", frame.seq_ids(i), limits, i));
    const int32_t pos = frame.positions(i);
    if (pos < 0 || pos >= limits.n_ctx) {
      return Status::OutOfRange("frame field positions = " + std::to_string(pos) + Row(i) +
                                " is outside the context [0, " + std::to_string(limits.n_ctx) + ")");
    }
    const int32_t token = frame.tokens(i);
    if (token < 0 || token >= limits.n_vocab) {
      return Status::OutOfRange("frame field tokens = " + std::to_string(token) + Row(i) +
                                " is outside the vocabulary [0, " + std::to_string(limits.n_vocab) + ")");
    }
    const auto flag = static_cast<unsigned char>(frame.need_logits()[static_cast<size_t>(i)]);
    if (flag > 1) {
      return Status::InvalidArgument("frame field need_logits = " + std::to_string(flag) + Row(i) +
                                     " is not 0 or 1");
    }
  }
  return Status::Ok();
}

Status CheckPayload(const Frame& frame, const FrameLimits& limits) {
  if (limits.first_stage) {
    // The first stage embeds tokens; cols and dtype carry no meaning on its input.
    if (!frame.payload().empty()) {
      return Status::InvalidArgument("frame for the first stage carries a payload of " +
                                     std::to_string(frame.payload().size()) + " bytes (it takes token ids)");
    }
    return Status::Ok();
  }
  if (frame.dtype() != pipeshard::v1::DTYPE_F32) {
    return Status::Unsupported("frame dtype " + pipeshard::v1::DType_Name(frame.dtype()) +
                               " is not supported (DTYPE_F32 only)");
  }
  if (frame.cols() != limits.n_embd) {
    return Status::InvalidArgument("frame cols = " + std::to_string(frame.cols()) +
                                   " does not match the model width n_embd = " + std::to_string(limits.n_embd));
  }
  const uint64_t expected = static_cast<uint64_t>(frame.rows()) * static_cast<uint64_t>(limits.n_embd) * 4u;
  if (frame.payload().size() != expected) {
    return Status::InvalidArgument("frame payload has " + std::to_string(frame.payload().size()) +
                                   " bytes; rows x cols x 4 = " + std::to_string(expected));
  }
  return Status::Ok();
}

Status CheckStarts(const Frame& frame, const FrameLimits& limits) {
  for (int i = 0; i < frame.starts_size(); ++i) {
    const int32_t seq_id = frame.starts(i).seq_id();
    if (seq_id < 0 || seq_id >= limits.max_seqs) {
      return Status::OutOfRange("frame field starts[" + std::to_string(i) + "].seq_id = " +
                                std::to_string(seq_id) + " is outside [0, " + std::to_string(limits.max_seqs) +
                                ")");
    }
    // A replay's sampler skips this many samples' draws: no sequence has sampled more tokens
    // than its context holds (and an unbounded count would stall the stage in the skip).
    const int32_t drawn = frame.starts(i).samples_drawn();
    if (drawn < 0 || drawn > limits.n_ctx) {
      return Status::OutOfRange("frame field starts[" + std::to_string(i) + "].samples_drawn = " +
                                std::to_string(drawn) + " is outside [0, n_ctx " + std::to_string(limits.n_ctx) + "]");
    }
    PS_RETURN_IF_ERROR(
        CheckSamplingParams(frame.starts(i).sampling(), "frame field starts[" + std::to_string(i) + "].sampling"));
  }
  return Status::Ok();
}

}  // namespace

int32_t MaxFrameRows(int32_t n_ctx, int32_t max_seqs) {
  constexpr int64_t kCap = 1 << 16;
  return static_cast<int32_t>(std::clamp<int64_t>(static_cast<int64_t>(n_ctx) * max_seqs, 1, kCap));
}

Status CheckFrame(const Frame& frame, const FrameLimits& limits) {
  PS_RETURN_IF_ERROR(CheckRows(frame, limits));
  PS_RETURN_IF_ERROR(CheckPayload(frame, limits));
  PS_RETURN_IF_ERROR(CheckStarts(frame, limits));
  if (frame.sampled_size() != 0) {
    return Status::InvalidArgument("frame carries " + std::to_string(frame.sampled_size()) +
                                   " sampled tokens; only the last stage's output may");
  }
  return Status::Ok();
}

}  // namespace ps
