// Text helpers for the template interpreter. The reference renderer (@huggingface/jinja) runs on
// JavaScript strings, so its notions of whitespace (String.prototype.trim, /\s/), of a string's
// length (UTF-16 code units), of number formatting (Number.prototype.toString) and of case mapping
// (toUpperCase/toLowerCase: full Unicode mappings) are reproduced here over UTF-8 text.
// Bytes that are not UTF-8 read as U+FFFD wherever a character is needed; elsewhere they pass as they are.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ps::jinja {

// The character at `pos` and its length in bytes; malformed UTF-8 reads as one byte of U+FFFD.
char32_t DecodeUtf8At(std::string_view s, size_t pos, size_t* length);
void AppendUtf8(std::string& out, char32_t cp);
std::vector<char32_t> CodePoints(std::string_view s);

// JavaScript whitespace (WhiteSpace and LineTerminator: what trim() removes and /\s/ matches).
bool IsJsSpace(char32_t cp);
// Bytes of the whitespace character that starts at `pos` / ends at `end`, or 0.
size_t JsSpaceAt(std::string_view s, size_t pos);
size_t JsSpaceBefore(std::string_view s, size_t end);
std::string_view JsTrimStart(std::string_view s);
std::string_view JsTrimEnd(std::string_view s);
std::string_view JsTrim(std::string_view s);

// String lengths and indices as JavaScript counts them: UTF-16 code units.
size_t Utf16Length(std::string_view s);
std::u16string ToUtf16(std::string_view s);
std::string FromUtf16(std::u16string_view s);  // a lone surrogate becomes U+FFFD, as node writes it

// Number.prototype.toString(): the shortest digits that read back as `x`, in JavaScript's layout
// ("1e+21", "0.000001", "1.5e-7", "NaN", "Infinity").
std::string JsNumberToString(double x);
// parseInt(s, 10), parseFloat(s) and the Number(s) of loose equality; NaN when they give NaN.
double JsParseInt(std::string_view s);
double JsParseFloat(std::string_view s);
double JsStringToNumber(std::string_view s);

// toUpperCase / toLowerCase: Unicode's full, locale-independent mappings (ICU's root locale).
std::string JsToUpper(std::string_view s);
std::string JsToLower(std::string_view s);

}  // namespace ps::jinja
