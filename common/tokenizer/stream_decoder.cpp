// StreamDecoder: holds back the bytes of a UTF-8 character until all of them have arrived.
#include "common/tokenizer/tokenizer.h"

namespace ps {

namespace {

// How many bytes at the end of `s` are the beginning of a multi-byte character still missing
// bytes; 0 when the text ends on a character boundary (or on bytes that are not UTF-8 at all,
// which would never complete and so are passed on at once).
size_t IncompleteTail(const std::string& s) {
  const size_t n = s.size();
  // A character is at most 4 bytes, so its lead byte is among the last 3 when it is incomplete.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<uint8_t>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = 0;
    if ((b & 0xE0) == 0xC0) need = 2;
    else if ((b & 0xF0) == 0xE0) need = 3;
    else if ((b & 0xF8) == 0xF0) need = 4;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

std::string StreamDecoder::Push(int32_t token) {
  pending_ += tokenizer_.TokenToPiece(token);
  const size_t hold = IncompleteTail(pending_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StreamDecoder::Flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace ps
