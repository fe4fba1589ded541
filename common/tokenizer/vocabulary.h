// The validated vocabulary both tokenizers work from: token texts, scores and attributes, the
// text -> id index, the special ids, the end-of-generation set, and the tokens that special-token
// parsing looks for. Built once from TokenizerData, applying llama.cpp's load-time rules (default
// ids, tokens recognised by their text as end-of-turn or fill-in-the-middle markers).
// Thread-safety: immutable after Build.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/tokenizer/tokenizer_data.h"
#include "common/util/status.h"

namespace ps {

// Token attributes as a bit set (llama.cpp's llama_token_attr): load-time rules can add CONTROL
// to a token of another type.
enum TokenAttr : uint32_t {
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
};

class Vocabulary {
 public:
  // Checks sizes, ids and types (errors name the field and value). `is_bpe` selects llama.cpp's
  // defaults for byte-level BPE ("gpt2") instead of SentencePiece ("llama"); `default_add_bos` is
  // add_bos() when the data leaves it unset (llama.cpp ties it to the model and pre-tokenizer).
  static Result<Vocabulary> Build(const TokenizerData& data, bool is_bpe, bool default_add_bos);

  int32_t size() const { return static_cast<int32_t>(texts_.size()); }
  bool Contains(int32_t id) const { return id >= 0 && id < size(); }
  const std::string& text(int32_t id) const { return texts_[id]; }
  float score(int32_t id) const { return scores_[id]; }
  uint32_t attrs(int32_t id) const { return attrs_[id]; }
  bool Has(int32_t id, TokenAttr attr) const { return (attrs_[id] & attr) != 0; }

  std::optional<int32_t> Find(std::string_view text) const;

  // -1 when the vocabulary has none.
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t unk() const { return unk_; }
  bool IsEndOfGeneration(int32_t id) const { return eog_.count(id) != 0; }

  // Control, user-defined and unknown tokens, longest text first: the order in which
  // special-token parsing looks for them.
  const std::vector<int32_t>& special_tokens() const { return special_tokens_; }

  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }

  // The byte value of a byte token "<0xNN>" (checked when the vocabulary is built).
  uint8_t ByteOf(int32_t id) const;

 private:
  Status ResolveSpecialIds(const TokenizerData& data, bool is_bpe, bool default_add_bos);
  void ApplyTextRules(std::optional<int32_t> eot_id, std::optional<int32_t> eom_id);

  std::vector<std::string> texts_;
  std::vector<float> scores_;
  std::vector<uint32_t> attrs_;
  std::unordered_map<std::string, int32_t> ids_;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1;
  std::unordered_set<int32_t> eog_;
  std::vector<int32_t> special_tokens_;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
};

}  // namespace ps
