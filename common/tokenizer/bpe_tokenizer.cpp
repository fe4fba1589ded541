#include "common/tokenizer/bpe_tokenizer.h"

#include <optional>
#include <unordered_map>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/symbol_merger.h"
#include "common/tokenizer/vocab_tokenizer.h"

namespace ps {

namespace {

// Unambiguous key for a (left, right) pair even when the texts contain spaces.
std::string PairKey(std::string_view left, std::string_view right) {
  std::string key = std::to_string(left.size());
  key += ':';
  key.append(left);
  key.append(right);
  return key;
}

class BpeTokenizer final : public VocabTokenizer {
 public:
  BpeTokenizer(Vocabulary vocab, std::unordered_map<std::string, int32_t> ranks, BpePreTokenizer pre)
      : VocabTokenizer(std::move(vocab)), ranks_(std::move(ranks)), pre_(pre) {}

 protected:
  void EncodePlain(std::string_view text, bool /*after_special*/, std::vector<int32_t>* out) const override {
    for (const std::string& word : PreTokenize(pre_, text)) EncodeWord(byte_level::Encode(word), out);
  }

  std::string NormalPiece(const std::string& token_text) const override { return byte_level::Decode(token_text); }

 private:
  void EncodeWord(const std::string& word, std::vector<int32_t>* out) const {
    // Llama 3 takes a word that is itself a token as is, even if the merges would split it.
    if (pre_ == BpePreTokenizer::kLlama3) {
      if (auto id = vocab().Find(word)) {
        out->push_back(*id);
        return;
      }
    }
    const auto price = [&](std::string_view left, std::string_view right) -> std::optional<double> {
      const auto it = ranks_.find(PairKey(left, right));
      if (it == ranks_.end()) return std::nullopt;
      return it->second;
    };
    for (std::string_view piece : MergeSymbols(word, price)) {
      if (auto id = vocab().Find(piece)) {
        out->push_back(*id);
        continue;
      }
      // A symbol the vocabulary lacks falls back to one token per byte, where those exist.
      for (char b : piece) {
        if (auto id = vocab().Find(std::string_view(&b, 1))) out->push_back(*id);
      }
    }
  }

  std::unordered_map<std::string, int32_t> ranks_;
  BpePreTokenizer pre_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(Vocabulary vocab, const std::vector<std::string>& merges,
                                                    BpePreTokenizer pre) {
  if (merges.size() > static_cast<size_t>(INT32_MAX)) return Status::Corruption("tokenizer.ggml.merges has too many entries");
  std::unordered_map<std::string, int32_t> ranks;
  ranks.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    // The separator is the first space after the first character, so a left side may be " ".
    const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (space == std::string::npos) {
      return Status::Corruption("tokenizer.ggml.merges[" + std::to_string(i) + "] = '" + m +
                                "' is not of the form 'left right'");
    }
    // The first occurrence of a pair keeps its rank.
    ranks.emplace(PairKey(std::string_view(m).substr(0, space), std::string_view(m).substr(space + 1)),
                  static_cast<int32_t>(i));
  }
  return std::unique_ptr<Tokenizer>(new BpeTokenizer(std::move(vocab), std::move(ranks), pre));
}

}  // namespace ps
