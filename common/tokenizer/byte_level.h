// GPT-2's byte-level alphabet: every byte 0..255 stands for one printable code point, so that a
// byte-level BPE vocabulary can spell any byte string with ordinary characters ("Ġ" is a space).
// Thread-safety: pure functions over constant tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ps::byte_level {

// The code point that stands for `byte`.
uint32_t ByteToCodepoint(uint8_t byte);

// The byte a code point stands for, or -1 when it is not part of the alphabet.
int CodepointToByte(uint32_t cp);

// Spells each byte of `bytes` with its code point (UTF-8 encoded).
std::string Encode(std::string_view bytes);

// Longest text whose unknown code points Decode renders with the text echoed, as llama.cpp does.
inline constexpr size_t kMaxEchoedText = 256;

// The inverse of Encode for a vocabulary entry, as llama.cpp renders a token: each code point
// of the alphabet becomes its byte; any other code point becomes
// "[UNK_BYTE_0x<hex of its UTF-8>" + text + "]", or "[UNK_BYTE_0x<hex>]" when the text is longer
// than kMaxEchoedText bytes (so a piece is at most 19 times its text: an invalid byte renders as
// "[UNK_BYTE_0xefbfbd]", U+FFFD's UTF-8).
std::string Decode(std::string_view text);

}  // namespace ps::byte_level
