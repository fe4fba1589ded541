#include "common/tokenizer/vocab_tokenizer.h"

#include "common/tokenizer/special_tokens.h"

namespace ps {

std::vector<int32_t> VocabTokenizer::Encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  // add_bos plays the part of llama.cpp's add_special: BOS and EOS as the file asks for them.
  if (add_bos && vocab_.add_bos()) out.push_back(vocab_.bos());
  bool after_special = true;
  for (const TextFragment& f : PartitionSpecialTokens(text, vocab_, parse_special)) {
    if (f.is_token()) {
      out.push_back(f.token);
      after_special = true;
    } else {
      EncodePlain(text.substr(f.offset, f.length), after_special, &out);
      after_special = false;
    }
  }
  if (add_bos && vocab_.add_eos()) out.push_back(vocab_.eos());
  return out;
}

std::string VocabTokenizer::TokenToPiece(int32_t id) const {
  if (!vocab_.Contains(id)) return {};
  const uint32_t attrs = vocab_.attrs(id);
  if (attrs & (kAttrControl | kAttrUnknown)) return {};
  if (attrs & kAttrUserDefined) return vocab_.text(id);
  if (attrs & kAttrNormal) return NormalPiece(vocab_.text(id));
  if (attrs & kAttrByte) return std::string(1, static_cast<char>(vocab_.ByteOf(id)));
  return {};  // unused and undefined tokens render as nothing, as in llama.cpp
}

}  // namespace ps
