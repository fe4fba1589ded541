// Byte-level BPE encoding of arbitrary bytes with the Llama 3 vocabulary (loaded from a GGUF
// file), under the Llama 3 pre-tokenizer and, when the option byte's bit 7 is set, the "default"
// one: ids stay inside the vocabulary, decoding stays valid UTF-8, and valid UTF-8 text comes
// back exactly (fuzz/support/tokenize_checks.h).
#include <cstdint>

#include "fuzz/support/fuzz_vocab.h"
#include "fuzz/support/tokenize_checks.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)ps::fuzz::FuzzTokenizer(ps::fuzz::VocabKind::kLlama3Bpe);
  (void)ps::fuzz::FuzzTokenizer(ps::fuzz::VocabKind::kDefaultBpe);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool default_pre = size > 0 && (data[0] & 0x80) != 0;
  const auto kind = default_pre ? ps::fuzz::VocabKind::kDefaultBpe : ps::fuzz::VocabKind::kLlama3Bpe;
  ps::fuzz::CheckTokenize(ps::fuzz::FuzzTokenizer(kind), data, size, /*sentencepiece=*/false);
  return 0;
}
