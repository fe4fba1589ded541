// StreamDecoder: holds back the bytes of a UTF-8 character until all of them have arrived, and
// replaces bytes that can never form a character with U+FFFD, so every piece is valid UTF-8
// (what a terminal, a JSON document or a protobuf string field can carry).
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode.h"

namespace ps {

namespace {

// Bytes a lead byte announces (1 for anything that cannot lead a multi-byte character).
size_t Utf8Length(char lead) {
  const auto b = static_cast<uint8_t>(lead);
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 1;
}

// How many bytes at the end of `s` are a well-formed beginning of a character still missing
// bytes; 0 when the text ends on a character boundary or on bytes that can never complete.
size_t IncompleteTail(const std::string& s) {
  const size_t n = s.size();
  // A character is at most 4 bytes, so its lead byte is among the last 3 when it is incomplete.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    if ((static_cast<uint8_t>(s[n - back]) & 0xC0) == 0x80) continue;  // look further for the lead
    size_t maximal = 0;
    const std::string_view tail = std::string_view(s).substr(n - back);
    const bool complete = unicode::WellFormedPrefix(tail, &maximal) > 0;
    return !complete && maximal == back && Utf8Length(tail[0]) > back ? back : 0;
  }
  return 0;
}

std::string Sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    size_t maximal = 0;
    const size_t n = unicode::WellFormedPrefix(s, &maximal);
    if (n > 0) {
      out.append(s.substr(0, n));
      s.remove_prefix(n);
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      s.remove_prefix(maximal);
    }
  }
  return out;
}

}  // namespace

std::string StreamDecoder::Push(int32_t token) {
  pending_ += tokenizer_.TokenToPiece(token);
  const size_t hold = IncompleteTail(pending_);
  std::string ready = Sanitize(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StreamDecoder::Flush() {
  std::string rest = Sanitize(pending_);
  pending_.clear();
  return rest;
}

}  // namespace ps
