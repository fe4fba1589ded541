#include "common/template/text.h"

#include <unicode/ustring.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace ps::jinja {

char32_t DecodeUtf8At(std::string_view s, size_t pos, size_t* length) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  const unsigned char c = b(0);
  *length = 1;
  if (c < 0x80) return c;
  size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0xFFFD;
  }
  if (pos + n > s.size()) return 0xFFFD;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
  *length = n;
  return cp;
}

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::vector<char32_t> CodePoints(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t pos = 0, n = 0; pos < s.size(); pos += n) out.push_back(DecodeUtf8At(s, pos, &n));
  return out;
}

bool IsJsSpace(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

size_t JsSpaceAt(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  size_t n = 0;
  const char32_t cp = DecodeUtf8At(s, pos, &n);
  // U+FFFD standing for a bad byte is not whitespace either way.
  return IsJsSpace(cp) ? n : 0;
}

size_t JsSpaceBefore(std::string_view s, size_t end) {
  // Whitespace characters are at most 3 bytes long; try each start that could end at `end`.
  for (size_t n = 1; n <= 3 && n <= end; ++n) {
    if (JsSpaceAt(s, end - n) == n) return n;
  }
  return 0;
}

std::string_view JsTrimStart(std::string_view s) {
  size_t pos = 0;
  while (size_t n = JsSpaceAt(s, pos)) pos += n;
  return s.substr(pos);
}

std::string_view JsTrimEnd(std::string_view s) {
  size_t end = s.size();
  while (size_t n = JsSpaceBefore(s, end)) end -= n;
  return s.substr(0, end);
}

std::string_view JsTrim(std::string_view s) { return JsTrimEnd(JsTrimStart(s)); }

size_t Utf16Length(std::string_view s) {
  size_t units = 0;
  for (size_t pos = 0, n = 0; pos < s.size(); pos += n) units += DecodeUtf8At(s, pos, &n) >= 0x10000 ? 2 : 1;
  return units;
}

std::u16string ToUtf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (size_t pos = 0, n = 0; pos < s.size(); pos += n) {
    const char32_t cp = DecodeUtf8At(s, pos, &n);
    if (cp >= 0x10000) {
      out += static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10));
      out += static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

std::string FromUtf16(std::u16string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char16_t u = s[i];
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
      AppendUtf8(out, 0x10000 + ((static_cast<char32_t>(u) - 0xD800) << 10) + (s[i + 1] - 0xDC00));
      ++i;
    } else if (u >= 0xD800 && u <= 0xDFFF) {
      AppendUtf8(out, 0xFFFD);
    } else {
      AppendUtf8(out, u);
    }
  }
  return out;
}

std::string JsNumberToString(double x) {
  if (std::isnan(x)) return "NaN";
  if (x == 0) return "0";  // -0 too
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x < 0) {
    std::string negative = "-";  // built with += : g++ 12 warns falsely (-Wrestrict) on "lit" + string
    negative += JsNumberToString(-x);
    return negative;
  }
  // Shortest round-trip digits, as ECMAScript's Number::toString asks: x = 0.d1d2...dk * 10^n.
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(r.ptr - buf));  // "d.ddde+XX"
  const size_t e = sci.find('e');
  std::string digits(1, sci[0]);
  if (e > 1) digits += sci.substr(2, e - 2);
  int exp10 = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;
  if (k <= n && n <= 21) return digits + std::string(static_cast<size_t>(n - k), '0');
  if (0 < n && n <= 21) return digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  if (-6 < n && n <= 0) {
    std::string small = "0.";
    small.append(static_cast<size_t>(-n), '0');
    small += digits;
    return small;
  }
  std::string exponent = n - 1 >= 0 ? "+" : "-";
  exponent += std::to_string(std::abs(n - 1));
  if (k == 1) return digits + "e" + exponent;
  return digits.substr(0, 1) + "." + digits.substr(1) + "e" + exponent;
}

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The longest prefix of `s` that is a StrDecimalLiteral ([+-] digits [. digits] [e [+-] digits],
// or Infinity), converted; *used is how many bytes it took (0: none).
double ParseDecimalPrefix(std::string_view s, size_t* used) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (s.substr(i).starts_with("Infinity")) {
    *used = i + 8;
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  std::string normal = negative ? "-" : "";
  const size_t int_start = i;
  while (i < s.size() && IsDigit(s[i])) ++i;
  std::string_view int_digits = s.substr(int_start, i - int_start);
  std::string_view frac_digits;
  if (i < s.size() && s[i] == '.') {
    const size_t frac_start = i + 1;
    size_t j = frac_start;
    while (j < s.size() && IsDigit(s[j])) ++j;
    if (!int_digits.empty() || j > frac_start) {
      frac_digits = s.substr(frac_start, j - frac_start);
      i = j;
    }
  }
  if (int_digits.empty() && frac_digits.empty()) {
    *used = 0;
    return std::nan("");
  }
  normal += int_digits.empty() ? "0" : std::string(int_digits);
  normal += ".";
  normal += frac_digits.empty() ? "0" : std::string(frac_digits);
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    std::string exp = "e";
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) exp += s[j++];
    const size_t exp_start = j;
    while (j < s.size() && IsDigit(s[j])) ++j;
    if (j > exp_start) {
      normal += exp + std::string(s.substr(exp_start, j - exp_start));
      i = j;
    }
  }
  *used = i;
  double value = 0;
  const auto r = std::from_chars(normal.data(), normal.data() + normal.size(), value);
  if (r.ec == std::errc::result_out_of_range) {
    // from_chars leaves overflow and underflow to us: JavaScript gives Infinity and 0.
    const size_t e = normal.find('e');
    const bool tiny = e != std::string::npos && normal[e + 1] == '-';
    value = tiny ? 0.0 : std::numeric_limits<double>::infinity();
    if (negative) value = -value;
  }
  return value;
}

}  // namespace

double JsParseInt(std::string_view s) {
  s = JsTrimStart(s);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  const size_t start = i;
  double value = 0;
  while (i < s.size() && IsDigit(s[i])) value = value * 10 + (s[i++] - '0');
  if (i == start) return std::nan("");
  if (i - start > 15) {  // beyond exact doubles: let the decimal reader round as JavaScript does
    size_t used = 0;
    value = ParseDecimalPrefix(s.substr(start, i - start), &used);
  }
  return negative ? -value : value;
}

double JsParseFloat(std::string_view s) {
  size_t used = 0;
  return ParseDecimalPrefix(JsTrimStart(s), &used);
}

double JsStringToNumber(std::string_view s) {
  s = JsTrim(s);
  if (s.empty()) return 0;
  if (s.size() > 2 && s[0] == '0') {
    int base = 0;
    if (s[1] == 'x' || s[1] == 'X') base = 16;
    if (s[1] == 'o' || s[1] == 'O') base = 8;
    if (s[1] == 'b' || s[1] == 'B') base = 2;
    if (base != 0) {
      double value = 0;
      for (char c : s.substr(2)) {
        int d = IsDigit(c)               ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : 99;
        if (d >= base) return std::nan("");
        value = value * base + d;
      }
      return value;
    }
  }
  size_t used = 0;
  const double value = ParseDecimalPrefix(s, &used);
  return used == s.size() ? value : std::nan("");
}

namespace {

// ICU's root-locale full case mapping, which is what JavaScript's locale-independent
// toUpperCase/toLowerCase apply (special casings such as "ß" -> "SS", final sigma).
std::string MapCase(std::string_view s, bool upper) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) {
    std::string out(s);
    for (char& c : out) {
      if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
  }
  const std::u16string in = ToUtf16(s);
  std::u16string out(in.size() + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode status = U_ZERO_ERROR;
    const auto src = reinterpret_cast<const UChar*>(in.data());
    auto dst = reinterpret_cast<UChar*>(out.data());
    const int32_t cap = static_cast<int32_t>(out.size());
    const int32_t len = static_cast<int32_t>(in.size());
    const int32_t n =
        upper ? u_strToUpper(dst, cap, src, len, "", &status) : u_strToLower(dst, cap, src, len, "", &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(static_cast<size_t>(n), u'\0');
      continue;
    }
    if (U_FAILURE(status)) return std::string(s);  // cannot happen for a valid buffer; keep the text
    out.resize(static_cast<size_t>(n));
    return FromUtf16(out);
  }
  return std::string(s);
}

}  // namespace

std::string JsToUpper(std::string_view s) { return MapCase(s, true); }
std::string JsToLower(std::string_view s) { return MapCase(s, false); }

}  // namespace ps::jinja
