// The part of a Tokenizer that does not depend on the algorithm: the vocabulary, special-token
// parsing, BOS/EOS, end-of-generation, and rendering of non-normal tokens. Subclasses split plain
// text into tokens and render normal tokens.
// Thread-safety: immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/vocabulary.h"

namespace ps {

class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {}

  std::vector<int32_t> Encode(std::string_view text, bool add_bos, bool parse_special) const final;
  std::string TokenToPiece(int32_t id) const final;

  int32_t n_vocab() const final { return vocab_.size(); }
  int32_t bos() const final { return vocab_.bos(); }
  int32_t eos() const final { return vocab_.eos(); }
  bool IsEndOfGeneration(int32_t id) const final { return vocab_.IsEndOfGeneration(id); }
  bool adds_bos() const final { return vocab_.add_bos(); }

 protected:
  const Vocabulary& vocab() const { return vocab_; }

  // Appends the tokens of a stretch of plain text. `after_special` is true for the first stretch
  // and for one that follows a special token.
  virtual void EncodePlain(std::string_view text, bool after_special, std::vector<int32_t>* out) const = 0;
  // The bytes of a normal token.
  virtual std::string NormalPiece(const std::string& token_text) const = 0;

 private:
  Vocabulary vocab_;
};

}  // namespace ps
