// Detokenizing arbitrary token id sequences, out-of-range and negative ids included: the first
// byte picks the vocabulary (even: SentencePiece, odd: Llama 3 BPE), the rest are little-endian
// int32 ids. TokenToPiece never fails, StreamDecoder's pieces are always valid UTF-8, and when
// the tokens spell valid UTF-8 the decoder gives exactly those bytes.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/support/fuzz_check.h"
#include "fuzz/support/fuzz_vocab.h"
#include "common/tokenizer/unicode.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)ps::fuzz::FuzzTokenizer(ps::fuzz::VocabKind::kSpm);
  (void)ps::fuzz::FuzzTokenizer(ps::fuzz::VocabKind::kLlama3Bpe);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using ps::fuzz::Check;
  const auto kind = (data[0] & 1) != 0 ? ps::fuzz::VocabKind::kLlama3Bpe : ps::fuzz::VocabKind::kSpm;
  const ps::Tokenizer& t = ps::fuzz::FuzzTokenizer(kind);
  ps::StreamDecoder decoder(t);
  std::string raw, decoded;
  for (size_t at = 1; at + 4 <= size; at += 4) {
    int32_t id = 0;
    std::memcpy(&id, data + at, sizeof id);
    raw += t.TokenToPiece(id);
    (void)t.IsEndOfGeneration(id);
    const std::string piece = decoder.Push(id);
    Check(ps::unicode::IsValidUtf8(piece), "StreamDecoder::Push gives valid UTF-8");
    decoded += piece;
  }
  const std::string rest = decoder.Flush();
  Check(ps::unicode::IsValidUtf8(rest), "StreamDecoder::Flush gives valid UTF-8");
  decoded += rest;
  if (ps::unicode::IsValidUtf8(raw)) Check(decoded == raw, "StreamDecoder passes valid UTF-8 through unchanged");
  return 0;
}
