#include "cli/make_model_command.h"

#include <cstdio>
#include <string>

#include "cli/cli_error.h"
#include "common/template/chat_template.h"
#include "tools/make_model/make_model.h"

namespace ps::cli {

CLI::App* AddMakeModelCommand(CLI::App& app, MakeModelArgs& args) {
  CLI::App* cmd = app.add_subcommand("make-model", "write a deterministic random-weight Llama GGUF");
  cmd->add_option("out", args.out, "output .gguf path")->required();
  cmd->add_option("--preset", args.preset, "tiny, small or llama3-8b; the flags below override it")
      ->capture_default_str();
  cmd->add_option("--dim", args.dim, "embedding length");
  cmd->add_option("--layers", args.layers, "transformer blocks");
  cmd->add_option("--heads", args.heads, "attention heads");
  cmd->add_option("--kv-heads", args.kv_heads, "key/value heads (grouped-query attention)");
  cmd->add_option("--ff", args.ff, "feed-forward length");
  cmd->add_option("--ctx", args.ctx, "training context length");
  cmd->add_option("--vocab", args.vocab, "spm, llama3 or a tokenizer.json path");
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

}  // namespace

int RunMakeModelCommand(const MakeModelArgs& args) {
  auto preset = PresetOptions(args.preset);
  if (!preset.ok()) return ReportError(preset.status());
  MakeModelOptions o = *preset;
  if (args.dim) o.dim = *args.dim;
  if (args.layers) o.layers = *args.layers;
  if (args.heads) o.heads = *args.heads;
  if (args.kv_heads) o.kv_heads = *args.kv_heads;
  if (args.ff) o.ff = *args.ff;
  if (args.ctx) o.ctx = *args.ctx;
  if (args.vocab) o.vocab = *args.vocab;
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
  const Status status = MakeModel(args.out, o);
  if (!status.ok()) return ReportError(status);
  std::fprintf(stderr, "wrote %s\n", args.out.c_str());
  return kExitOk;
}

}  // namespace ps::cli
