#include "common/tokenizer/byte_level.h"

#include <array>
#include <cstdio>

#include "common/tokenizer/unicode.h"

namespace ps::byte_level {

namespace {

// Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, DEL,
// 0x80..0xA0, soft hyphen) are given the code points 256, 257, ... in byte order.
bool StandsForItself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<int16_t, 256 + 68> cp_to_byte{};  // every mapped code point is below 324
  Tables() {
    cp_to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      byte_to_cp[b] = StandsForItself(b) ? static_cast<uint32_t>(b) : next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

uint32_t ByteToCodepoint(uint8_t byte) { return GetTables().byte_to_cp[byte]; }

int CodepointToByte(uint32_t cp) {
  const auto& t = GetTables().cp_to_byte;
  return cp < t.size() ? t[cp] : -1;
}

std::string Encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) unicode::AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(c)), &out);
  return out;
}

std::string Decode(std::string_view text) {
  // llama.cpp echoes the whole text after every code point outside the alphabet, so a piece grows
  // with the square of its text: one 1 MB token in a hostile vocabulary would render as 500 GB.
  // No real token comes near this length, so real vocabularies still render as in llama.cpp.
  const bool echo = text.size() <= kMaxEchoedText;
  std::string out;
  out.reserve(text.size());
  for (uint32_t cp : unicode::DecodeUtf8(text)) {
    const int b = CodepointToByte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    out += "[UNK_BYTE_0x";
    for (char c : unicode::EncodeUtf8(cp)) {
      char hex[3];
      std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned>(static_cast<uint8_t>(c)));
      out += hex;
    }
    if (echo) out.append(text);
    out += "]";
  }
  return out;
}

}  // namespace ps::byte_level
