#include "common/util/printable.h"

#include <cstdint>
#include <cstdio>

namespace ps {

namespace {

// Length of the valid, printable UTF-8 sequence starting at s[i] (2 to 4), or 0 when it is not
// one (overlong forms, surrogates, code points above U+10FFFF and C1 controls are not).
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // C1 controls (U+0080..U+009F, e.g. the one-byte CSI) act on some terminals: escaped too.
  if ((n == 2 && cp < 0xA0) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

}  // namespace

std::string Printable(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 16);
  size_t i = 0;
  while (i < text.size() && i < max_bytes) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const size_t n = Utf8Length(text, i); n > 0) {
        out.append(text.substr(i, n));
        i += n;
        continue;
      }
    }
    char esc[8];
    std::snprintf(esc, sizeof esc, "\\x%02X", c);
    out += esc;
    ++i;
  }
  if (i < text.size()) {
    out += "... (";
    out += std::to_string(text.size() - i);
    out += " more bytes)";
  }
  return out;
}

}  // namespace ps
