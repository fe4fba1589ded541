// `pipeshard plan --simulate`: a what-if over a catalog cluster (simulator/what_if.h), printed as
// a table over 1..N devices and the best plan's stages, or as one JSON object.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_error.h"
#include "cli/model_loader.h"
#include "cli/plan_command.h"
#include "common/plan/hardware_catalog.h"
#include "simulator/what_if.h"
#include "tools/make_model/make_model.h"
#include "tools/make_model/spm_vocab.h"

namespace ps::cli {

namespace {

constexpr int64_t kLlama3VocabSize = 128256;
constexpr int64_t kQwen3VocabSize = 151936;  // the embedding rows of Qwen3's files (padded)
constexpr size_t kMaxClusterFileBytes = 64 * 1024;

// --cluster is a spec, or a file holding one (lines joined with commas, '#' starts a comment).
Result<std::string> ClusterSpec(const std::string& value) {
  std::ifstream in(value, std::ios::binary);
  if (!in) return value;
  std::string spec, line;
  size_t bytes = 0;
  while (std::getline(in, line)) {
    bytes += line.size() + 1;
    if (bytes > kMaxClusterFileBytes) {
      return Status::InvalidArgument("--cluster file " + value + " is over " + std::to_string(kMaxClusterFileBytes) + " bytes");
    }
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const size_t end = line.find_last_not_of(" \t\r");
    if (end == std::string::npos) continue;
    line.resize(end + 1);
    if (!spec.empty()) spec += ", ";
    spec += line;
  }
  if (spec.empty()) return Status::InvalidArgument("--cluster file " + value + " names no devices");
  return spec;
}

// --ubatch: empty (the fastest candidate), "auto" (the coordinator's default cut) or 1..8192 rows.
Result<int32_t> ParseUbatch(const std::string& value) {
  if (value.empty()) return 0;
  if (value == "auto") return sim::kSchedulerChunk;
  int32_t rows = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), rows);
  if (ec != std::errc() || end != value.data() + value.size() || rows < 1 || rows > 8192) {
    return Status::InvalidArgument("--ubatch '" + value + "' is neither auto nor a row count in 1..8192");
  }
  return rows;
}

struct Model {
  plan::ModelCost cost;
  std::string description;
};

Result<Model> PresetModel(const PlanArgs& args, int kv_bytes) {
  PS_ASSIGN_OR_RETURN(MakeModelOptions o, PresetOptions(args.preset));
  const auto type = ParseTypeName(args.type);
  if (!type || !TraitsOf(*type).supported) {
    return Status::InvalidArgument("--type '" + args.type + "' is not a supported tensor type");
  }
  LlamaConfig c;
  c.n_embd = o.dim;
  c.n_layer = o.layers;
  c.n_head = o.heads;
  c.n_head_kv = o.kv_heads;
  c.n_head_dim = o.head_dim;  // 0: n_embd / n_head
  c.n_ff = o.ff;
  c.n_ctx_train = o.ctx;
  c.n_vocab = o.vocab == "llama3"   ? kLlama3VocabSize
              : o.vocab == "qwen3" ? kQwen3VocabSize
                                   : static_cast<int64_t>(make_model::BuiltInSpmVocabulary().tokens.size());
  const TypeTraits traits = TraitsOf(*type);
  Model m{plan::ModelCostForType(c, *type, kv_bytes), ""};
  m.description = "preset " + args.preset + " (" + std::to_string(c.n_layer) + " layers, dim " + std::to_string(c.n_embd) +
                  ", vocab " + std::to_string(c.n_vocab) + "), " + std::string(traits.name);
  return m;
}

Result<Model> FileModel(const PlanArgs& args, int kv_bytes) {
  PS_ASSIGN_OR_RETURN(LoadedModel model, LoadModel(args.model));
  auto cost = plan::ModelCostFromFile(*model.file, model.config, kv_bytes);
  if (!cost.ok()) return cost.status().WithContext(args.model);
  return Model{std::move(cost).value(), args.model};
}

std::string Gib(uint64_t bytes) { return plan::FormatGiB(bytes); }

nlohmann::json StagesJson(const sim::Prediction& p) {
  nlohmann::json stages = nlohmann::json::array();
  for (const sim::StagePrediction& s : p.stages) {
    stages.push_back({{"device", s.device},
                      {"first_layer", s.first_layer},
                      {"last_layer", s.last_layer},
                      {"weights_bytes", s.memory.weights},
                      {"kv_cache_bytes", s.memory.kv_cache},
                      {"buffers_bytes", s.memory.buffers},
                      {"memory_bytes", s.memory.total()},
                      {"capacity_bytes", s.capacity},
                      {"fits", s.fits},
                      {"prefill_utilisation", s.prefill_utilisation},
                      {"decode_utilisation", s.decode_utilisation},
                      {"memory_bound", s.memory_bound}});
  }
  return stages;
}

nlohmann::json PredictionJson(const sim::Prediction& p) {
  nlohmann::json j = {{"devices", p.devices}, {"fits", p.fits}, {"stages", StagesJson(p)}};
  if (!p.fits) {
    j["why_not"] = p.why_not;
    return j;
  }
  j["ubatch"] = p.ubatch;
  j["prefill_tokens_per_s"] = p.prefill_tokens_per_s;
  j["decode_tokens_per_s"] = p.decode_tokens_per_s;
  j["aggregate_decode_tokens_per_s"] = p.aggregate_decode_tokens_per_s;
  j["workload_seconds"] = p.workload_seconds;
  j["bottleneck"] = p.bottleneck;
  j["bottleneck_why"] = p.bottleneck_why;
  return j;
}

void PrintText(const PlanArgs& args, const Model& model, const std::string& spec, const sim::WhatIfAnswer& a) {
  std::printf("model:    %s\n", model.description.c_str());
  std::printf("cluster:  %s\n", spec.c_str());
  std::printf("workload: ctx %lld, %d stream%s of %d prompt + %d generated tokens\n\n", static_cast<long long>(args.ctx),
              args.concurrency, args.concurrency == 1 ? "" : "s", args.prompt_tokens, args.gen_tokens);
  std::printf("%-7s %-4s %6s %14s %13s %16s %11s\n", "devices", "fits", "ubatch", "prefill tok/s", "decode tok/s",
              "aggregate tok/s", "workload s");
  for (const sim::Prediction& p : a.by_devices) {
    if (!p.fits) {
      std::printf("%-7d %-4s  %s\n", p.devices, "no", p.why_not.c_str());
      continue;
    }
    std::printf("%-7d %-4s %6d %14.1f %13.2f %16.2f %11.2f\n", p.devices, "yes", p.ubatch, p.prefill_tokens_per_s,
                p.decode_tokens_per_s, p.aggregate_decode_tokens_per_s, p.workload_seconds);
  }
  std::printf("\n%s\n", a.best_why.c_str());
  if (a.best < 0) return;
  const sim::Prediction& best = a.by_devices[static_cast<size_t>(a.best)];
  std::printf("\nplan for %d device%s (ubatch %d):\n", best.devices, best.devices == 1 ? "" : "s", best.ubatch);
  std::printf("%-5s %-16s %-9s %10s %10s %10s %21s %8s %8s\n", "stage", "device", "layers", "weights", "KV cache", "buffers",
              "total / capacity", "prefill", "workload");
  for (size_t i = 0; i < best.stages.size(); ++i) {
    const sim::StagePrediction& s = best.stages[i];
    char layers[32], total[64];
    std::snprintf(layers, sizeof layers, "[%d,%d)", s.first_layer, s.last_layer);
    std::snprintf(total, sizeof total, "%s / %s", Gib(s.memory.total()).c_str(), Gib(s.capacity).c_str());
    std::printf("%-5zu %-16s %-9s %10s %10s %10s %21s %7.0f%% %7.0f%%\n", i, s.device.c_str(), layers,
                Gib(s.memory.weights).c_str(), Gib(s.memory.kv_cache).c_str(), Gib(s.memory.buffers).c_str(), total,
                100 * s.prefill_utilisation, 100 * s.decode_utilisation);
  }
  std::printf("(prefill, workload: the share of the time each stage is busy in one prompt's prefill and in the %d-stream run)\n",
              args.concurrency);
  std::printf("bottleneck: %s\n", best.bottleneck_why.c_str());
  std::printf("predicted: prefill %.1f tok/s, decode %.2f tok/s (one stream), %.2f tok/s aggregate (%d stream%s, prefill included)\n",
              best.prefill_tokens_per_s, best.decode_tokens_per_s, best.aggregate_decode_tokens_per_s, args.concurrency,
              args.concurrency == 1 ? "" : "s");
}

}  // namespace

int RunPlanSimulate(const PlanArgs& args) {
  if (args.cluster.empty()) return ReportError(Status::InvalidArgument("plan --simulate: give --cluster, e.g. \"4xP40 pcie3\""));
  if (args.model.empty() == args.preset.empty()) {
    return ReportError(Status::InvalidArgument("plan --simulate: give exactly one of --model FILE and --preset NAME"));
  }
  if (!args.speeds.empty() || args.stages > 0) {
    return ReportError(Status::InvalidArgument("plan --simulate: the devices come from --cluster, not --stages/--speeds"));
  }
  const int kv_bytes = args.kv_type == "f16" ? 2 : 4;
  auto model = args.preset.empty() ? FileModel(args, kv_bytes) : PresetModel(args, kv_bytes);
  if (!model.ok()) return ReportError(model.status());
  auto spec = ClusterSpec(args.cluster);
  if (!spec.ok()) return ReportError(spec.status());
  auto catalog = plan::HardwareCatalog::BuiltInWith(args.catalog);
  if (!catalog.ok()) return ReportError(catalog.status().WithContext("--catalog"));
  auto cluster = plan::ParseClusterSpec(*spec, *catalog);
  if (!cluster.ok()) return ReportError(cluster.status().WithContext("--cluster"));

  sim::WhatIfQuestion q;
  q.cost = model->cost;
  q.cluster = *cluster;
  q.ctx = args.ctx;
  q.prompt_tokens = args.prompt_tokens;
  q.gen_tokens = args.gen_tokens;
  q.concurrency = args.concurrency;
  auto ubatch = ParseUbatch(args.ubatch);
  if (!ubatch.ok()) return ReportError(ubatch.status());
  q.ubatch = *ubatch;
  auto answer = sim::AnswerWhatIf(q);
  if (!answer.ok()) return ReportError(answer.status());

  if (args.json) {
    nlohmann::json table = nlohmann::json::array();
    for (const sim::Prediction& p : answer->by_devices) table.push_back(PredictionJson(p));
    const sim::Prediction& chosen =
        answer->best >= 0 ? answer->by_devices[static_cast<size_t>(answer->best)] : answer->by_devices.back();
    nlohmann::json j = PredictionJson(chosen);
    j["model"] = model->description;
    j["cluster"] = *spec;
    j["workload"] = {{"ctx", args.ctx},
                     {"prompt_tokens", args.prompt_tokens},
                     {"gen_tokens", args.gen_tokens},
                     {"concurrency", args.concurrency}};
    j["devices_available"] = answer->by_devices.size();
    j["by_devices"] = table;
    j["explanation"] = answer->best_why;
    j["emulated"] = false;
    std::printf("%s\n", j.dump().c_str());
  } else {
    PrintText(args, *model, *spec, *answer);
  }
  return answer->best >= 0 ? kExitOk : kExitFailure;
}

}  // namespace ps::cli
