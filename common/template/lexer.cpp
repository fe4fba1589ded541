// A port of @huggingface/jinja's lexer (src/lexer.ts): its preprocessing and its token rules, so
// that whitespace comes out byte for byte as the reference renders it.
#include "common/template/lexer.h"

#include <algorithm>

#include "common/template/text.h"

namespace ps::jinja {

namespace {

// Text with, for each byte, the offset it had in the original template. The preprocessing
// only deletes, so every token can be placed in the text its author wrote.
struct Mapped {
  std::string text;
  std::vector<uint32_t> origin;
};

// JavaScript's `^` in multiline mode: the start, or just after \n, \r, U+2028 or U+2029.
bool AtLineStart(const std::string& s, size_t i) {
  if (i == 0) return true;
  if (s[i - 1] == '\n' || s[i - 1] == '\r') return true;
  return i >= 3 && (s.compare(i - 3, 3, "\xE2\x80\xA8") == 0 || s.compare(i - 3, 3, "\xE2\x80\xA9") == 0);
}

// The reference's preprocess(): trailing newline, lstrip_blocks, trim_blocks, generation tags.
Mapped Preprocess(std::string_view source) {
  Mapped m;
  m.text.assign(source);
  m.origin.resize(source.size());
  for (size_t i = 0; i < source.size(); ++i) m.origin[i] = static_cast<uint32_t>(i);
  if (!m.text.empty() && m.text.back() == '\n') {
    m.text.pop_back();
    m.origin.pop_back();
  }
  const auto keep_where = [&m](const std::vector<bool>& drop) {
    Mapped out;
    out.text.reserve(m.text.size());
    out.origin.reserve(m.text.size());
    for (size_t i = 0; i < m.text.size(); ++i) {
      if (drop[i]) continue;
      out.text += m.text[i];
      out.origin.push_back(m.origin[i]);
    }
    m = std::move(out);
  };

  // lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1".
  {
    std::vector<bool> drop(m.text.size(), false);
    const std::string& s = m.text;
    for (size_t i = 0; i < s.size(); ++i) {
      if (!AtLineStart(s, i)) continue;
      size_t j = i;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
      if (j > i && j + 1 < s.size() && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-')) {
        std::fill(drop.begin() + static_cast<long>(i), drop.begin() + static_cast<long>(j), true);
        i = j + 1;
      }
    }
    keep_where(drop);
  }
  // trim_blocks: /([#%-]})\n/g -> "$1".
  {
    std::vector<bool> drop(m.text.size(), false);
    const std::string& s = m.text;
    for (size_t i = 0; i + 2 < s.size(); ++i) {
      if ((s[i] == '#' || s[i] == '%' || s[i] == '-') && s[i + 1] == '}' && s[i + 2] == '\n') {
        drop[i + 2] = true;
        i += 2;
      }
    }
    keep_where(drop);
  }
  // Transformers' {% generation %} / {% endgeneration %} markers: removed, honouring `-` on either
  // side; whitespace after a marker without a trailing `-` is kept.
  {
    std::vector<bool> drop(m.text.size(), false);
    const std::string& s = m.text;
    size_t last = 0;  // where the previous marker's match ended
    for (size_t i = s.find("{%"); i != std::string::npos; i = s.find("{%", i + 1)) {
      size_t j = i + 2;
      const bool lstrip = j < s.size() && s[j] == '-';
      if (lstrip) ++j;
      while (size_t n = JsSpaceAt(s, j)) j += n;
      if (s.compare(j, 3, "end") == 0 && s.compare(j + 3, 10, "generation") == 0) j += 3;
      if (s.compare(j, 10, "generation") != 0) continue;
      j += 10;
      while (size_t n = JsSpaceAt(s, j)) j += n;
      const bool rstrip = j < s.size() && s[j] == '-';
      if (rstrip) ++j;
      if (s.compare(j, 2, "%}") != 0) continue;
      j += 2;
      size_t after_end = j;
      while (size_t n = JsSpaceAt(s, after_end)) after_end += n;
      size_t begin = i;
      while (lstrip && begin > last) {
        const size_t n = JsSpaceBefore(s, begin);
        if (n == 0 || begin - n < last) break;
        begin -= n;
      }
      std::fill(drop.begin() + static_cast<long>(begin), drop.begin() + static_cast<long>(j), true);
      if (rstrip) std::fill(drop.begin() + static_cast<long>(j), drop.begin() + static_cast<long>(after_end), true);
      last = after_end;
      i = after_end - 1;
    }
    keep_where(drop);
  }
  return m;
}

// line:column of original offsets, for offsets that mostly come in increasing order.
class PositionTracker {
 public:
  explicit PositionTracker(std::string_view source) : source_(source) {}

  SourcePos At(size_t offset) {
    offset = std::min(offset, source_.size());
    if (offset < offset_) offset_ = 0, line_ = 1, column_ = 1;
    while (offset_ < offset) {
      size_t n = 0;
      const char32_t cp = DecodeUtf8At(source_, offset_, &n);
      offset_ += n;
      if (cp == '\n') {
        ++line_;
        column_ = 1;
      } else {
        ++column_;
      }
    }
    return SourcePos{line_, column_};
  }

 private:
  std::string_view source_;
  size_t offset_ = 0;
  uint32_t line_ = 1;
  uint32_t column_ = 1;
};

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool IsDigitChar(char c) { return c >= '0' && c <= '9'; }
int HexDigit(char c) {
  if (IsDigitChar(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct Rule {
  std::string_view seq;
  TokenType type;
};
// The reference's ORDERED_MAPPING_TABLE, in its order.
constexpr Rule kRules[] = {
    {"{%", TokenType::kOpenStatement},  {"%}", TokenType::kCloseStatement},
    {"{{", TokenType::kOpenExpression}, {"}}", TokenType::kCloseExpression},
    {"(", TokenType::kOpenParen},       {")", TokenType::kCloseParen},
    {"{", TokenType::kOpenCurly},       {"}", TokenType::kCloseCurly},
    {"[", TokenType::kOpenSquare},      {"]", TokenType::kCloseSquare},
    {",", TokenType::kComma},           {".", TokenType::kDot},
    {":", TokenType::kColon},           {"|", TokenType::kPipe},
    {"<=", TokenType::kComparison},     {">=", TokenType::kComparison},
    {"==", TokenType::kComparison},     {"!=", TokenType::kComparison},
    {"<", TokenType::kComparison},      {">", TokenType::kComparison},
    {"+", TokenType::kAdditive},        {"-", TokenType::kAdditive},
    {"~", TokenType::kAdditive},        {"**", TokenType::kPower},
    {"*", TokenType::kMultiplicative},  {"//", TokenType::kMultiplicative},
    {"/", TokenType::kMultiplicative},  {"%", TokenType::kMultiplicative},
    {"=", TokenType::kEquals},
};

class Lexer {
 public:
  explicit Lexer(std::string_view source) : source_(source), m_(Preprocess(source)), src_(m_.text), where_(source) {}

  Result<std::vector<Token>> Run();

 private:
  char At(size_t i) const { return i < src_.size() ? src_[i] : '\0'; }
  SourcePos PosOf(size_t i) { return where_.At(i < m_.origin.size() ? m_.origin[i] : source_.size()); }
  Status Error(size_t at, const std::string& what) {
    return Status::InvalidArgument("template syntax error at " + PosOf(at).ToString() + ": " + what);
  }
  void Push(TokenType type, std::string value, size_t at) {
    tokens_.push_back(Token{type, std::move(value), PosOf(at)});
  }

  // consumeWhile: the reference fails when the input ends while the predicate still holds.
  template <typename Pred>
  Result<std::string> ConsumeWhile(Pred pred) {
    const size_t start = cur_;
    while (cur_ < src_.size() && pred(cur_)) {
      cur_ += pred(cur_);
      if (cur_ >= src_.size()) return Error(cur_, "unexpected end of the template");
    }
    return src_.substr(start, cur_ - start);
  }
  Result<std::string> ConsumeString(char quote);
  void StripTrailingWhitespace();
  void SkipLeadingWhitespace() {
    while (size_t n = JsSpaceAt(src_, cur_)) cur_ += n;
  }

  std::string_view source_;
  Mapped m_;
  const std::string& src_;
  PositionTracker where_;
  std::vector<Token> tokens_;
  size_t cur_ = 0;
  int curly_depth_ = 0;
};

Result<std::string> Lexer::ConsumeString(char quote) {
  std::string out;
  std::u16string units;  // \x and \u escapes, joined so that an escaped surrogate pair makes one character
  const auto flush_units = [&] {
    if (!units.empty()) out += FromUtf16(units), units.clear();
  };
  for (;;) {
    if (cur_ >= src_.size()) return Error(cur_, "unterminated string literal");
    const char c = src_[cur_];
    if (c == quote) break;
    ++cur_;
    if (c != '\\') {
      flush_units();
      out += c;
      continue;
    }
    if (cur_ >= src_.size()) return Error(cur_, "unterminated string literal");
    const char e = src_[cur_++];
    if (e == 'x' || e == 'u') {
      const size_t len = e == 'x' ? 2 : 4;
      const std::string hex = src_.substr(cur_, len);
      bool ok = hex.size() == len;
      unsigned value = 0;
      for (char h : hex) {
        const int d = HexDigit(h);
        ok = ok && d >= 0;
        value = value * 16 + static_cast<unsigned>(std::max(d, 0));
      }
      if (!ok) return Error(cur_ - 2, "invalid escape \\" + std::string(1, e) + hex);
      units += static_cast<char16_t>(value);
      cur_ += len;
      continue;
    }
    flush_units();
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      default: return Error(cur_ - 2, std::string("unknown escape \\") + e);
    }
  }
  flush_units();
  return out;
}

void Lexer::StripTrailingWhitespace() {
  if (tokens_.empty() || tokens_.back().type != TokenType::kText) return;
  std::string& text = tokens_.back().value;
  text.resize(JsTrimEnd(text).size());
  if (text.empty()) tokens_.pop_back();
}

Result<std::vector<Token>> Lexer::Run() {
  const size_t length = src_.size();
  while (cur_ < length) {
    const bool have_last = !tokens_.empty();
    const TokenType last = have_last ? tokens_.back().type : TokenType::kText;

    // Text up to the next {%, {{ or {#.
    if (!have_last || last == TokenType::kCloseStatement || last == TokenType::kCloseExpression ||
        last == TokenType::kComment) {
      size_t end = cur_;
      for (;;) {
        end = src_.find('{', end);
        if (end == std::string::npos) {
          end = length;
          break;
        }
        const char next = At(end + 1);
        if (next == '%' || next == '{' || next == '#') break;
        ++end;
      }
      if (end > cur_) {
        Push(TokenType::kText, src_.substr(cur_, end - cur_), cur_);
        cur_ = end;
        continue;
      }
    }

    if (src_[cur_] == '{') {
      const char next = At(cur_ + 1);
      if (next == '#') {
        const size_t open = cur_;
        cur_ += 2;
        const bool strip_before = At(cur_) == '-';
        if (strip_before) ++cur_;
        const size_t end = src_.find("#}", cur_);
        if (end == std::string::npos) return Error(open, "comment {# is never closed with #}");
        std::string comment = src_.substr(cur_, end - cur_);
        const bool strip_after = !comment.empty() && comment.back() == '-';
        if (strip_after) comment.pop_back();
        if (strip_before) StripTrailingWhitespace();
        Push(TokenType::kComment, std::move(comment), open);
        cur_ = end + 2;
        if (strip_after) SkipLeadingWhitespace();
        continue;
      }
      if (At(cur_ + 2) == '-') {
        if (next == '%') {
          StripTrailingWhitespace();
          Push(TokenType::kOpenStatement, "{%", cur_);
          cur_ += 3;
          continue;
        }
        if (next == '{') {
          StripTrailingWhitespace();
          Push(TokenType::kOpenExpression, "{{", cur_);
          curly_depth_ = 0;
          cur_ += 3;
          continue;
        }
      }
    }

    // Whitespace inside a tag separates tokens and is otherwise ignored.
    PS_RETURN_IF_ERROR(ConsumeWhile([this](size_t i) { return JsSpaceAt(src_, i); }).status());
    const size_t at = cur_;
    const char c = At(cur_);

    if (c == '-' && At(cur_ + 2) == '}') {
      const char next = At(cur_ + 1);
      if (next == '%' || next == '}') {
        Push(next == '%' ? TokenType::kCloseStatement : TokenType::kCloseExpression, next == '%' ? "%}" : "}}", at);
        cur_ += 3;
        SkipLeadingWhitespace();
        continue;
      }
    }

    if (c == '-' || c == '+') {
      if (!have_last || last == TokenType::kText) return Error(at, std::string("unexpected '") + c + "'");
      const bool binary = last == TokenType::kIdentifier || last == TokenType::kNumber || last == TokenType::kString ||
                          last == TokenType::kCloseParen || last == TokenType::kCloseSquare;
      if (!binary) {
        ++cur_;
        PS_ASSIGN_OR_RETURN(std::string num, ConsumeWhile([this](size_t i) { return IsDigitChar(src_[i]) ? 1 : 0; }));
        if (!num.empty() && At(cur_) == '.' && IsDigitChar(At(cur_ + 1))) {
          ++cur_;
          PS_ASSIGN_OR_RETURN(std::string frac,
                              ConsumeWhile([this](size_t i) { return IsDigitChar(src_[i]) ? 1 : 0; }));
          num += "." + frac;
        }
        const bool is_number = !num.empty();
        Push(is_number ? TokenType::kNumber : TokenType::kUnary, std::string(1, c) + num, at);
        continue;
      }
    }

    bool matched = false;
    for (const Rule& rule : kRules) {
      if (rule.seq == "}}" && curly_depth_ > 0) continue;  // inside {...} a "}}" closes two mappings
      if (src_.compare(cur_, rule.seq.size(), rule.seq) != 0) continue;
      Push(rule.type, std::string(rule.seq), at);
      if (rule.type == TokenType::kOpenExpression) curly_depth_ = 0;
      if (rule.type == TokenType::kOpenCurly) ++curly_depth_;
      if (rule.type == TokenType::kCloseCurly) --curly_depth_;
      cur_ += rule.seq.size();
      matched = true;
      break;
    }
    if (matched) continue;

    if (c == '\'' || c == '"') {
      ++cur_;
      PS_ASSIGN_OR_RETURN(std::string s, ConsumeString(c));
      Push(TokenType::kString, std::move(s), at);
      ++cur_;
      continue;
    }
    if (IsDigitChar(c)) {
      PS_ASSIGN_OR_RETURN(std::string num, ConsumeWhile([this](size_t i) { return IsDigitChar(src_[i]) ? 1 : 0; }));
      if (last != TokenType::kDot && At(cur_) == '.' && IsDigitChar(At(cur_ + 1))) {
        ++cur_;
        PS_ASSIGN_OR_RETURN(std::string frac, ConsumeWhile([this](size_t i) { return IsDigitChar(src_[i]) ? 1 : 0; }));
        num += "." + frac;
      }
      Push(TokenType::kNumber, std::move(num), at);
      continue;
    }
    if (IsWordChar(c)) {
      PS_ASSIGN_OR_RETURN(std::string word, ConsumeWhile([this](size_t i) { return IsWordChar(src_[i]) ? 1 : 0; }));
      Push(TokenType::kIdentifier, std::move(word), at);
      continue;
    }
    size_t n = 0;
    DecodeUtf8At(src_, cur_, &n);
    return Error(at, "unexpected character '" + src_.substr(cur_, n) + "'");
  }
  return std::move(tokens_);
}

}  // namespace

Result<std::vector<Token>> Tokenize(std::string_view source) { return Lexer(source).Run(); }

}  // namespace ps::jinja
