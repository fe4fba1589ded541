#include "cli/gguf_info_command.h"

#include <cstdio>

#include "cli/cli_error.h"
#include "common/gguf/gguf_dump.h"
#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/printable.h"

namespace ps::cli {

CLI::App* AddGgufInfoCommand(CLI::App& app, GgufInfoArgs& args) {
  CLI::App* cmd = app.add_subcommand("gguf-info", "print a GGUF file's metadata and tensors");
  cmd->add_option("file", args.file, "GGUF file")->required();
  cmd->add_flag("--json", args.json, "print one JSON object");
  return cmd;
}

namespace {

// Whether pipeshard can run the file: its config, its vocabulary and every tensor of every layer,
// checked as `run` and a worker check them. Ok, or the first reason it cannot. For a file it can
// run, *cuda_runs says whether CUDA workers can too (their kernels are the plain Llama layer).
Status CheckSupported(const gguf::GgufFile& file, bool* cuda_runs) {
  *cuda_runs = false;
  Result<LlamaConfig> config = ReadLlamaConfig(file);
  if (!config.ok()) return config.status();
  Result<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromGguf(file);
  if (!tokenizer.ok()) return tokenizer.status();
  Result<LlamaWeights> weights = BindLlamaWeights(file, *config, LayerRange{0, config->n_layer});
  if (!weights.ok()) return weights.status();
  *cuda_runs = CheckPlainLlamaLayer(*config, *weights).ok();
  return Status::Ok();
}

}  // namespace

int RunGgufInfoCommand(const GgufInfoArgs& args) {
  auto file = gguf::GgufFile::Open(args.file);
  if (!file.ok()) return ReportError(file.status());
  bool cuda_runs = false;
  const Status supported = CheckSupported(**file, &cuda_runs);
  if (args.json) {
    nlohmann::json j = gguf::DumpJson(**file);
    j["supported"] = supported.ok();
    if (!supported.ok()) j["unsupported_reason"] = supported.message();
    if (supported.ok()) j["cuda_supported"] = cuda_runs;
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    const std::string text = gguf::DumpText(**file);
    std::fwrite(text.data(), 1, text.size(), stdout);
    // The last line answers the question a newcomer has: will pipeshard run this file?
    if (supported.ok() && !cuda_runs) {
      std::printf("supported: pipeshard can run this model on CPU workers (not on CUDA ones yet)\n");
    } else if (supported.ok()) {
      std::printf("supported: pipeshard can run this model\n");
    } else {
      std::printf("not supported: %s\n", Printable(supported.message()).c_str());
    }
  }
  return kExitOk;
}

}  // namespace ps::cli
