// The checks every backend makes on a batch before computing anything (sizes agree, ids in
// range, positions continue each sequence's cache and fit the context): one set of rules and
// messages, so callers see one behaviour whatever the device.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <vector>

#include "common/util/status.h"
#include "worker/backend/backend.h"

namespace ps {

struct BatchLimits {
  bool first_stage = false;  // rows carry token ids
  bool last_stage = false;   // rows carry logit flags
  int64_t n_embd = 0;
  int64_t n_vocab = 0;
  int32_t n_ctx = 0;
  int32_t max_seqs = 0;
};

// end_pos: on entry each sequence's cached length ([max_seqs]); on success each sequence's
// length after the batch. On error its contents are unspecified.
Status ValidateBatch(const Batch& batch, const BatchLimits& limits, std::vector<int32_t>* end_pos);

}  // namespace ps
