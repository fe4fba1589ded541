#include "cli/ref_bench.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace ps::cli {

namespace {

// llama-cli's context: the prompt (which may tokenize to a few more tokens than asked for, see
// ref_prompt.h), the generated tokens, and this much room to spare.
constexpr int32_t kCliContextMargin = 64;
// How much of a misbehaving reference's output an error message quotes.
constexpr size_t kExcerptBytes = 80;
constexpr size_t kQuotedStderrLines = 3;
constexpr size_t kQuotedLineBytes = 200;

// `text` cut to `limit` bytes with control and non-ASCII bytes shown as '?', for one-line messages.
std::string Printable(std::string_view text, size_t limit) {
  std::string s(text.substr(0, limit));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  if (text.size() > limit) s += "...";
  return s;
}

// "; last stderr lines: a | b | c" (the last non-empty ones), or "" when stderr is empty.
std::string StderrTail(std::string_view err) {
  std::vector<std::string_view> lines;
  size_t end = err.size();
  while (end > 0 && lines.size() < kQuotedStderrLines) {
    const size_t nl = err.rfind('\n', end - 1);
    const size_t begin = nl == std::string_view::npos ? 0 : nl + 1;
    std::string_view line = err.substr(begin, end - begin);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) lines.insert(lines.begin(), line);
    if (nl == std::string_view::npos) break;
    end = nl;
  }
  if (lines.empty()) return "";
  std::string tail = "; last stderr lines: ";
  for (size_t i = 0; i < lines.size(); ++i) tail += (i > 0 ? " | " : "") + Printable(lines[i], kQuotedLineBytes);
  return tail;
}

std::optional<int64_t> IntegerField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

// A test's avg_ts when it is a positive finite number.
std::optional<double> Speed(const nlohmann::json& test) {
  const auto it = test.find("avg_ts");
  if (it == test.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!std::isfinite(v) || v <= 0) return std::nullopt;
  return v;
}

// Finds the test with these n_prompt / n_gen values and returns its tokens/s.
Result<double> BenchTestSpeed(const nlohmann::json& tests, int64_t n_prompt, int64_t n_gen, const std::string& name) {
  for (const auto& test : tests) {
    if (!test.is_object() || IntegerField(test, "n_prompt") != n_prompt || IntegerField(test, "n_gen") != n_gen) continue;
    const std::optional<double> speed = Speed(test);
    if (!speed) return Status::Unavailable("llama-bench JSON: test " + name + " has no positive number avg_ts");
    return *speed;
  }
  return Status::Unavailable("llama-bench JSON has no test " + name + " (n_prompt " + std::to_string(n_prompt) +
                             ", n_gen " + std::to_string(n_gen) + ")");
}

struct Timing {
  double ms = 0;
  int64_t count = 0;  // tokens or runs
};

// The last line of `log` holding "<label> = X ms / Y ...", with X > 0 and Y > 0. "eval time" does
// not match the "prompt eval time" line.
std::optional<Timing> FindTiming(std::string_view log, std::string_view label) {
  const std::string needle = std::string(label) + " =";
  std::optional<Timing> found;
  size_t begin = 0;
  while (begin < log.size()) {
    size_t end = log.find('\n', begin);
    if (end == std::string_view::npos) end = log.size();
    const std::string_view line = log.substr(begin, end - begin);
    begin = end + 1;
    const size_t at = line.find(needle);
    if (at == std::string_view::npos) continue;
    if (at >= 7 && line.substr(at - 7, 7) == "prompt ") continue;
    const std::string rest(line.substr(at + needle.size()));
    Timing t;
    long long count = 0;
    if (std::sscanf(rest.c_str(), " %lf ms / %lld", &t.ms, &count) != 2) continue;
    t.count = count;
    if (std::isfinite(t.ms) && t.ms > 0 && t.count > 0) found = t;
  }
  return found;
}

}  // namespace

const char* RefKindName(RefKind kind) { return kind == RefKind::kLlamaBench ? "llama-bench" : "llama-cli"; }

Result<RefKind> ChooseRefKind(const std::string& requested, const std::string& binary) {
  if (requested == "llama-bench") return RefKind::kLlamaBench;
  if (requested == "llama-cli") return RefKind::kLlamaCli;
  if (requested != "auto") {
    return Status::InvalidArgument("--ref-kind must be auto, llama-bench or llama-cli (got '" + requested + "')");
  }
  const std::string name = std::filesystem::path(binary).filename().string();
  return name.find("llama-bench") != std::string::npos ? RefKind::kLlamaBench : RefKind::kLlamaCli;
}

std::vector<std::string> ReferenceArgv(const RefTest& test) {
  const std::string ubatch = std::to_string(test.ubatch);
  std::vector<std::string> argv = {test.binary, "-m", test.model, "-t", std::to_string(test.threads),
                                   "-b", ubatch, "-ub", ubatch, "-ctk", test.kv_type, "-ctv", test.kv_type};
  if (test.kind == RefKind::kLlamaBench) {
    const std::vector<std::string> rest = {"-p", std::to_string(test.prompt_tokens), "-n",
                                           std::to_string(test.decode_tokens), "-r", "1", "-o", "json"};
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }
  // The first generated token is sampled from the prompt's logits, so n + 1 tokens make n timed
  // decode steps.
  const int64_t context = int64_t{test.prompt_tokens} + test.decode_tokens + 1 + kCliContextMargin;
  const std::vector<std::string> rest = {"-f", test.prompt_file, "-n", std::to_string(int64_t{test.decode_tokens} + 1),
                                         "-c", std::to_string(context), "--temp", "0", "--ignore-eos", "-no-cnv",
                                         "--no-display-prompt"};
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

Result<RefSample> ParseLlamaBenchJson(std::string_view out, int32_t prompt_tokens, int32_t decode_tokens) {
  const auto tests = nlohmann::json::parse(out.begin(), out.end(), nullptr, /*allow_exceptions=*/false);
  if (tests.is_discarded() || !tests.is_array()) {
    return Status::Unavailable("output is not llama-bench's JSON array of tests (from -o json); it begins '" +
                               Printable(out, kExcerptBytes) + "'");
  }
  RefSample sample;
  PS_ASSIGN_OR_RETURN(sample.prefill_tokens_per_s,
                      BenchTestSpeed(tests, prompt_tokens, 0, "pp" + std::to_string(prompt_tokens)));
  PS_ASSIGN_OR_RETURN(sample.decode_tokens_per_s,
                      BenchTestSpeed(tests, 0, decode_tokens, "tg" + std::to_string(decode_tokens)));
  sample.prompt_tokens = prompt_tokens;
  sample.decode_tokens = decode_tokens;
  return sample;
}

Result<RefSample> ParseLlamaPerfLines(std::string_view log) {
  const std::optional<Timing> prompt = FindTiming(log, "prompt eval time");
  if (!prompt) return Status::Unavailable("output has no 'prompt eval time = X ms / Y tokens' line (llama_perf_context_print)");
  const std::optional<Timing> decode = FindTiming(log, "eval time");
  if (!decode) return Status::Unavailable("output has no 'eval time = X ms / Y runs' line (llama_perf_context_print)");
  if (prompt->count > INT32_MAX || decode->count > INT32_MAX) return Status::Unavailable("token count in the timing lines out of range");
  RefSample sample;
  sample.prefill_tokens_per_s = static_cast<double>(prompt->count) * 1000.0 / prompt->ms;
  sample.decode_tokens_per_s = static_cast<double>(decode->count) * 1000.0 / decode->ms;
  sample.prompt_tokens = static_cast<int32_t>(prompt->count);
  sample.decode_tokens = static_cast<int32_t>(decode->count);
  return sample;
}

Result<RefSample> RunReference(const RefTest& test) {
  PS_ASSIGN_OR_RETURN(ProgramOutput run, RunProgram(ReferenceArgv(test), test.limits));
  if (run.exit_code != 0) {
    return Status::Unavailable(test.binary + " exited with code " + std::to_string(run.exit_code) + StderrTail(run.err));
  }
  // llama-cli logs its timings on stderr; stdout (the generated text) goes first so that the
  // log's lines are the last match.
  Result<RefSample> sample = test.kind == RefKind::kLlamaBench
                                 ? ParseLlamaBenchJson(run.out, test.prompt_tokens, test.decode_tokens)
                                 : ParseLlamaPerfLines(run.out + "\n" + run.err);
  if (!sample.ok()) {
    return Status::Unavailable(test.binary + " (" + RefKindName(test.kind) + "): " + sample.status().message() +
                               StderrTail(run.err));
  }
  return sample;
}

}  // namespace ps::cli
