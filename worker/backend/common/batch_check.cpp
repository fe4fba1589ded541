#include "worker/backend/common/batch_check.h"

#include <string>

namespace ps {

namespace {
std::string Row(size_t i) { return "batch row " + std::to_string(i) + ": "; }
}  // namespace

Status ValidateBatch(const Batch& b, const BatchLimits& limits, std::vector<int32_t>* end_pos) {
  const size_t n = b.size();
  if (b.seq_ids.size() != n) {
    return Status::InvalidArgument("batch: seq_ids has " + std::to_string(b.seq_ids.size()) +
                                   " entries, positions " + std::to_string(n));
  }
  if (limits.first_stage && b.tokens.size() != n) {
    return Status::InvalidArgument("batch: tokens has " + std::to_string(b.tokens.size()) + " entries, positions " +
                                   std::to_string(n));
  }
  if (!limits.first_stage && b.embeddings.size() != n * static_cast<size_t>(limits.n_embd)) {
    return Status::InvalidArgument("batch: embeddings has " + std::to_string(b.embeddings.size()) +
                                   " values, expected " + std::to_string(n) + " rows x n_embd " +
                                   std::to_string(limits.n_embd));
  }
  if (limits.last_stage && b.logits.size() != n) {
    return Status::InvalidArgument("batch: logits has " + std::to_string(b.logits.size()) + " entries, positions " +
                                   std::to_string(n));
  }
  if (end_pos->size() != static_cast<size_t>(limits.max_seqs)) {
    return Status::Internal("batch check: " + std::to_string(end_pos->size()) + " sequence lengths for max_seqs " +
                            std::to_string(limits.max_seqs));
  }
  std::vector<int32_t>& end = *end_pos;
  for (size_t i = 0; i < n; ++i) {
    const int32_t seq = b.seq_ids[i];
    const int32_t pos = b.positions[i];
    if (seq < 0 || seq >= limits.max_seqs) {
      return Status::InvalidArgument(Row(i) + "seq_id " + std::to_string(seq) + " outside [0, " +
                                     std::to_string(limits.max_seqs) + ")");
    }
    if (limits.first_stage && (b.tokens[i] < 0 || b.tokens[i] >= limits.n_vocab)) {
      return Status::InvalidArgument(Row(i) + "token " + std::to_string(b.tokens[i]) + " outside [0, " +
                                     std::to_string(limits.n_vocab) + ")");
    }
    if (pos != end[seq]) {
      return Status::InvalidArgument(Row(i) + "position " + std::to_string(pos) + " of sequence " +
                                     std::to_string(seq) + " does not continue it (expected " +
                                     std::to_string(end[seq]) + ")");
    }
    if (pos >= limits.n_ctx) {
      return Status::OutOfRange(Row(i) + "position " + std::to_string(pos) + " of sequence " + std::to_string(seq) +
                                " is past the context (n_ctx " + std::to_string(limits.n_ctx) + ")");
    }
    end[seq] = pos + 1;
  }
  return Status::Ok();
}

}  // namespace ps
