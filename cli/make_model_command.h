// `pipeshard make-model OUT`: a deterministic random-weight Llama GGUF (see tools/make_model).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace ps::cli {

struct MakeModelArgs {
  std::string out;
  std::string preset = "tiny";
  std::optional<int64_t> dim, layers, heads, kv_heads, head_dim, ff, ctx;
  std::optional<std::string> arch, vocab, pre, type, output_type, chat_template;
  std::optional<uint64_t> seed;
  std::optional<float> rope_freq_base;
  bool rope_scaling_llama3 = false;
  bool tied_embeddings = false;
};

CLI::App* AddMakeModelCommand(CLI::App& app, MakeModelArgs& args);
int RunMakeModelCommand(const MakeModelArgs& args);

}  // namespace ps::cli
