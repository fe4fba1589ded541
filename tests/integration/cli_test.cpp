// The pipeshard program end to end: make-model, gguf-info, tokenize, run, and the exit code and
// one-line message of every kind of bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/subprocess.h"
#include "tests/support/tiny_model_test.h"

namespace ps::test {
namespace {

class CliTest : public TinyModelTest {};

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Every program prints its version (CMakeLists.txt's) and commit, and exits 0.
TEST_F(CliTest, EveryProgramPrintsItsVersion) {
  const std::string bin = std::filesystem::path(PipeshardBin()).parent_path().string();
  for (const char* program : {"pipeshard", "pipeshard-coordinator", "pipeshard-worker"}) {
    const ProcessResult r = RunProgram({bin + "/" + program, "--version"});
    EXPECT_EQ(r.exit_code, 0) << program << ": " << r.err;
    EXPECT_EQ(r.out.rfind(std::string(program) + " 0.", 0), 0u) << program << ": " << r.out;
  }
}

// `cmake --install` puts the programs in bin/ (they run from there) and the deployment scripts,
// docs and licence under share/.
TEST_F(CliTest, CmakeInstallPutsTheProgramsInBin) {
  const std::filesystem::path build = std::filesystem::path(PipeshardBin()).parent_path().parent_path();
  if (!std::filesystem::exists(build / "cmake_install.cmake")) GTEST_SKIP() << "no CMake build folder at " << build;
  TempDir prefix;
  const ProcessResult installed =
      RunProgram({"cmake", "--install", build.string(), "--prefix", prefix.path().string()});
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  for (const char* program : {"pipeshard", "pipeshard-coordinator", "pipeshard-worker"}) {
    const ProcessResult r = RunProgram({prefix.file("bin/" + std::string(program)), "--version"});
    EXPECT_EQ(r.exit_code, 0) << program << ": " << r.err;
  }
  EXPECT_TRUE(std::filesystem::exists(prefix.path() / "share/pipeshard/deploy/cluster.sh"));
  EXPECT_TRUE(std::filesystem::exists(prefix.path() / "share/doc/pipeshard/README.md"));
  EXPECT_TRUE(std::filesystem::exists(prefix.path() / "share/doc/pipeshard/LICENSE"));
}

// A mistyped command or flag is refused naming it and the closest known one.
TEST_F(CliTest, TyposGetTheClosestName) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"rnu"}, "unknown command 'rnu' (did you mean 'run'?)"},
      {{"gnerate", "--server", "x"}, "(did you mean 'generate'?)"},
      {{"run", "--promt", "hi"}, "unknown flag '--promt' for run (did you mean '--prompt'?)"},
      {{"status", "--jsn"}, "(did you mean '--json'?)"},
      {{"certs", "isue"}, "unknown command 'certs isue' (did you mean 'issue'?)"},
      {{"zzzzzz"}, "unknown command 'zzzzzz'; commands: run"},
  };
  for (const auto& [args, want] : cases) {
    std::vector<std::string> argv = {PipeshardBin()};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 2) << args[0];
    EXPECT_NE(r.err.find(want), std::string::npos) << args[0] << ": " << r.err;
  }
}

TEST_F(CliTest, MakeModelIsDeterministic) {
  const ProcessResult r = RunProgram({PipeshardBin(), "make-model", File("again.gguf"), "--preset", "tiny"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileText(Tiny()), ReadFileText(File("again.gguf")));
}

// stderr is a file here, not a terminal: make-model prints the file's size before writing, then
// plain progress lines (no carriage returns) and a done line; stdout stays empty.
TEST_F(CliTest, MakeModelPrintsItsSizeThenPlainProgress) {
  const ProcessResult r = RunProgram({PipeshardBin(), "make-model", File("progress.gguf"), "--preset", "tiny"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_GE(lines.size(), 3u) << r.err;
  ASSERT_LE(lines.size(), 5u) << r.err;  // size, at most three quarters, done

  std::string size_line = "make-model: ";
  size_line += File("progress.gguf");
  size_line += " will be ";
  EXPECT_TRUE(lines.front().starts_with(size_line)) << lines.front();
  std::string bytes = " (";
  bytes += std::to_string(std::filesystem::file_size(File("progress.gguf")));
  bytes += " bytes)";
  EXPECT_TRUE(lines.front().ends_with(bytes)) << lines.front();
  for (size_t i = 1; i + 1 < lines.size(); ++i) {  // "writing progress.gguf: 50% (5.8 MiB of 11.6 MiB, ...)"
    EXPECT_TRUE(lines[i].starts_with("writing progress.gguf: ")) << lines[i];
    EXPECT_NE(lines[i].find("% ("), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find(" MiB of "), std::string::npos) << lines[i];
  }
  EXPECT_TRUE(lines.back().starts_with("writing progress.gguf: done, ")) << lines.back();
}

// --preset llama3-8b without --type writes f32 (about 32 GB at its real shape): a warning says
// so and names the smaller types. (Shrunk here, so that the test writes a small file.)
TEST_F(CliTest, MakeModelWarnsAboutTheDefaultF32Of8b) {
  const std::vector<std::string> small = {"--dim", "256", "--layers", "1", "--heads", "4", "--kv-heads", "2",
                                          "--ff", "512", "--vocab", "spm"};
  std::vector<std::string> argv = {PipeshardBin(), "make-model", File("f32.gguf"), "--preset", "llama3-8b"};
  argv.insert(argv.end(), small.begin(), small.end());
  ProcessResult r = RunProgram(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("make-model: warning: --preset llama3-8b without --type writes f32 weights; "
                       "--type q8_0 or --type q4_k"),
            std::string::npos)
      << r.err;
  argv = {PipeshardBin(), "make-model", File("q8.gguf"), "--preset", "llama3-8b", "--type", "q8_0"};
  argv.insert(argv.end(), small.begin(), small.end());
  r = RunProgram(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

// --chat-template NAME|FILE writes tokenizer.chat_template; a value that is neither, or a template
// the interpreter cannot run, is bad input naming it.
TEST_F(CliTest, MakeModelWritesAChatTemplate) {
  const std::vector<std::string> tiny = {"--preset", "tiny", "--layers", "1"};
  const auto make = [&](const std::string& out, const std::string& chat_template) {
    std::vector<std::string> argv = {PipeshardBin(), "make-model", File(out)};
    argv.insert(argv.end(), tiny.begin(), tiny.end());
    argv.insert(argv.end(), {"--chat-template", chat_template});
    return RunProgram(argv);
  };
  const auto chat_template = [&](const std::string& model) {
    const ProcessResult info = RunProgram({PipeshardBin(), "gguf-info", File(model), "--json"});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    return nlohmann::json::parse(info.out)["metadata"]["tokenizer.chat_template"]["value"].get<std::string>();
  };
  ProcessResult r = make("zephyr.gguf", "zephyr");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(chat_template("zephyr.gguf").find("{% if loop.last and add_generation_prompt %}"), std::string::npos);

  const std::string file = File("mine.jinja");
  WriteBytes(file, "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}");
  r = make("mine.gguf", file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(chat_template("mine.gguf"), "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}");

  ExpectBadInput(make("bad.gguf", "no-such-template"), "no-such-template");
  WriteBytes(File("include.jinja"), "{% include 'other' %}");
  ExpectBadInput(make("bad.gguf", File("include.jinja")), "{% include %}");
}

TEST_F(CliTest, GgufInfoPrintsMetadataAndTensors) {
  const ProcessResult text = RunProgram({PipeshardBin(), "gguf-info", Tiny()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("general.architecture"), std::string::npos);
  EXPECT_NE(text.out.find("blk.0.attn_q.weight"), std::string::npos);

  const ProcessResult json = RunProgram({PipeshardBin(), "gguf-info", Tiny(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["version"], 3);
  EXPECT_TRUE(j["tensors"].is_array());
  EXPECT_GT(j["tensors"].size(), 10u);
  EXPECT_EQ(j["supported"], true);
  // The text ends with the answer to "will pipeshard run it?".
  EXPECT_TRUE(text.out.ends_with("supported: pipeshard can run this model\n")) << text.out.substr(text.out.size() - 200);
  EXPECT_EQ(j["cuda_supported"], true);
}

// A Qwen3 file runs on CPU workers only for now, and gguf-info says so.
TEST_F(CliTest, GgufInfoSaysAQwenFileRunsOnCpuWorkers) {
  TempDir dir;
  const std::string model = dir.file("qwen3.gguf");
  const ProcessResult made = RunProgram({PipeshardBin(), "make-model", model, "--arch", "qwen3", "--layers", "1"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const ProcessResult text = RunProgram({PipeshardBin(), "gguf-info", model});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(text.out.ends_with("supported: pipeshard can run this model on CPU workers (not on CUDA ones yet)\n"))
      << text.out.substr(text.out.size() - 200);
  const auto j = nlohmann::json::parse(RunProgram({PipeshardBin(), "gguf-info", model, "--json"}).out);
  EXPECT_EQ(j["supported"], true);
  EXPECT_EQ(j["cuda_supported"], false);
}

TEST_F(CliTest, GgufInfoSaysWhyAFileIsNotSupported) {
  // The tiny model with its architecture renamed (same length, so every offset stays valid).
  std::ifstream in(Tiny(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t key = bytes.find("general.architecture");
  ASSERT_NE(key, std::string::npos);
  const size_t value = bytes.find("llama", key + 20);
  ASSERT_NE(value, std::string::npos);
  bytes.replace(value, 5, "qwenx");
  TempDir dir;
  WriteBytes(dir.file("other.gguf"), bytes);
  const ProcessResult text = RunProgram({PipeshardBin(), "gguf-info", dir.file("other.gguf")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const size_t last = text.out.rfind("\nnot supported: ");
  ASSERT_NE(last, std::string::npos) << text.out.substr(text.out.size() - 200);
  EXPECT_NE(text.out.find("qwenx", last), std::string::npos) << text.out.substr(last);
  const ProcessResult json = RunProgram({PipeshardBin(), "gguf-info", dir.file("other.gguf"), "--json"});
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["supported"], false);
  EXPECT_NE(j["unsupported_reason"].get<std::string>().find("qwenx"), std::string::npos) << j["unsupported_reason"];
}

TEST_F(CliTest, TokenizeJsonHasBosUnlessAskedNot) {
  const ProcessResult with = RunProgram({PipeshardBin(), "tokenize", "--model", Tiny(), "--text", "Hello world", "--json"});
  ASSERT_EQ(with.exit_code, 0) << with.err;
  const auto a = nlohmann::json::parse(with.out)["tokens"];
  const ProcessResult without =
      RunProgram({PipeshardBin(), "tokenize", "--model", Tiny(), "--text", "Hello world", "--no-bos", "--json"});
  ASSERT_EQ(without.exit_code, 0) << without.err;
  const auto b = nlohmann::json::parse(without.out)["tokens"];
  ASSERT_EQ(a.size(), b.size() + 1);
  EXPECT_EQ(a[0], 1);  // <s> of the built-in SentencePiece vocabulary
}

TEST_F(CliTest, RunJsonReportsGeneratedTokensAndSpeeds) {
  const ProcessResult r = RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt", "Once upon a time", "-n", "12",
                               "--temp", "0", "--ignore-eos", "--json", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tokens"].size(), 12u);
  EXPECT_GT(j["prompt_tokens"].get<int>(), 1);
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0);
  EXPECT_TRUE(j["text"].is_string());

  // Greedy is deterministic and independent of the thread count.
  const ProcessResult again = RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt", "Once upon a time", "-n",
                                   "12", "--temp", "0", "--ignore-eos", "--json", "--threads", "1"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["tokens"], j["tokens"]);
}

TEST_F(CliTest, SeededSamplingRepeatsWithTheSameSeed) {
  auto sample = [&](const std::string& seed) {
    const ProcessResult r = RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt", "The", "-n", "16", "--temp",
                                 "1.5", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", seed,
                                 "--ignore-eos", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["tokens"];
  };
  EXPECT_EQ(sample("7"), sample("7"));
  EXPECT_NE(sample("7"), sample("8"));
}

TEST_F(CliTest, StreamedTextEqualsJsonText) {
  const ProcessResult json = RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt", "Hello", "-n", "10",
                                  "--temp", "0", "--ignore-eos", "--json"});
  const ProcessResult text =
      RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt", "Hello", "-n", "10", "--temp", "0", "--ignore-eos"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, nlohmann::json::parse(json.out)["text"].get<std::string>() + "\n");
}

// A prompt of several chunks shows its prefill's progress as plain lines on stderr; stdout holds
// the generated text only, as with --json.
TEST_F(CliTest, LongPrefillProgressGoesToStderrOnly) {
  const std::vector<std::string> run = {PipeshardBin(), "run", "--model", Tiny(), "--prompt",
                                        "Once upon a time there was a little dog who liked to run in the park",
                                        "-n", "6", "--temp", "0", "--ignore-eos", "--ubatch", "4"};
  std::vector<std::string> json_argv = run;
  json_argv.push_back("--json");
  const ProcessResult json = RunProgram(json_argv);
  const ProcessResult text = RunProgram(run);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(text.out, j["text"].get<std::string>() + "\n");
  const int prompt_tokens = j["prompt_tokens"].get<int>();
  ASSERT_GT(prompt_tokens, 8);
  std::string of_prompt = "/";  // a quarter line: "prefill: 47% (8/17 tokens)"
  of_prompt += std::to_string(prompt_tokens);
  of_prompt += " tokens)\n";
  const size_t quarter = text.err.find(of_prompt);
  ASSERT_NE(quarter, std::string::npos) << text.err;
  EXPECT_EQ(text.err.rfind("prefill: ", quarter), text.err.rfind('\n', quarter) + 1) << text.err;
  std::string done = "prefill: done, ";
  done += std::to_string(prompt_tokens);
  done += " tokens in ";
  EXPECT_NE(text.err.find(done), std::string::npos) << text.err;
  EXPECT_LT(text.err.find(done), text.err.find("prompt: ")) << text.err;
  EXPECT_EQ(text.err.find('\r'), std::string::npos) << text.err;

  // One chunk: no prefill lines.
  const ProcessResult short_prompt = RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt", "Hello", "-n",
                                                 "2", "--temp", "0", "--ignore-eos"});
  ASSERT_EQ(short_prompt.exit_code, 0) << short_prompt.err;
  EXPECT_EQ(short_prompt.err.find("prefill"), std::string::npos) << short_prompt.err;
}

TEST_F(CliTest, MissingModelFile) {
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", File("nope.gguf"), "--prompt", "x", "-n", "1"}),
                 "nope.gguf");
}

TEST_F(CliTest, NotAGgufFile) {
  WriteBytes(File("text.gguf"), "this is plainly not a model file at all");
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", File("text.gguf"), "--prompt", "x", "-n", "1"}),
                 "GGUF");
}

TEST_F(CliTest, TruncatedModel) {
  const std::string bytes = ReadFileText(Tiny());
  for (size_t cut : {size_t{10}, size_t{200}, bytes.size() / 2, bytes.size() - 1}) {
    WriteBytes(File("cut.gguf"), bytes.substr(0, cut));
    ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", File("cut.gguf"), "--prompt", "x", "-n", "1"}),
                   "cut.gguf");
  }
}

TEST_F(CliTest, UnsupportedArchitecture) {
  std::string bytes = ReadFileText(Tiny());
  // The value of general.architecture is the 5-byte string "llama": rename it in place.
  const std::string key = "general.architecture";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  const size_t value = at + key.size() + 4 + 8;  // type u32, length u64
  ASSERT_EQ(bytes.substr(value, 5), "llama");
  bytes.replace(value, 5, "gpt2x");
  WriteBytes(File("arch.gguf"), bytes);
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", File("arch.gguf"), "--prompt", "x", "-n", "1"}),
                 "gpt2x");
}

// The bytes of a file's strings reach the error line escaped: no terminal escape gets through.
TEST_F(CliTest, ErrorLinesEscapeTheFilesBytes) {
  std::string bytes = ReadFileText(Tiny());
  const std::string key = "general.architecture";
  const size_t value = bytes.find(key) + key.size() + 4 + 8;
  ASSERT_EQ(bytes.substr(value, 5), "llama");
  bytes.replace(value, 5, "\x1b[2J\x07");
  WriteBytes(File("escape.gguf"), bytes);
  const ProcessResult r = RunProgram({PipeshardBin(), "run", "--model", File("escape.gguf"), "--prompt", "x", "-n", "1"});
  ExpectBadInput(r, "'\\x1B[2J\\x07'");
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}

// A block count beyond what the file holds is refused before it sizes anything (2147483647 once
// made run and plan abort with std::bad_alloc).
TEST_F(CliTest, HugeBlockCountIsRefused) {
  std::string bytes = ReadFileText(Tiny());
  const std::string key = "llama.block_count";
  const size_t value = bytes.find(key) + key.size() + 4;  // type u32, then the u32 value
  const uint32_t huge = 2147483647;
  bytes.replace(value, 4, reinterpret_cast<const char*>(&huge), 4);
  WriteBytes(File("blocks.gguf"), bytes);
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", File("blocks.gguf"), "--prompt", "x", "-n", "1"}),
                 "of llama.block_count = 2147483647 cannot be in a file of");
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--model", File("blocks.gguf"), "--stages", "2"}),
                 "llama.block_count = 2147483647");
}

TEST_F(CliTest, UnknownTensorType) {
  std::string bytes = ReadFileText(Tiny());
  // Tensor info: name, n_dims u32, ne u64[n_dims], type u32. Corrupt the type of output_norm (1-D).
  const std::string name = "output_norm.weight";
  const size_t at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  const size_t type_at = at + name.size() + 4 + 8;
  const uint32_t bogus = 77;
  bytes.replace(type_at, 4, reinterpret_cast<const char*>(&bogus), 4);
  WriteBytes(File("type.gguf"), bytes);
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", File("type.gguf"), "--prompt", "x", "-n", "1"}), "77");
}

TEST_F(CliTest, PromptLongerThanContext) {
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt",
                      "one two three four five six seven eight nine ten eleven twelve", "-n", "4", "--ctx", "8"}),
                 "context");
}

TEST_F(CliTest, UsageErrors) {
  EXPECT_EQ(RunProgram({PipeshardBin()}).exit_code, 2);
  EXPECT_EQ(RunProgram({PipeshardBin(), "frobnicate"}).exit_code, 2);
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", Tiny(), "-n", "1"}), "--prompt");
  EXPECT_EQ(RunProgram({PipeshardBin(), "run", "--model", Tiny(), "--prompt", "x", "--top-p", "3"}).exit_code, 2);
  ExpectBadInput(RunProgram({PipeshardBin(), "make-model", File("bad.gguf"), "--type", "q9_9"}), "q9_9");
  ExpectBadInput(RunProgram({PipeshardBin(), "run", "--model", Tiny(), "-f", File("missing.txt"), "-n", "1"}),
                 "missing.txt");
}

}  // namespace
}  // namespace ps::test
