#include "common/tokenizer/unicode.h"

#include <unicode/uchar.h>

namespace ps::unicode {

namespace {

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Decodes one sequence at text[i]; returns its byte length, or 0 when the bytes there do not form
// one (then the caller emits U+FFFD for a single byte).
size_t DecodeOne(std::string_view text, size_t i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[i + k]); };
  const size_t left = text.size() - i;
  const uint8_t b0 = byte(0);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len = 0;
  uint32_t value = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    value = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    value = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    value = b0 & 0x07;
  } else {
    return 0;  // a continuation byte or 0xF8..0xFF cannot start a sequence
  }
  if (left < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    if (!IsContinuation(byte(k))) return 0;
    value = (value << 6) | (byte(k) & 0x3F);
  }
  if (value > 0x10FFFF) return 0;
  *cp = value;
  return len;
}

// llama.cpp's character tables follow Unicode 15.1; ICU 72 (Debian 12) knows Unicode 15.0. These
// are the characters 15.1 assigned, with the class it gave them, used when ICU says "unassigned".
struct AddedRange {
  uint32_t first, last;
  bool letter;  // else a symbol (So)
};
constexpr AddedRange kUnicode151Additions[] = {
    {0x2FFC, 0x2FFF, false},   // ideographic description characters
    {0x31EF, 0x31EF, false},   // CJK stroke HXG
    {0x2EBF0, 0x2EE5D, true},  // CJK Unified Ideographs Extension I
};

}  // namespace

size_t Utf8SequenceLength(uint8_t lead) {
  static constexpr uint8_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[lead >> 4];
}

std::vector<uint32_t> DecodeUtf8(std::string_view text) {
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    const size_t len = DecodeOne(text, i, &cp);
    if (len == 0) {
      cps.push_back(kReplacementChar);
      ++i;
    } else {
      cps.push_back(cp);
      i += len;
    }
  }
  return cps;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp > 0x10FFFF) cp = kReplacementChar;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string EncodeUtf8(uint32_t cp) {
  std::string s;
  AppendUtf8(cp, &s);
  return s;
}

CodepointClass Classify(uint32_t cp) {
  CodepointClass c;
  if (cp > 0x10FFFF) {
    c.undefined = true;
    return c;
  }
  const UChar32 ch = static_cast<UChar32>(cp);
  const uint32_t mask = U_GET_GC_MASK(ch);
  c.letter = (mask & U_GC_L_MASK) != 0;
  c.number = (mask & U_GC_N_MASK) != 0;
  c.mark = (mask & U_GC_M_MASK) != 0;
  c.punctuation = (mask & U_GC_P_MASK) != 0;
  c.symbol = (mask & U_GC_S_MASK) != 0;
  c.separator = (mask & U_GC_Z_MASK) != 0;
  c.control = (mask & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CS_MASK | U_GC_CO_MASK)) != 0;
  c.undefined = (mask & U_GC_CN_MASK) != 0;
  if (c.undefined) {
    for (const AddedRange& r : kUnicode151Additions) {
      if (cp >= r.first && cp <= r.last) {
        c.undefined = false;
        (r.letter ? c.letter : c.symbol) = true;
      }
    }
  }
  c.whitespace = u_isUWhiteSpace(ch) != 0;
  return c;
}

uint32_t ToLower(uint32_t cp) {
  if (cp > 0x10FFFF) return cp;
  return static_cast<uint32_t>(u_tolower(static_cast<UChar32>(cp)));
}

size_t WellFormedPrefix(std::string_view s, size_t* maximal) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  *maximal = 1;
  if (b0 < 0x80) return 1;
  size_t need = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= s.size()) return 0;
    const auto b = static_cast<uint8_t>(s[i]);
    const bool ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return 0;
    *maximal = i + 1;
  }
  return need;
}

bool IsValidUtf8(std::string_view s) {
  size_t maximal = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = WellFormedPrefix(s.substr(i), &maximal);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace ps::unicode
