// Model shapes the cost-model and simulator tests compute by hand.
// Thread-safety: plain values.
#pragma once

#include "common/model/llama_config.h"

namespace ps::test {

// Meta's Llama 3 8B: 32 blocks of 4096, 32 query and 8 KV heads of 128, FFN 14336, 128256 tokens.
inline LlamaConfig Llama3_8BConfig() {
  LlamaConfig c;
  c.n_embd = 4096;
  c.n_layer = 32;
  c.n_head = 32;
  c.n_head_kv = 8;
  c.n_ff = 14336;
  c.n_vocab = 128256;
  return c;
}

}  // namespace ps::test
