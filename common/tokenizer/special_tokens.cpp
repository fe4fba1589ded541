#include "common/tokenizer/special_tokens.h"

namespace ps {

std::vector<TextFragment> PartitionSpecialTokens(std::string_view text, const Vocabulary& vocab,
                                                 bool parse_special) {
  std::vector<TextFragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});

  for (int32_t id : vocab.special_tokens()) {
    if (!parse_special && (vocab.attrs(id) & (kAttrControl | kAttrUnknown))) continue;
    const std::string& needle = vocab.text(id);
    std::vector<TextFragment> next;
    next.reserve(fragments.size());
    for (const TextFragment& f : fragments) {
      if (f.is_token() || f.length < needle.size()) {
        next.push_back(f);
        continue;
      }
      const std::string_view stretch = text.substr(f.offset, f.length);
      size_t from = 0;
      for (size_t at = stretch.find(needle); at != std::string_view::npos; at = stretch.find(needle, from)) {
        if (at > from) next.push_back({-1, f.offset + from, at - from});
        next.push_back({id, f.offset + at, needle.size()});
        from = at + needle.size();
      }
      if (from < stretch.size()) next.push_back({-1, f.offset + from, stretch.size() - from});
    }
    fragments = std::move(next);
  }
  return fragments;
}

}  // namespace ps
