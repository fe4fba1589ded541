#include "tools/make_model/spm_vocab.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tools/make_model/spm_corpus.h"

namespace ps::make_model {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
// Stop learning at this many tokens in all (specials and bytes included), or earlier when every
// word of the text is a single piece. Pairs seen only once are merged too: they turn the rarer
// words into whole pieces, which brings the vocabulary to about 1300 tokens, enough for an
// output head that looks like a real model's.
constexpr size_t kMaxTokens = 2000;
constexpr int64_t kMinPairCount = 1;

enum class CharClass { kLetter, kDigit, kOther };

CharClass ClassOf(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\'') return CharClass::kLetter;
  if (c >= '0' && c <= '9') return CharClass::kDigit;
  return CharClass::kOther;
}

// Splits the text the way SentencePiece sees it: words separated by whitespace, each word
// prefixed with U+2581, and a word cut further where letters meet digits or punctuation (so
// that "sea." learns "▁sea" and "." rather than "▁sea."). The space marker stays on the first
// segment. Returns segment -> count, ordered, so everything downstream is deterministic.
std::map<std::string, int64_t> CountSegments(std::string_view text) {
  std::map<std::string, int64_t> counts;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    size_t end = i;
    while (end < text.size() && text[end] != ' ' && text[end] != '\n' && text[end] != '\t') ++end;
    if (end == i) break;
    std::string segment(kSpace);
    for (size_t j = i; j < end; ++j) {
      const bool boundary = j > i && (ClassOf(text[j]) != ClassOf(text[j - 1]) || ClassOf(text[j]) == CharClass::kOther);
      if (boundary) {
        ++counts[segment];
        segment.clear();
      }
      segment.push_back(text[j]);
    }
    ++counts[segment];
    i = end;
  }
  return counts;
}

// UTF-8 characters of s (the training text is ASCII plus U+2581).
std::vector<std::string> SplitChars(const std::string& s) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    chars.push_back(s.substr(i, len));
    i += len;
  }
  return chars;
}

Vocabulary Learn() {
  // Symbols are ids into `pieces`; a word is its current list of symbols.
  std::vector<std::string> pieces;
  std::map<std::string, int32_t> piece_id;
  auto intern = [&](const std::string& p) {
    auto [it, inserted] = piece_id.emplace(p, static_cast<int32_t>(pieces.size()));
    if (inserted) pieces.push_back(p);
    return it->second;
  };

  struct Word {
    std::vector<int32_t> symbols;
    int64_t count;
  };
  std::vector<Word> words;
  std::map<std::string, int64_t> char_counts;
  for (const auto& [segment, count] : CountSegments(SpmTrainingText())) {
    Word w{{}, count};
    for (const std::string& c : SplitChars(segment)) {
      w.symbols.push_back(intern(c));
      char_counts[c] += count;
    }
    words.push_back(std::move(w));
  }

  const size_t fixed = 3 + 256 + char_counts.size();  // specials, bytes, single characters
  std::vector<std::string> learned;                  // in merge order
  while (fixed + learned.size() < kMaxTokens) {
    std::unordered_map<uint64_t, int64_t> pair_counts;
    for (const Word& w : words) {
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
        pair_counts[(static_cast<uint64_t>(w.symbols[i]) << 32) | static_cast<uint32_t>(w.symbols[i + 1])] += w.count;
      }
    }
    // Most frequent pair; ties go to the pair whose concatenation sorts first, which is
    // independent of the hash map's iteration order.
    uint64_t best = 0;
    int64_t best_count = 0;
    std::string best_piece;
    for (const auto& [key, count] : pair_counts) {
      if (count < best_count) continue;
      std::string piece = pieces[key >> 32] + pieces[key & 0xFFFFFFFFu];
      if (count > best_count || piece < best_piece || (piece == best_piece && key < best)) {
        best = key;
        best_count = count;
        best_piece = std::move(piece);
      }
    }
    if (best_count < kMinPairCount) break;
    const auto left = static_cast<int32_t>(best >> 32);
    const auto right = static_cast<int32_t>(best & 0xFFFFFFFFu);
    const size_t before = pieces.size();
    const int32_t merged = intern(best_piece);
    if (pieces.size() > before) learned.push_back(best_piece);
    for (Word& w : words) {
      std::vector<int32_t> out;
      out.reserve(w.symbols.size());
      for (size_t i = 0; i < w.symbols.size(); ++i) {
        if (i + 1 < w.symbols.size() && w.symbols[i] == left && w.symbols[i + 1] == right) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(w.symbols[i]);
        }
      }
      w.symbols = std::move(out);
    }
  }

  Vocabulary v;
  v.model = "llama";
  v.pre = "default";
  v.add_space_prefix = true;
  auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.token_types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0.0f, TokenType::kUnknown);
  add("<s>", 0.0f, TokenType::kControl);
  add("</s>", 0.0f, TokenType::kControl);
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    add(name, 0.0f, TokenType::kByte);
  }
  // Merged pieces outrank single characters, as in a SentencePiece BPE model: the score orders
  // merges, and characters are never the result of one.
  float rank = 0.0f;
  for (const std::string& piece : learned) add(piece, -rank++, TokenType::kNormal);
  std::vector<std::pair<std::string, int64_t>> chars(char_counts.begin(), char_counts.end());
  std::stable_sort(chars.begin(), chars.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [c, count] : chars) add(c, -rank++, TokenType::kNormal);
  return v;
}

}  // namespace

const Vocabulary& BuiltInSpmVocabulary() {
  static const Vocabulary vocabulary = Learn();
  return vocabulary;
}

}  // namespace ps::make_model
