// SentencePiece encoding of arbitrary bytes (make-model's built-in vocabulary, loaded from a GGUF
// file): ids stay inside the vocabulary, decoding stays valid UTF-8, and valid UTF-8 text comes
// back exactly (fuzz/support/tokenize_checks.h).
#include <cstdint>

#include "fuzz/support/fuzz_vocab.h"
#include "fuzz/support/tokenize_checks.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)ps::fuzz::FuzzTokenizer(ps::fuzz::VocabKind::kSpm);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ps::fuzz::CheckTokenize(ps::fuzz::FuzzTokenizer(ps::fuzz::VocabKind::kSpm), data, size,
                          /*sentencepiece=*/true);
  return 0;
}
