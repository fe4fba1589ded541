#include "cli/run_command.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/cli_error.h"
#include "cli/local_generation.h"
#include "cli/model_loader.h"
#include "worker/backend/cpu/cpu_backend.h"

namespace ps::cli {

CLI::App* AddRunCommand(CLI::App& app, RunArgs& args) {
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt in this process (like llama-cli)");
  cmd->add_option("-m,--model", args.model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", args.prompt, "prompt text");
  cmd->add_option("-f,--file", args.prompt_file, "read the prompt from a file");
  cmd->add_option("-n,--n-predict", args.n_predict, "tokens to generate (-1: until end of generation)")
      ->capture_default_str();
  AddSamplingFlags(*cmd, args.sampling);
  cmd->add_option("-t,--threads", args.threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-c,--ctx", args.ctx, "context length (0: the model's, at most 4096, as the coordinator)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-u,--ubatch", args.ubatch, "prompt tokens per forward pass")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--kv-type", args.kv_type, "KV cache element type")
      ->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  cmd->add_flag("--json", args.json, "print one JSON object instead of streaming text");
  return cmd;
}

int RunRunCommand(const RunArgs& args, bool prompt_given) {
  auto prompt_text = ReadPrompt(args.prompt, args.prompt_file, prompt_given);
  if (!prompt_text.ok()) return ReportError(prompt_text.status());
  auto model = LoadModel(args.model);
  if (!model.ok()) return ReportError(model.status());
  const LlamaConfig& config = model->config;

  CpuBackendOptions options;
  options.threads = args.threads > 0 ? args.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  options.n_ctx = args.ctx > 0 ? args.ctx : DefaultContext(config);
  options.max_seqs = 1;
  options.kv_f16 = args.kv_type == "f16";
  auto backend = CpuBackend::Create(*model->file, config, LayerRange{0, config.n_layer}, options);
  if (!backend.ok()) return ReportError(backend.status().WithContext(args.model));

  GenerationRequest request;
  request.prompt = model->tokenizer->Encode(*prompt_text, model->tokenizer->adds_bos());
  request.n_predict = args.n_predict;
  request.sampling = args.sampling.params;
  request.ignore_eos = args.sampling.ignore_eos;
  request.n_ctx = options.n_ctx;
  request.ubatch = args.ubatch;

  auto on_text = [&](const std::string& piece) {
    if (args.json) return;
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  auto result = GenerateLocally(std::move(backend).value(), config, *model->tokenizer, request, on_text);
  if (!result.ok()) return ReportError(result.status());

  const double prefill_tps = result->prefill_seconds > 0 ? result->prompt_tokens / result->prefill_seconds : 0.0;
  const double decode_tps = result->decode_seconds > 0 ? result->decode_steps / result->decode_seconds : 0.0;
  if (args.json) {
    StreamDecoder whole(*model->tokenizer);
    std::string text;
    for (int32_t t : result->tokens) text += whole.Push(t);
    text += whole.Flush();
    nlohmann::json j;
    j["text"] = text;
    j["tokens"] = result->tokens;
    j["prompt_tokens"] = result->prompt_tokens;
    j["prompt_chunk"] = args.ubatch;
    j["prefill_tokens_per_s"] = prefill_tps;
    j["decode_tokens_per_s"] = decode_tps;
    j["stop_reason"] = result->stop_reason;
    // Invalid UTF-8 from a random model must not abort the dump: replace it.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
    std::fflush(stdout);  // the text ends before the timing line on a shared terminal
    std::fprintf(stderr, "prompt: %d tokens, %.2f tok/s; generation: %zu tokens, %.2f tok/s (%s)\n",
                 result->prompt_tokens, prefill_tps, result->tokens.size(), decode_tps,
                 result->stop_reason.c_str());
  }
  return kExitOk;
}

}  // namespace ps::cli
