#include "common/tokenizer/bpe_pretokenizer.h"

#include <cstdint>
#include <optional>

#include "common/tokenizer/unicode.h"

namespace ps {

namespace {

using unicode::CodepointClass;

// The decoded text with each code point's class looked up once.
struct Text {
  std::vector<uint32_t> cps;
  std::vector<CodepointClass> classes;
};

// One piece of the text being split: [begin, end) in code points. Positions outside it read as
// "no character" (code point kNone, empty class), which is how llama.cpp's matchers see the
// edges of a piece.
class Piece {
 public:
  static constexpr uint32_t kNone = 0xFFFFFFFF;

  Piece(const Text& text, size_t begin, size_t end, std::vector<size_t>* out)
      : text_(text), begin_(begin), end_(end), emitted_(begin), out_(out) {}

  size_t begin() const { return begin_; }
  size_t end() const { return end_; }
  uint32_t cp(size_t pos) const { return InRange(pos) ? text_.cps[pos] : kNone; }
  CodepointClass cls(size_t pos) const { return InRange(pos) ? text_.classes[pos] : CodepointClass{}; }

  // Ends the current word at `pos` (no-op for an empty word).
  void EmitUpTo(size_t pos) {
    if (pos > emitted_) out_->push_back(pos - emitted_);
    emitted_ = pos;
  }

 private:
  bool InRange(size_t pos) const { return pos >= begin_ && pos < end_; }
  const Text& text_;
  size_t begin_, end_, emitted_;
  std::vector<size_t>* out_;
};

bool IsCrOrLf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// (?i:'s|'t|'re|'ve|'m|'ll|'d) at pos (case-sensitive when fold_case is false); returns the
// match length or 0.
size_t MatchContraction(const Piece& p, size_t pos, bool fold_case) {
  if (p.cp(pos) != '\'' || pos + 1 >= p.end()) return 0;
  const auto fold = [&](uint32_t c) { return fold_case ? unicode::ToLower(c) : c; };
  const uint32_t c1 = fold(p.cp(pos + 1));
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= p.end()) return 0;
  const uint32_t c2 = fold(p.cp(pos + 2));
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

bool IsWordlike(const CodepointClass& c) { return c.whitespace || c.letter || c.number; }

// The whitespace alternatives shared by both regexes, for the run of \s starting at pos.
// With newline_rule, \s*[\r\n]+ comes first (Llama 3). Returns where the word ends.
size_t MatchWhitespace(const Piece& p, size_t pos, bool newline_rule) {
  size_t n = 0;
  std::optional<size_t> after_last_newline;
  while (p.cls(pos + n).whitespace) {
    if (IsCrOrLf(p.cp(pos + n))) after_last_newline = pos + n + 1;
    ++n;
  }
  if (newline_rule && after_last_newline) return *after_last_newline;  // \s*[\r\n]+
  // \s+(?!\S): a run followed by a character leaves its last space to that character's word.
  if (n > 1 && p.cp(pos + n) != Piece::kNone) return pos + n - 1;
  if (n > 0) return pos + n;  // \s+
  return pos + 1;             // nothing matched: the character is a word by itself
}

// The Llama 3 regex, and Qwen2's, which differs only in cutting digit runs into words of
// `digits_per_word` (3 and 1) instead of \p{N}{1,3}.
void SplitLlama3Style(Piece& p, size_t digits_per_word) {
  size_t pos = p.begin();
  while (pos < p.end()) {
    const uint32_t cp = p.cp(pos);
    const CodepointClass c = p.cls(pos);

    if (size_t n = MatchContraction(p, pos, /*fold_case=*/true)) {
      pos += n;
    } else if (!(IsCrOrLf(cp) || c.number) && (c.letter || p.cls(pos + 1).letter)) {
      // [^\r\n\p{L}\p{N}]?\p{L}+ : the first character is either the optional prefix or a letter.
      ++pos;
      while (p.cls(pos).letter) ++pos;
    } else if (c.number) {
      // A digit run is cut into words of digits_per_word from its start.
      size_t run_start = pos;
      while (p.cls(pos).number) {
        if (++pos - run_start == digits_per_word) {
          p.EmitUpTo(pos);
          run_start = pos;
        }
      }
    } else if (const CodepointClass next = cp == ' ' ? p.cls(pos + 1) : c; !IsWordlike(next) && c.any()) {
      //  ?[^\s\p{L}\p{N}]+[\r\n]*
      if (cp == ' ') ++pos;
      while (!IsWordlike(p.cls(pos)) && p.cls(pos).any()) ++pos;
      while (IsCrOrLf(p.cp(pos))) ++pos;
    } else {
      pos = MatchWhitespace(p, pos, /*newline_rule=*/true);
    }
    p.EmitUpTo(pos);
  }
}

// Tekken's letter classes as llama.cpp's std::regex sees them: it keeps ASCII and replaces every
// other code point by one byte for its class, so case is known for A-Z and a-z only.
bool IsTekkenUpper(const Piece& p, size_t pos) {  // (?=\p{L})[^a-z]
  return p.cls(pos).letter && !(p.cp(pos) >= 'a' && p.cp(pos) <= 'z');
}
bool IsTekkenLower(const Piece& p, size_t pos) {  // (?=\p{L})[^A-Z]
  return p.cls(pos).letter && !(p.cp(pos) >= 'A' && p.cp(pos) <= 'Z');
}

// U*W+ else U+W* at q, settled as a backtracking regex engine does; returns the word's end.
std::optional<size_t> MatchTekkenLetters(const Piece& p, size_t q) {
  size_t upper_end = q;
  std::optional<size_t> after_last_both;  // after the last letter of the U run that is also W
  for (; IsTekkenUpper(p, upper_end); ++upper_end) {
    if (IsTekkenLower(p, upper_end)) after_last_both = upper_end + 1;
  }
  if (IsTekkenLower(p, upper_end)) {  // U*W+ with the whole U run: "HTTPServer", "Hello"
    size_t end = upper_end;
    while (IsTekkenLower(p, end)) ++end;
    return end;
  }
  // U* gives letters back until W+ can take one, which only a non-ASCII letter allows, and W+
  // then ends at the next ASCII capital: "ÉCOLE" is "É" + "COLE", "CAFÉ" one word.
  if (after_last_both) return *after_last_both;
  if (upper_end > q) return upper_end;  // U+W*, W* empty: "HTTP"
  return std::nullopt;
}

void SplitTekken(Piece& p) {
  size_t pos = p.begin();
  while (pos < p.end()) {
    const uint32_t cp = p.cp(pos);
    const CodepointClass c = p.cls(pos);
    // [^\r\n\p{L}\p{N}]? before the letters; if they fail with it, they fail without it too,
    // since the prefix character is no letter.
    const bool prefix = !IsCrOrLf(cp) && !c.letter && !c.number;
    if (const std::optional<size_t> end = MatchTekkenLetters(p, prefix ? pos + 1 : pos)) {
      pos = *end;
    } else if (c.number) {
      ++pos;  // \p{N}
    } else if (const CodepointClass next = cp == ' ' ? p.cls(pos + 1) : c; !IsWordlike(next) && next.any()) {
      //  ?[^\s\p{L}\p{N}]+[\r\n/]*
      if (cp == ' ') ++pos;
      while (!IsWordlike(p.cls(pos)) && p.cls(pos).any()) ++pos;
      while (IsCrOrLf(p.cp(pos)) || p.cp(pos) == '/') ++pos;
    } else {
      pos = MatchWhitespace(p, pos, /*newline_rule=*/true);
    }
    p.EmitUpTo(pos);
  }
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void SplitGpt2(Piece& p) {
  size_t pos = p.begin();
  while (pos < p.end()) {
    const uint32_t cp = p.cp(pos);
    const CodepointClass lead = cp == ' ' ? p.cls(pos + 1) : p.cls(pos);
    const size_t body = cp == ' ' ? pos + 1 : pos;  // where the optional space ends
    if (size_t n = MatchContraction(p, pos, /*fold_case=*/false)) {
      pos += n;
    } else if (lead.letter) {
      for (pos = body; p.cls(pos).letter;) ++pos;
    } else if (lead.number) {
      for (pos = body; p.cls(pos).number;) ++pos;
    } else if (!IsWordlike(lead) && lead.any()) {
      for (pos = body; !IsWordlike(p.cls(pos)) && p.cls(pos).any();) ++pos;
    } else {
      pos = MatchWhitespace(p, pos, /*newline_rule=*/false);
    }
    p.EmitUpTo(pos);
  }
}

// A regex pass as llama.cpp runs it through std::regex: every leftmost-longest run of code points
// satisfying `in_run` becomes a word, and so does each stretch between runs.
template <typename Pred>
void SplitRuns(Piece& p, Pred in_run) {
  size_t pos = p.begin();
  while (pos < p.end()) {
    if (!in_run(pos)) {
      ++pos;
      continue;
    }
    p.EmitUpTo(pos);
    while (pos < p.end() && in_run(pos)) ++pos;
    p.EmitUpTo(pos);
  }
  p.EmitUpTo(p.end());
}

// A regex pass matching one code point, as llama.cpp runs \p{N} through std::regex: each code
// point satisfying `alone` is a word, and so is each stretch between them.
template <typename Pred>
void SplitEach(Piece& p, Pred alone) {
  for (size_t pos = p.begin(); pos < p.end(); ++pos) {
    if (!alone(pos)) continue;
    p.EmitUpTo(pos);
    p.EmitUpTo(pos + 1);
  }
  p.EmitUpTo(p.end());
}

// [0-9][0-9][0-9]: successive non-overlapping triples of ASCII digits are words; what lies
// between them (including a run's leftover one or two digits) is a word too.
void SplitDigitTriples(Piece& p) {
  const auto digit = [&](size_t pos) { return p.cp(pos) >= '0' && p.cp(pos) <= '9'; };
  size_t pos = p.begin();
  while (pos < p.end()) {
    if (digit(pos) && digit(pos + 1) && digit(pos + 2)) {
      p.EmitUpTo(pos);
      pos += 3;
      p.EmitUpTo(pos);
    } else {
      ++pos;
    }
  }
  p.EmitUpTo(p.end());
}

bool IsDefaultPunctuation(const Text& t, size_t pos) {
  const uint32_t cp = t.cps[pos];
  if (cp < 0x80) {
    switch (cp) {
      case '$': case '+': case '<': case '=': case '>': case '^': case '~': case '|': return true;
      default: break;
    }
  }
  return t.classes[pos].punctuation && !t.classes[pos].whitespace;
}

bool IsNumber(const Text& t, size_t pos) { return t.classes[pos].number && !t.classes[pos].whitespace; }

// Runs `split` over every piece of `lengths` and returns the finer pieces.
template <typename Split>
std::vector<size_t> Refine(const Text& text, const std::vector<size_t>& lengths, Split split) {
  std::vector<size_t> out;
  out.reserve(lengths.size());
  size_t begin = 0;
  for (size_t len : lengths) {
    Piece piece(text, begin, begin + len, &out);
    split(piece);
    begin += len;
  }
  return out;
}

}  // namespace

std::vector<std::string> PreTokenize(BpePreTokenizer kind, std::string_view utf8) {
  Text text;
  text.cps = unicode::DecodeUtf8(utf8);
  if (text.cps.empty()) return {};
  text.classes.reserve(text.cps.size());
  for (uint32_t cp : text.cps) text.classes.push_back(unicode::Classify(cp));

  std::vector<size_t> lengths = {text.cps.size()};
  const auto is_number = [&](size_t pos) { return IsNumber(text, pos); };
  switch (kind) {
    case BpePreTokenizer::kLlama3:
      lengths = Refine(text, lengths, [](Piece& p) { SplitLlama3Style(p, 3); });
      break;
    case BpePreTokenizer::kQwen2:
      lengths = Refine(text, lengths, [](Piece& p) { SplitLlama3Style(p, 1); });
      break;
    case BpePreTokenizer::kTekken:
      lengths = Refine(text, lengths, SplitTekken);
      break;
    case BpePreTokenizer::kSmolLm:
      lengths = Refine(text, lengths, [&](Piece& p) { SplitEach(p, is_number); });
      lengths = Refine(text, lengths, SplitGpt2);
      break;
    case BpePreTokenizer::kDefault:
      lengths = Refine(text, lengths, [&](Piece& p) {
        SplitRuns(p, [&](size_t pos) { return IsDefaultPunctuation(text, pos); });
      });
      lengths = Refine(text, lengths, SplitGpt2);
      lengths = Refine(text, lengths, [&](Piece& p) { SplitRuns(p, is_number); });
      lengths = Refine(text, lengths, SplitDigitTriples);
      break;
  }

  std::vector<std::string> words;
  words.reserve(lengths.size());
  size_t begin = 0;
  for (size_t len : lengths) {
    std::string word;
    for (size_t i = begin; i < begin + len; ++i) unicode::AppendUtf8(text.cps[i], &word);
    words.push_back(std::move(word));
    begin += len;
  }
  return words;
}

}  // namespace ps
