// The interface every device backend offers the stage executor: run a batch of tokens through
// the stage's layer range, keep per-sequence KV caches, free them.
// Thread-safety: one caller at a time per backend instance.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/util/status.h"

namespace ps {

// One micro-batch: many tokens of many sequences. Row i is token i.
struct Batch {
  std::vector<int32_t> tokens;      // [n] token ids; used by the first stage
  std::vector<float> embeddings;    // [n, n_embd] input activations; used by later stages
  std::vector<int32_t> positions;   // [n] position of each token inside its sequence
  std::vector<int32_t> seq_ids;     // [n] sequence (KV slot) of each token
  std::vector<uint8_t> logits;      // [n] 1 where the last stage must output logits
  size_t size() const { return positions.size(); }
};

// Called by a backend's Create after each layer's weights are in place (copied, repacked or
// uploaded): layers of the range done so far, of how many. For progress reports; on the
// creating thread.
using LayersLoadedFn = std::function<void(int32_t done, int32_t total)>;

struct BatchOutput {
  std::vector<float> hidden;  // [n, n_embd] when the stage is not the last
  std::vector<float> logits;  // [rows with logits, n_vocab] in batch order, last stage only
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Checks the batch (sizes agree, ids in range, positions continue each sequence's cache and fit
  // the context) before computing; a bad batch leaves every cache untouched.
  virtual Status Forward(const Batch& batch, BatchOutput* out) = 0;
  // Forgets a sequence's cached keys and values; its slot may be reused.
  virtual void FreeSequence(int32_t seq_id) = 0;
  // Tokens cached for a sequence (the next position it expects).
  virtual int32_t SequenceLength(int32_t seq_id) const = 0;
};

}  // namespace ps
