#include "fuzz/support/tokenize_checks.h"

#include <string>
#include <string_view>
#include <vector>

#include "fuzz/support/fuzz_check.h"
#include "common/tokenizer/unicode.h"

namespace ps::fuzz {

namespace {
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581
}  // namespace

void CheckTokenize(const Tokenizer& t, const uint8_t* data, size_t size, bool sentencepiece) {
  if (size == 0) return;
  const bool add_bos = (data[0] & 1) != 0;
  const bool parse_special = (data[0] & 2) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<int32_t> ids = t.Encode(text, add_bos, parse_special);
  StreamDecoder decoder(t);
  std::string decoded;
  for (int32_t id : ids) {
    Check(id >= 0 && id < t.n_vocab(), "Encode gives only ids inside the vocabulary");
    const std::string piece = decoder.Push(id);
    Check(unicode::IsValidUtf8(piece), "StreamDecoder::Push gives valid UTF-8");
    decoded += piece;
  }
  const std::string rest = decoder.Flush();
  Check(unicode::IsValidUtf8(rest), "StreamDecoder::Flush gives valid UTF-8");
  decoded += rest;

  if (add_bos || parse_special || !unicode::IsValidUtf8(text)) return;
  std::string raw;  // what the tokens spell, without StreamDecoder's U+FFFD replacements
  for (int32_t id : ids) raw += t.TokenToPiece(id);
  std::string expected(text);
  if (sentencepiece && !text.empty()) {
    expected = " " + expected;
    for (size_t at = expected.find(kSpaceMark); at != std::string::npos; at = expected.find(kSpaceMark, at + 1)) {
      expected.replace(at, kSpaceMark.size(), " ");
    }
  }
  Check(raw == expected, "decoding the tokens of a text gives the text back");
  Check(decoded == expected, "StreamDecoder passes valid UTF-8 through unchanged");
}

}  // namespace ps::fuzz
