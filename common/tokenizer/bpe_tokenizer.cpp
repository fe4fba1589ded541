#include "common/tokenizer/bpe_tokenizer.h"

#include <optional>
#include <unordered_map>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/symbol_merger.h"
#include "common/tokenizer/vocab_tokenizer.h"

namespace ps {

namespace {

// A merge rule, found by its "left right" text; `split` is where that text's space is, which tells
// the pair ("a b", "c") apart from ("a", "b c") when sides contain spaces.
struct MergeRule {
  int32_t rank;
  size_t split;
};
// Keys view into the merge strings, which the tokenizer keeps.
using MergeIndex = std::unordered_map<std::string_view, MergeRule>;

class BpeTokenizer final : public VocabTokenizer {
 public:
  BpeTokenizer(Vocabulary vocab, std::vector<std::string> merges, BpePreTokenizer pre, bool ignore_merges)
      : VocabTokenizer(std::move(vocab)), merges_(std::move(merges)), pre_(pre), ignore_merges_(ignore_merges) {}

  // Indexes the merges; the first of two identical rules keeps its rank. Errors name the rule.
  Status IndexMerges() {
    rules_.reserve(merges_.size());
    for (size_t i = 0; i < merges_.size(); ++i) {
      const std::string& m = merges_[i];
      // The separator is the first space after the first character, so a left side may be " ".
      const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      if (space == std::string::npos) {
        return Status::Corruption("tokenizer.ggml.merges[" + std::to_string(i) + "] = '" + m +
                                  "' is not of the form 'left right'");
      }
      rules_.emplace(std::string_view(m), MergeRule{static_cast<int32_t>(i), space});
    }
    return Status::Ok();
  }

 protected:
  void EncodePlain(std::string_view text, bool /*after_special*/, std::vector<int32_t>* out) const override {
    for (const std::string& word : PreTokenize(pre_, text)) EncodeWord(byte_level::Encode(word), out);
  }

  std::string NormalPiece(const std::string& token_text) const override { return byte_level::Decode(token_text); }

 private:
  void EncodeWord(const std::string& word, std::vector<int32_t>* out) const {
    // Llama 3 and tekken take a word that is itself a token as is, even if the merges would split it.
    if (ignore_merges_) {
      if (auto id = vocab().Find(word)) {
        out->push_back(*id);
        return;
      }
    }
    std::string joined;
    const auto price = [&](std::string_view left, std::string_view right) -> std::optional<double> {
      joined.assign(left);
      joined += ' ';
      joined.append(right);
      const auto it = rules_.find(joined);
      if (it == rules_.end() || it->second.split != left.size()) return std::nullopt;
      return it->second.rank;
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

  std::vector<std::string> merges_;
  MergeIndex rules_;
  BpePreTokenizer pre_;
  bool ignore_merges_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(Vocabulary vocab, std::vector<std::string> merges,
                                                    BpePreTokenizer pre, bool ignore_merges) {
  if (merges.size() > static_cast<size_t>(INT32_MAX)) return Status::Corruption("tokenizer.ggml.merges has too many entries");
  auto tokenizer = std::make_unique<BpeTokenizer>(std::move(vocab), std::move(merges), pre, ignore_merges);
  PS_RETURN_IF_ERROR(tokenizer->IndexMerges());
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace ps
