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
// checked as `run` and a worker check them. Ok, or the first reason it cannot.
Status CheckSupported(const gguf::GgufFile& file) {
  Result<LlamaConfig> config = ReadLlamaConfig(file);
  if (!config.ok()) return config.status();
  Result<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromGguf(file);
  if (!tokenizer.ok()) return tokenizer.status();
  Result<LlamaWeights> weights = BindLlamaWeights(file, *config, LayerRange{0, config->n_layer});
  if (!weights.ok()) return weights.status();
  return Status::Ok();
}

// For a supported file: whether CUDA workers run it too (their kernels implement the Llama layer
// only; worker/backend/cuda/runtime/cuda_backend.cpp refuses the rest the same way).
bool CudaRuns(const gguf::GgufFile& file) {
  const Result<LlamaConfig> config = ReadLlamaConfig(file);
  if (!config.ok() || config->arch != ModelArch::kLlama || config->n_embd_q() != config->n_embd) return false;
  const Result<LlamaWeights> weights = BindLlamaWeights(file, *config, LayerRange{0, config->n_layer});
  if (!weights.ok()) return false;
  for (const LayerWeights& l : weights->layers) {
    if (l.bq != nullptr || l.bk != nullptr || l.bv != nullptr) return false;
  }
  return true;
}

}  // namespace

int RunGgufInfoCommand(const GgufInfoArgs& args) {
  auto file = gguf::GgufFile::Open(args.file);
  if (!file.ok()) return ReportError(file.status());
  const Status supported = CheckSupported(**file);
  if (args.json) {
    nlohmann::json j = gguf::DumpJson(**file);
    j["supported"] = supported.ok();
    if (!supported.ok()) j["unsupported_reason"] = supported.message();
    if (supported.ok()) j["cuda_supported"] = CudaRuns(**file);
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    const std::string text = gguf::DumpText(**file);
    std::fwrite(text.data(), 1, text.size(), stdout);
    // The last line answers the question a newcomer has: will pipeshard run this file?
    if (supported.ok() && !CudaRuns(**file)) {
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
