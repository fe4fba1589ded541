// GPT-2's byte-level alphabet: every byte 0..255 stands for one printable code point, so that a
// byte-level BPE vocabulary can spell any byte string with ordinary characters ("Ġ" is a space).
// Thread-safety: pure functions over constant tables.
#pragma once

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

// The inverse of Encode for a vocabulary entry, as llama.cpp renders a token: each code point
// of the alphabet becomes its byte; any other code point becomes
// "[UNK_BYTE_0x<hex of its UTF-8>" + text + "]".
std::string Decode(std::string_view text);

}  // namespace ps::byte_level
