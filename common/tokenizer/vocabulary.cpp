#include "common/tokenizer/vocabulary.h"

#include <algorithm>
#include <span>

namespace ps {

namespace {

using Texts = std::span<const std::string_view>;

// llama.cpp recognises these markers by their text, whatever type the file gives them, and
// treats them as control tokens (so special-token parsing finds them and they render as "").
// Each role takes the first token (by id) that matches one of its texts.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view kEndOfMessageTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPrefixTexts[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                                                "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                                                "<|code_prefix|>", "<|prefix|>"};
constexpr std::string_view kFimSuffixTexts[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                                                "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                                                "<|code_suffix|>", "<|suffix|>"};
constexpr std::string_view kFimMiddleTexts[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                                                "<｜fim▁end｜>", "<MID>", "▁<MID>",
                                                "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepoTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                              "<reponame>"};
constexpr std::string_view kFimSeparatorTexts[] = {"<|file_sep|>"};
struct FimRole {
  Texts texts;
  bool ends_generation;
};
constexpr FimRole kFimRoles[] = {
    {kFimPrefixTexts, false}, {kFimSuffixTexts, false}, {kFimMiddleTexts, false},
    {kFimPadTexts, true},     {kFimRepoTexts, true},    {kFimSeparatorTexts, true},
};
// Every token with one of these texts ends generation.
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~["};

uint32_t AttrOfType(int32_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::kUndefined: return 0;
    case TokenType::kNormal: return kAttrNormal;
    case TokenType::kUnknown: return kAttrUnknown;
    case TokenType::kControl: return kAttrControl;
    case TokenType::kUserDefined: return kAttrUserDefined;
    case TokenType::kUnused: return kAttrUnused;
    case TokenType::kByte: return kAttrByte;
  }
  return 0;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsByteTokenText(const std::string& t) {
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && HexDigit(t[3]) >= 0 &&
         HexDigit(t[4]) >= 0;
}

}  // namespace

Result<Vocabulary> Vocabulary::Build(const TokenizerData& data, bool is_bpe, bool default_add_bos) {
  const size_t n = data.tokens.size();
  if (n == 0) return Status::Corruption("tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return Status::Corruption("tokenizer.ggml.tokens has too many entries");
  if (!data.scores.empty() && data.scores.size() < n) {
    return Status::Corruption("tokenizer.ggml.scores has " + std::to_string(data.scores.size()) +
                              " entries for " + std::to_string(n) + " tokens");
  }
  if (!data.token_types.empty() && data.token_types.size() < n) {
    return Status::Corruption("tokenizer.ggml.token_type has " + std::to_string(data.token_types.size()) +
                              " entries for " + std::to_string(n) + " tokens");
  }

  Vocabulary v;
  v.texts_.reserve(n);
  v.scores_.assign(n, 0.0f);
  v.attrs_.assign(n, kAttrNormal);
  v.ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    // llama.cpp reads token texts as C strings (so a NUL ends one) and gives an empty entry a
    // placeholder text so that every text stays unique.
    std::string text = data.tokens[i].substr(0, data.tokens[i].find('\0'));
    if (text.empty()) text = "[EMPTY_" + std::to_string(i) + "]";
    auto [it, inserted] = v.ids_.emplace(text, id);
    if (!inserted) {
      return Status::Corruption("tokenizer.ggml.tokens: '" + text + "' appears as token " +
                                std::to_string(it->second) + " and " + std::to_string(i));
    }
    if (!data.scores.empty()) v.scores_[i] = data.scores[i];
    if (!data.token_types.empty()) {
      const int32_t type = data.token_types[i];
      if (type < 0 || type > static_cast<int32_t>(TokenType::kByte)) {
        return Status::Corruption("tokenizer.ggml.token_type[" + std::to_string(i) + "] = " +
                                  std::to_string(type) + " is not a token type (0..6)");
      }
      v.attrs_[i] = AttrOfType(type);
      if (type == static_cast<int32_t>(TokenType::kByte) && !IsByteTokenText(text)) {
        return Status::Corruption("tokenizer.ggml.tokens[" + std::to_string(i) + "] = '" + text +
                                  "' is a byte token but not of the form <0xNN>");
      }
    }
    v.texts_.push_back(std::move(text));
  }

  PS_RETURN_IF_ERROR(v.ResolveSpecialIds(data, is_bpe, default_add_bos));

  // Special-token parsing tries longer texts first so that a token containing another wins.
  for (int32_t id = 0; id < v.size(); ++id) {
    if (v.attrs_[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v.special_tokens_.push_back(id);
  }
  std::stable_sort(v.special_tokens_.begin(), v.special_tokens_.end(),
                   [&](int32_t a, int32_t b) { return v.texts_[a].size() > v.texts_[b].size(); });
  return v;
}

Status Vocabulary::ResolveSpecialIds(const TokenizerData& data, bool is_bpe, bool default_add_bos) {
  const auto resolve = [&](const char* key, const std::optional<int32_t>& given, int32_t fallback,
                           int32_t* out) -> Status {
    if (given) {
      if (!Contains(*given)) {
        return Status::OutOfRange(std::string(key) + " = " + std::to_string(*given) +
                                  " is outside the vocabulary of " + std::to_string(size()) + " tokens");
      }
      *out = *given;
    } else {
      *out = Contains(fallback) ? fallback : -1;  // llama.cpp drops a default that does not fit
    }
    return Status::Ok();
  };
  PS_RETURN_IF_ERROR(resolve("tokenizer.ggml.bos_token_id", data.bos_id, is_bpe ? 11 : 1, &bos_));
  PS_RETURN_IF_ERROR(resolve("tokenizer.ggml.eos_token_id", data.eos_id, is_bpe ? 11 : 2, &eos_));
  PS_RETURN_IF_ERROR(resolve("tokenizer.ggml.unknown_token_id", data.unk_id, is_bpe ? -1 : 0, &unk_));
  int32_t eot = -1, eom = -1, pad = -1;
  PS_RETURN_IF_ERROR(resolve("tokenizer.ggml.eot_token_id", data.eot_id, -1, &eot));
  PS_RETURN_IF_ERROR(resolve("tokenizer.ggml.eom_token_id", data.eom_id, -1, &eom));
  PS_RETURN_IF_ERROR(resolve("tokenizer.ggml.padding_token_id", data.pad_id, -1, &pad));

  add_bos_ = data.add_bos.value_or(default_add_bos);
  add_eos_ = data.add_eos.value_or(false);
  add_space_prefix_ = data.add_space_prefix.value_or(!is_bpe);
  if (add_bos_ && bos_ < 0) {
    return Status::Corruption("tokenizer.ggml.add_bos_token is true, but there is no tokenizer.ggml.bos_token_id");
  }
  if (add_eos_ && eos_ < 0) {
    return Status::Corruption("tokenizer.ggml.add_eos_token is true, but there is no tokenizer.ggml.eos_token_id");
  }

  ApplyTextRules(eot >= 0 ? std::optional<int32_t>(eot) : std::nullopt,
                 eom >= 0 ? std::optional<int32_t>(eom) : std::nullopt);
  return Status::Ok();
}

void Vocabulary::ApplyTextRules(std::optional<int32_t> eot_id, std::optional<int32_t> eom_id) {
  const auto find_role = [&](Texts texts) -> std::optional<int32_t> {
    std::optional<int32_t> first;
    for (std::string_view t : texts) {
      if (const auto id = Find(t); id && (!first || *id < *first)) first = id;
    }
    if (first) attrs_[*first] |= kAttrControl;
    return first;
  };
  if (!eot_id) eot_id = find_role(kEndOfTurnTexts);
  if (!eom_id) eom_id = find_role(kEndOfMessageTexts);
  for (const FimRole& role : kFimRoles) {
    const std::optional<int32_t> id = find_role(role.texts);
    if (id && role.ends_generation) eog_.insert(*id);
  }
  for (std::string_view t : kEndOfGenerationTexts) {
    if (const auto id = Find(t)) {
      eog_.insert(*id);
      attrs_[*id] |= kAttrControl;
    }
  }
  if (eos_ >= 0) eog_.insert(eos_);
  if (eot_id) eog_.insert(*eot_id);
  if (eom_id) eog_.insert(*eom_id);
}

std::optional<int32_t> Vocabulary::Find(std::string_view text) const {
  const auto it = ids_.find(std::string(text));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

uint8_t Vocabulary::ByteOf(int32_t id) const {
  const std::string& t = texts_[id];
  return static_cast<uint8_t>(HexDigit(t[3]) * 16 + HexDigit(t[4]));
}

}  // namespace ps
