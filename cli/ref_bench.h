// `pipeshard bench --ref-binary`: one run of a llama.cpp program on the test pipeshard's bench
// runs (same model file, prompt and decode lengths, threads, ubatch and KV cache type) and the
// speeds read from its output. Two kinds of program:
//   - llama-bench: `-r 1 -o json`; its report is a JSON array of tests, the pp test has
//     n_prompt = p and n_gen = 0, the tg test n_prompt = 0 and n_gen = n; avg_ts is tokens/s.
//   - llama-cli (or the older main): greedy generation of n tokens (with --ignore-eos) after a
//     text prompt of about p tokens; the speeds come from the `prompt eval time = X ms / Y tokens`
//     and `eval time = X ms / Y runs` lines it logs at exit. Its decode runs after the p-token
//     prompt, not after one token as in llama-bench and pipeshard, so for long prompts it reads
//     a little lower (attention over a longer context).
// Thread-safety: free functions; RunReference starts and waits for a child process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/subprocess.h"
#include "common/util/status.h"

namespace ps::cli {

enum class RefKind { kLlamaBench, kLlamaCli };

// "llama-bench" or "llama-cli".
const char* RefKindName(RefKind kind);

// `requested` is "auto", "llama-bench" or "llama-cli"; auto picks llama-bench when the file name
// of `binary` contains "llama-bench", else llama-cli. InvalidArgument for any other word.
Result<RefKind> ChooseRefKind(const std::string& requested, const std::string& binary);

struct RefTest {
  std::string binary;  // a path ResolveExecutable accepted
  RefKind kind = RefKind::kLlamaBench;
  std::string model;
  int32_t prompt_tokens = 0;
  int32_t decode_tokens = 0;
  int threads = 1;
  int32_t ubatch = 512;
  std::string kv_type = "f16";  // llama.cpp's cache type names: f16, f32
  std::string prompt_file;      // llama-cli only: a file holding about prompt_tokens tokens of text
  ProgramLimits limits;
};

// What one reference run measured.
struct RefSample {
  double prefill_tokens_per_s = 0;
  double decode_tokens_per_s = 0;
  int32_t prompt_tokens = 0;  // as the reference counted them (llama-cli tokenizes text)
  int32_t decode_tokens = 0;  // decode steps it timed
};

// The command line RunReference runs (argv[0] is test.binary).
std::vector<std::string> ReferenceArgv(const RefTest& test);

// Runs the reference once. Errors (all Unavailable unless RunProgram says otherwise): it ran past
// its time limit or output limit, exited with a non-zero code (the message quotes its last stderr
// lines), or printed no speeds this parser understands (the message says what was missing).
Result<RefSample> RunReference(const RefTest& test);

// Parsers of the two output formats, given the program's stdout (llama-bench) or its stderr and
// stdout (llama-cli). Errors say what was missing or malformed.
Result<RefSample> ParseLlamaBenchJson(std::string_view out, int32_t prompt_tokens, int32_t decode_tokens);
Result<RefSample> ParseLlamaPerfLines(std::string_view log);

}  // namespace ps::cli
