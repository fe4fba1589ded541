#include "cli/plan_command.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_error.h"
#include "cli/model_loader.h"
#include "common/plan/partition_planner.h"
#include "tools/make_model/make_model.h"

namespace ps::cli {

CLI::App* AddPlanCommand(CLI::App& app, PlanArgs& args) {
  CLI::App* cmd = app.add_subcommand("plan", "show how a model's layers would be split across workers");
  cmd->add_option("-m,--model", args.model, "GGUF model file");
  cmd->add_option("--stages", args.stages, "number of workers (default: one per --speeds entry)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--speeds", args.speeds, "each worker's speed in GFLOP/s, in stage order (default: all equal)")
      ->delimiter(',')->check(CLI::PositiveNumber);
  cmd->add_option("--kv-type", args.kv_type, "KV cache element type")
      ->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  AddWorkloadOptions(*cmd, args.workload);
  cmd->add_flag("--json", args.json, "print the plan as one JSON object");
  cmd->add_flag("--simulate", args.simulate,
                "predict a catalog cluster: memory fit, split, prefill/decode tok/s for 1..N devices (needs --cluster)");
  cmd->add_option("--cluster", args.cluster, "with --simulate: \"4xP40 pcie3\", \"2xRTX4090 pcie4, 1xcpu-zen3-8c 10gbe\" or a file");
  cmd->add_option("--catalog", args.catalog,
                  "with --simulate: a hardware catalog file (e.g. from bench --profile) whose devices and links join the built-in ones");
  cmd->add_option("--preset", args.preset, "with --simulate, instead of --model: a make-model shape (" + std::string(kPresetNames) + ")");
  cmd->add_option("--type", args.type, "with --preset: the weights' type (q8_0, q4_k, f16, ...)")->capture_default_str();
  cmd->add_option("--ctx", args.ctx, "with --simulate: positions cached per sequence")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))->capture_default_str();
  cmd->add_option("--prompt-tokens", args.prompt_tokens, "with --simulate: prompt tokens per request")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str();
  cmd->add_option("--gen-tokens", args.gen_tokens, "with --simulate: generated tokens per request")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str();
  cmd->add_option("--concurrency", args.concurrency, "with --simulate: streams at once (aggregate decode)")
      ->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--ubatch", args.ubatch,
                  "with --simulate: prompt chunk rows (1-8192), or auto for the coordinator's default cut (default: the "
                  "fastest of auto, 128, 256, 512)");
  return cmd;
}

void AddWorkloadOptions(CLI::App& cmd, plan::Workload& workload) {
  cmd.add_option("--workload-prompt", workload.prompt_tokens, "expected prompt tokens per request (the plan is cut for it)")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str();
  cmd.add_option("--workload-gen", workload.gen_tokens, "expected generated tokens per request")
      ->check(CLI::Range(0, 1 << 24))->capture_default_str();
  cmd.add_option("--workload-concurrency", workload.concurrency, "expected requests running at once")
      ->check(CLI::Range(1, 1 << 16))->capture_default_str();
}

namespace {

// The worker speeds to plan for, from --stages and --speeds (which must agree when both given).
Result<std::vector<double>> Speeds(const PlanArgs& args) {
  if (args.speeds.empty()) {
    if (args.stages <= 0) return Status::InvalidArgument("plan: give --stages N or --speeds S1,S2,...");
    return std::vector<double>(static_cast<size_t>(args.stages), 1.0);
  }
  if (args.stages > 0 && static_cast<size_t>(args.stages) != args.speeds.size()) {
    return Status::InvalidArgument("plan: --stages " + std::to_string(args.stages) + " but --speeds lists " +
                                   std::to_string(args.speeds.size()) + " workers");
  }
  return args.speeds;
}

nlohmann::json ToJson(const plan::PartitionPlan& p) {
  nlohmann::json stages = nlohmann::json::array();
  for (const plan::StagePlan& s : p.stages) {
    stages.push_back({{"worker", s.worker},
                      {"first_layer", s.first_layer},
                      {"last_layer", s.last_layer},
                      {"embedding", s.embedding},
                      {"head", s.head},
                      {"speed_gflops", s.speed_gflops},
                      {"flops_per_token", s.flops_per_token},
                      {"memory_bytes", s.memory_bytes},
                      {"prefill_seconds_per_token", s.prefill_seconds_per_token},
                      {"decode_seconds_per_token", s.decode_seconds_per_token},
                      {"relative_cost", s.relative_cost}});
  }
  return {{"stages", stages},
          {"bottleneck", p.bottleneck},
          {"workload",
           {{"prompt_tokens", p.workload.prompt_tokens},
            {"gen_tokens", p.workload.gen_tokens},
            {"concurrency", p.workload.concurrency}}},
          {"prefill_tokens_per_s", p.prefill_tokens_per_second},
          {"decode_tokens_per_s", p.decode_tokens_per_second},
          {"aggregate_decode_tokens_per_s", p.aggregate_decode_tokens_per_second},
          {"explanation", p.explanation}};
}

void PrintText(const plan::PartitionPlan& p) {
  std::printf("workload: %s\n\n", p.workload.Describe().c_str());
  std::printf("%-5s %-10s %-14s %-10s %12s %10s %10s %10s %6s\n", "stage", "speed", "layers", "parts", "MFLOP/token",
              "memory", "prefill ms", "decode ms", "busy");
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const plan::StagePlan& s = p.stages[i];
    char layers[32];
    std::snprintf(layers, sizeof layers, "[%d,%d)", s.first_layer, s.last_layer);
    std::string parts = s.embedding ? "emb" : "";
    if (s.head) parts += parts.empty() ? "head" : "+head";
    char speed[32];
    std::snprintf(speed, sizeof speed, "%g GF/s", s.speed_gflops);
    std::printf("%-5zu %-10s %-14s %-10s %12.2f %6.0f MiB %10.3f %10.3f %6.2f%s\n", i, speed, layers,
                parts.empty() ? "-" : parts.c_str(), s.flops_per_token / 1e6,
                static_cast<double>(s.memory_bytes) / (1024.0 * 1024.0), s.prefill_seconds_per_token * 1e3,
                s.decode_seconds_per_token * 1e3, s.relative_cost,
                static_cast<int32_t>(i) == p.bottleneck ? "  <- busiest" : "");
  }
  std::printf("\npredicted (compute only): prefill %.1f tok/s, decode %.2f tok/s for one stream",
              p.prefill_tokens_per_second, p.decode_tokens_per_second);
  if (p.workload.concurrency > 1) {
    std::printf(", %.2f tok/s for %d streams", p.aggregate_decode_tokens_per_second, p.workload.concurrency);
  }
  std::printf("\n");
  if (!p.explanation.empty()) std::printf("%s\n", p.explanation.c_str());
}

}  // namespace

int RunPlanCommand(const PlanArgs& args) {
  if (args.simulate) return RunPlanSimulate(args);
  if (!args.cluster.empty() || !args.preset.empty() || !args.catalog.empty()) {
    return ReportError(Status::InvalidArgument("plan: --cluster, --catalog and --preset need --simulate"));
  }
  if (args.model.empty()) return ReportError(Status::InvalidArgument("plan: give --model M (or --simulate)"));
  auto speeds = Speeds(args);
  if (!speeds.ok()) return ReportError(speeds.status());
  auto model = LoadModel(args.model);
  if (!model.ok()) return ReportError(model.status());
  auto cost = plan::ModelCostFromFile(*model->file, model->config, args.kv_type == "f16" ? 2 : 4);
  if (!cost.ok()) return ReportError(cost.status().WithContext(args.model));
  auto partition = plan::Simulate(*cost, *speeds, args.workload);
  if (!partition.ok()) return ReportError(partition.status().WithContext(args.model));
  if (args.json) {
    std::printf("%s\n", ToJson(*partition).dump().c_str());
  } else {
    PrintText(*partition);
  }
  return kExitOk;
}

}  // namespace ps::cli
