// Text <-> token ids for two of the vocabularies llama.cpp supports:
//  - "gpt2": byte-level BPE with the Llama 3 ("llama-bpe"), Qwen2/3 ("qwen2"), Mistral Nemo
//    ("tekken"), SmolLM ("smollm") or default pre-tokenizer (bpe_pretokenizer_names.h),
//  - "llama": SentencePiece with scores and <0xNN> byte fallback (Llama 2, Mistral, TinyLlama).
// Built from a GGUF file's tokenizer.ggml.* metadata. Thread-safety: immutable after creation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/util/status.h"

namespace ps {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Errors name the missing or malformed tokenizer.ggml.* key.
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const gguf::GgufFile& file);

  // add_bos: add the special tokens the file asks for, as llama.cpp's add_special does: BOS when
  // tokenizer.ggml.add_bos_token (llama.cpp's default otherwise: yes for Llama 2, Llama 3 and
  // tekken), EOS when tokenizer.ggml.add_eos_token. parse_special: text like "<|eot_id|>" becomes that special
  // token (user-defined tokens are recognised either way). Bytes that are not valid UTF-8 are
  // tokenized as llama.cpp does (U+FFFD for byte-level BPE, byte tokens for SentencePiece).
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos, bool parse_special = true) const = 0;
  // The bytes this token stands for (control tokens render as empty, as llama.cpp does
  // when not asked to show special tokens).
  virtual std::string TokenToPiece(int32_t id) const = 0;

  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos() const = 0;   // -1 when none
  virtual int32_t eos() const = 0;   // -1 when none
  virtual bool IsEndOfGeneration(int32_t id) const = 0;  // EOS, EOT, <|eom_id|>, ...
  virtual bool adds_bos() const = 0;
};

// Turns a stream of tokens into text pieces that are always whole UTF-8 characters: bytes of a
// character split across tokens are held until the character is complete.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string Push(int32_t token);
  // Whatever is still held (an incomplete character at the end of the stream).
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

}  // namespace ps
