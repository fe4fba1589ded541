#include "cli/make_model_command.h"

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/cli_error.h"
#include "common/template/chat_template.h"
#include "common/tokenizer/bpe_pretokenizer_names.h"
#include "common/util/byte_size.h"
#include "common/util/printable.h"
#include "common/util/progress.h"
#include "tools/make_model/make_model.h"

namespace ps::cli {

CLI::App* AddMakeModelCommand(CLI::App& app, MakeModelArgs& args) {
  CLI::App* cmd = app.add_subcommand("make-model", "write a deterministic random-weight Llama-family GGUF");
  cmd->add_option("out", args.out, "output .gguf path")->required();
  cmd->add_option("--preset", args.preset,
                  std::string(kPresetNames) + " (medium is a 0.5B Llama shape); the flags below override it")
      ->capture_default_str();
  cmd->add_option("--arch", args.arch,
                  "llama (default), qwen2 (Q/K/V biases) or qwen3 (per-head Q/K norms); qwen rotate in NEOX layout");
  cmd->add_option("--dim", args.dim, "embedding length");
  cmd->add_option("--layers", args.layers, "transformer blocks");
  cmd->add_option("--heads", args.heads, "attention heads");
  cmd->add_option("--kv-heads", args.kv_heads, "key/value heads (grouped-query attention)");
  cmd->add_option("--head-dim", args.head_dim, "head size when not --dim / --heads (Qwen3 0.6B: 128)");
  cmd->add_option("--ff", args.ff, "feed-forward length");
  cmd->add_option("--ctx", args.ctx, "training context length");
  cmd->add_option("--vocab", args.vocab, "spm, llama3, qwen3 or a tokenizer.json path");
  cmd->add_option("--pre", args.pre,
                  "write this tokenizer.ggml.pre instead of the vocabulary's own (BPE vocabularies; one of " +
                      SupportedBpePreTokenizerNames() + ")");
  cmd->add_option("--type", args.type, "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q4_k, q5_k or q6_k");
  cmd->add_option("--output-type", args.output_type, "output.weight's type (default: --type), e.g. q6_k as in Q4_K_M");
  cmd->add_option("--seed", args.seed, "random seed");
  cmd->add_option("--rope-freq-base", args.rope_freq_base, "RoPE base frequency");
  cmd->add_flag("--rope-scaling-llama3", args.rope_scaling_llama3, "write Llama 3.1 rope_freqs factors");
  cmd->add_flag("--tied-embeddings", args.tied_embeddings, "no output.weight: the head reuses token_embd");
  cmd->add_option("--chat-template", args.chat_template,
                  "write tokenizer.chat_template: a built-in template (" + BuiltinChatTemplateNames() +
                      ") or a file holding one (default: none)");
  return cmd;
}

namespace {

// A tensor type named on the command line by `flag`.
Result<GgmlType> ParseTensorTypeFlag(const std::string& flag, const std::string& value) {
  auto type = ParseTypeName(value);
  if (!type || !TraitsOf(*type).supported) {
    return Status::InvalidArgument(flag + " '" + value + "' is not a supported tensor type");
  }
  return *type;
}

// Files past this size get a warning: writing them takes a while, and every worker host needs a
// copy (or a shared path).
constexpr uint64_t kLargeFileBytes = uint64_t{2} << 30;

// Before writing: the size, and warnings about it (stderr; stdout stays empty).
// default_f32_8b: the 8B preset written in f32 because no --type was given, or "".
void ReportSize(const std::string& out, uint64_t bytes, const std::string& default_f32_8b) {
  const std::string path = Printable(out);
  std::fprintf(stderr, "make-model: %s will be %s (%" PRIu64 " bytes)\n", path.c_str(), FormatBytes(bytes).c_str(),
               bytes);
  if (!default_f32_8b.empty()) {
    // f32 is 4 bytes a weight; q8_0 about 1.06 and q4_K about 0.56.
    std::fprintf(stderr,
                 "make-model: warning: --preset %s without --type writes f32 weights; "
                 "--type q8_0 or --type q4_k writes a file about 4x or 7x smaller\n",
                 default_f32_8b.c_str());
  }
  if (bytes > kLargeFileBytes) {
    std::fprintf(stderr,
                 "make-model: warning: %s is larger than 2 GiB: writing it takes a while, and every worker "
                 "host needs a copy\n",
                 path.c_str());
  }
}

}  // namespace

int RunMakeModelCommand(const MakeModelArgs& args) {
  auto preset = PresetOptions(args.preset);
  if (!preset.ok()) return ReportError(preset.status());
  MakeModelOptions o = *preset;
  if (args.arch) o.arch = *args.arch;
  if (args.dim) o.dim = *args.dim;
  if (args.layers) o.layers = *args.layers;
  if (args.heads) o.heads = *args.heads;
  if (args.kv_heads) o.kv_heads = *args.kv_heads;
  if (args.head_dim) o.head_dim = *args.head_dim;
  if (args.ff) o.ff = *args.ff;
  if (args.ctx) o.ctx = *args.ctx;
  if (args.vocab) o.vocab = *args.vocab;
  if (args.pre) o.pre = *args.pre;
  if (args.seed) o.seed = *args.seed;
  if (args.rope_freq_base) o.rope_freq_base = *args.rope_freq_base;
  if (args.rope_scaling_llama3) o.rope_scaling_llama3 = true;
  if (args.tied_embeddings) o.tied_embeddings = true;
  if (args.chat_template) {
    auto text = ResolveChatTemplate(*args.chat_template);
    if (!text.ok()) return ReportError(text.status());
    o.chat_template = std::move(*text);
  }
  if (args.type) {
    auto type = ParseTensorTypeFlag("--type", *args.type);
    if (!type.ok()) return ReportError(type.status());
    o.type = *type;
  }
  if (args.output_type) {
    auto type = ParseTensorTypeFlag("--output-type", *args.output_type);
    if (!type.ok()) return ReportError(type.status());
    o.output_type = *type;
  }
  // The progress line shows the file name only: a long path would wrap it on a terminal.
  std::string label = "writing ";
  label += std::filesystem::path(args.out).filename().string();
  const std::string default_f32_8b =
      (args.preset == "llama3-8b" || args.preset == "qwen3-8b") && !args.type ? args.preset : "";
  std::unique_ptr<Progress> progress;
  o.on_size = [&](uint64_t bytes) {
    ReportSize(args.out, bytes, default_f32_8b);
    progress = std::make_unique<Progress>(ProgressOptions{label, static_cast<int64_t>(bytes), "", {}});
  };
  o.on_progress = [&](uint64_t written, uint64_t) {
    if (progress) progress->Update(static_cast<int64_t>(written));
  };
  const Status status = MakeModel(args.out, o);
  if (!status.ok()) {
    progress.reset();  // ends a terminal's progress line before the error
    return ReportError(status);
  }
  if (progress) progress->Finish();
  return kExitOk;
}

}  // namespace ps::cli
