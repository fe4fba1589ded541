#include "cli/run_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/cli_error.h"
#include "cli/local_generation.h"
#include "cli/model_loader.h"
#include "common/util/progress.h"
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

namespace {

// A load quicker than this shows no progress at all.
constexpr std::chrono::milliseconds kLoadQuietFor{500};

// The backend over every layer, showing the load's progress per layer on stderr. The progress
// line is ended before this returns, so that an error starts on a line of its own.
Result<std::unique_ptr<CpuBackend>> CreateBackend(const LoadedModel& model, const std::string& path,
                                                  CpuBackendOptions options) {
  std::string label = "loading ";
  label += std::filesystem::path(path).filename().string();
  Progress progress(ProgressOptions{std::move(label), model.config.n_layer, "layers", kLoadQuietFor});
  options.on_layers_loaded = [&progress](int32_t done, int32_t) { progress.Update(done); };
  auto backend = CpuBackend::Create(*model.file, model.config, LayerRange{0, model.config.n_layer}, options);
  if (backend.ok()) progress.Finish();
  return backend;
}

}  // namespace

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
  auto backend = CreateBackend(*model, args.model, options);
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
  // A prompt of more than one chunk shows its prefill's progress on stderr (stdout holds only the
  // generated text); the line ends before the first text.
  std::unique_ptr<Progress> prefill;
  if (static_cast<int64_t>(request.prompt.size()) > request.ubatch) {
    prefill = std::make_unique<Progress>(
        ProgressOptions{"prefill", static_cast<int64_t>(request.prompt.size()), "tokens", {}});
    request.on_prefill = [&prefill](int32_t done, int32_t total) {
      prefill->Update(done);
      if (done >= total) prefill->Finish();
    };
  }
  auto result = GenerateLocally(std::move(backend).value(), config, *model->tokenizer, request, on_text);
  prefill.reset();  // ends a half-drawn line before an error
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
