// Code-point level helpers for the tokenizers: UTF-8 decoding that tolerates invalid bytes the
// way llama.cpp does, UTF-8 encoding, and the character classes its pre-tokenizers test
// (\p{L}, \p{N}, \p{P}, \s, ...), answered by ICU.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ps::unicode {

constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the UTF-8 sequence a lead byte announces, from its high nibble alone (1 for ASCII
// and for stray continuation bytes, 2/3/4 otherwise), as llama.cpp splits text into symbols.
size_t Utf8SequenceLength(uint8_t lead);

// Length of the well-formed UTF-8 sequence at the start of non-empty `s` (Unicode Table 3-7: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 when its first bytes are
// ill-formed; `*maximal` is then the length of the maximal subpart that one U+FFFD replaces, as
// the WHATWG decoder does.
size_t WellFormedPrefix(std::string_view s, size_t* maximal);

// True when all of `s` is well-formed UTF-8 (as WellFormedPrefix judges it).
bool IsValidUtf8(std::string_view s);

// Decodes UTF-8 into code points. A byte that does not start a well-formed sequence (a stray
// continuation byte, a truncated sequence, 0xF8..0xFF) becomes U+FFFD and decoding resumes at the
// next byte, as in llama.cpp. Overlong forms and surrogates are decoded as written (llama.cpp
// does not reject them); values above U+10FFFF become U+FFFD.
std::vector<uint32_t> DecodeUtf8(std::string_view text);

// Appends the UTF-8 form of a code point (U+FFFD for values above U+10FFFF).
void AppendUtf8(uint32_t cp, std::string* out);
std::string EncodeUtf8(uint32_t cp);

// The classes llama.cpp derives from the Unicode general category. Exactly one of the category
// bits is set for an assigned code point; unassigned ones are `undefined`. `whitespace` is the
// Unicode White_Space property (\s), independent of the category.
struct CodepointClass {
  bool undefined = false;
  bool letter = false;       // L*
  bool number = false;       // N*
  bool mark = false;         // M*
  bool punctuation = false;  // P*
  bool symbol = false;       // S*
  bool separator = false;    // Z*
  bool control = false;      // Cc, Cf, Cs, Co
  bool whitespace = false;

  // False only for the "no character" value (a position past the end of the text); llama.cpp's
  // punctuation rule stops there, while any real code point, even unassigned, continues it.
  bool any() const {
    return undefined || letter || number || mark || punctuation || symbol || separator || control ||
           whitespace;
  }
};

CodepointClass Classify(uint32_t cp);

// Simple (one-to-one) lowercase mapping.
uint32_t ToLower(uint32_t cp);

}  // namespace ps::unicode
