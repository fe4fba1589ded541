#include "common/tokenizer/spm_tokenizer.h"

#include <cstdio>
#include <optional>

#include "common/tokenizer/symbol_merger.h"
#include "common/tokenizer/vocab_tokenizer.h"

namespace ps {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0;;) {
    const size_t at = text.find(from, pos);
    if (at == std::string_view::npos) {
      out.append(text.substr(pos));
      return out;
    }
    out.append(text.substr(pos, at - pos));
    out.append(to);
    pos = at + from.size();
  }
}

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(Vocabulary vocab) : VocabTokenizer(std::move(vocab)) {}

 protected:
  void EncodePlain(std::string_view fragment, bool after_special, std::vector<int32_t>* out) const override {
    std::string raw;
    if (vocab().add_space_prefix() && after_special) raw = " ";
    raw.append(fragment);
    const std::string text = ReplaceAll(raw, " ", kSpaceMark);

    // SentencePiece merges the pair that forms the highest-scoring token first.
    const auto price = [&](std::string_view left, std::string_view right) -> std::optional<double> {
      std::string joined(left);
      joined.append(right);
      const auto id = vocab().Find(joined);
      if (!id) return std::nullopt;
      return -static_cast<double>(vocab().score(*id));
    };

    // Every merged symbol is a token (only merges that form one are proposed), so what is left
    // to spell byte by byte are single characters the vocabulary lacks.
    for (std::string_view piece : MergeSymbols(text, price)) {
      if (auto id = vocab().Find(piece)) {
        out->push_back(*id);
        continue;
      }
      for (char b : piece) {
        if (auto id = ByteToken(static_cast<uint8_t>(b))) out->push_back(*id);
      }
    }
  }

  std::string NormalPiece(const std::string& token_text) const override {
    return ReplaceAll(token_text, kSpaceMark, " ");
  }

 private:
  // "<0xNN>", else the byte itself as a token, else the unknown token.
  std::optional<int32_t> ByteToken(uint8_t byte) const {
    char hex[7];
    std::snprintf(hex, sizeof hex, "<0x%02X>", static_cast<unsigned>(byte));
    if (auto id = vocab().Find(hex)) return id;
    if (auto id = vocab().Find(std::string_view(reinterpret_cast<const char*>(&byte), 1))) return id;
    if (vocab().unk() >= 0) return vocab().unk();
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<Tokenizer> MakeSpmTokenizer(Vocabulary vocab) {
  return std::make_unique<SpmTokenizer>(std::move(vocab));
}

}  // namespace ps
