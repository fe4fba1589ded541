#include "cli/bench_command.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "cli/bench_stats.h"
#include "cli/cli_error.h"
#include "cli/grpc_client.h"
#include "cli/device_profile.h"
#include "cli/memory_bandwidth.h"
#include "cli/model_loader.h"
#include "cli/ref_bench.h"
#include "cli/ref_prompt.h"
#include "cli/server_bench.h"
#include "cli/subprocess.h"
#include "common/util/elapsed.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cuda/cuda_backend_factory.h"
#include "worker/backend/cuda/device_spec.h"

namespace ps::cli {

namespace {

constexpr int32_t kSeq = 0;
// Fixed so that every run of the benchmark feeds the same tokens.
constexpr uint32_t kTokenSeed = 1234;
// The decode test starts after this many prompt tokens (BOS first), as llama-bench's tg test
// starts after its BOS; the prompt itself is not timed.
constexpr int32_t kDecodePromptTokens = 1;
// Bandwidth probe: a buffer this many times the last-level cache (at least kMinProbeBytes) so
// that the reads come from memory, best of kProbeRuns.
constexpr size_t kProbeCacheMultiple = 8;
constexpr size_t kMinProbeBytes = size_t{256} << 20;
constexpr int kProbeRuns = 5;

using Clock = std::chrono::steady_clock;

// key = the median, key_min and key_max, as llama-bench-style JSON reports a repeated test.
void PutStats(nlohmann::json& j, const std::string& key, const Stats& s) {
  j[key] = s.median;
  j[key + "_min"] = s.min;
  j[key + "_max"] = s.max;
}

// What the model file holds, for the report.
struct ModelFacts {
  std::string weight_type;     // the tensor type holding the most bytes
  uint64_t size_bytes = 0;     // all tensors
  uint64_t params = 0;         // all tensor elements
  uint64_t decode_weight_bytes = 0;  // read once per decoded token: layer weights + output head
};

ModelFacts DescribeModel(const gguf::GgufFile& file) {
  ModelFacts facts;
  std::map<GgmlType, uint64_t> bytes_by_type;
  const gguf::TensorInfo* embedding = nullptr;
  bool has_output = false;
  for (const gguf::TensorInfo& t : file.tensors()) {
    facts.size_bytes += t.nbytes;
    facts.params += static_cast<uint64_t>(t.n_elements());
    bytes_by_type[t.type] += t.nbytes;
    // The embedding table is only gathered (one row per token), so it does not count as read.
    if (t.name.rfind("blk.", 0) == 0 || t.name == "output_norm.weight") facts.decode_weight_bytes += t.nbytes;
    if (t.name == "output.weight") {
      facts.decode_weight_bytes += t.nbytes;
      has_output = true;
    }
    if (t.name == "token_embd.weight") embedding = &t;
  }
  // Tied embeddings: the output head is the embedding table, read whole for each token's logits.
  if (!has_output && embedding != nullptr) facts.decode_weight_bytes += embedding->nbytes;
  const auto most = std::max_element(bytes_by_type.begin(), bytes_by_type.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  if (most != bytes_by_type.end()) facts.weight_type = std::string(TypeName(most->first));
  return facts;
}

Status ForwardTokens(Backend& backend, const std::vector<int32_t>& tokens, size_t begin, size_t end,
                     BatchOutput* out) {
  Batch batch;
  const size_t n = end - begin;
  batch.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(begin),
                      tokens.begin() + static_cast<std::ptrdiff_t>(end));
  batch.positions.resize(n);
  for (size_t i = 0; i < n; ++i) batch.positions[i] = static_cast<int32_t>(begin + i);
  batch.seq_ids.assign(n, kSeq);
  batch.logits.assign(n, 0);
  batch.logits[n - 1] = 1;  // as in generation: logits for a chunk's last token only
  return backend.Forward(batch, out);
}

// Prefills `tokens` on a fresh sequence in ubatch chunks; returns the seconds spent in Forward.
Result<double> TimePrefill(Backend& backend, const std::vector<int32_t>& tokens, int32_t ubatch) {
  backend.FreeSequence(kSeq);
  BatchOutput out;
  double seconds = 0;
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(ubatch)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(ubatch));
    const auto start = Clock::now();
    PS_RETURN_IF_ERROR(ForwardTokens(backend, tokens, begin, end, &out));
    seconds += SecondsSince(start);
  }
  backend.FreeSequence(kSeq);
  return seconds;
}

// Runs the untimed short prompt, then the remaining tokens one Forward each; returns the seconds
// spent in those one-token calls.
Result<double> TimeDecode(Backend& backend, const std::vector<int32_t>& tokens) {
  backend.FreeSequence(kSeq);
  BatchOutput out;
  PS_RETURN_IF_ERROR(ForwardTokens(backend, tokens, 0, kDecodePromptTokens, &out));
  double seconds = 0;
  for (size_t i = kDecodePromptTokens; i < tokens.size(); ++i) {
    const auto start = Clock::now();
    PS_RETURN_IF_ERROR(ForwardTokens(backend, tokens, i, i + 1, &out));
    seconds += SecondsSince(start);
  }
  backend.FreeSequence(kSeq);
  return seconds;
}

// `count` token ids drawn uniformly from the vocabulary, BOS first when the model has one.
std::vector<int32_t> RandomTokens(std::mt19937& rng, int32_t count, int32_t n_vocab, int32_t bos) {
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (int32_t& t : tokens) t = pick(rng);
  if (bos >= 0 && count > 0) tokens[0] = bos;
  return tokens;
}

uint64_t PeakRssBytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

Status CheckArgs(const BenchArgs& args) {
  if (args.prompt_tokens < 1) return Status::InvalidArgument("-p must be at least 1 (got " + std::to_string(args.prompt_tokens) + ")");
  if (args.decode_tokens < 1) return Status::InvalidArgument("-n must be at least 1 (got " + std::to_string(args.decode_tokens) + ")");
  if (args.reps < 1) return Status::InvalidArgument("--reps must be at least 1 (got " + std::to_string(args.reps) + ")");
  if (args.ubatch < 1) return Status::InvalidArgument("--ubatch must be at least 1 (got " + std::to_string(args.ubatch) + ")");
  if (args.threads < 0) return Status::InvalidArgument("--threads must not be negative (got " + std::to_string(args.threads) + ")");
  if (args.bandwidth_gbs < 0) return Status::InvalidArgument("--bandwidth must not be negative (got " + std::to_string(args.bandwidth_gbs) + ")");
  if (!(args.ref_timeout > 0)) return Status::InvalidArgument("--ref-timeout must be positive (got " + std::to_string(args.ref_timeout) + ")");
  return Status::Ok();
}

// The reference's program and kind, checked before the model is loaded so that a wrong path
// fails at once. Threads and the prompt file are filled in once the backend exists.
Result<RefTest> PrepareReference(const BenchArgs& args) {
  auto binary = ResolveExecutable(args.ref_binary);
  if (!binary.ok()) return binary.status().WithContext("--ref-binary");
  PS_ASSIGN_OR_RETURN(RefKind kind, ChooseRefKind(args.ref_kind, *binary));
  RefTest test;
  test.binary = *binary;
  test.kind = kind;
  test.model = args.model;
  test.prompt_tokens = args.prompt_tokens;
  test.decode_tokens = args.decode_tokens;
  test.ubatch = args.ubatch;
  test.kv_type = args.kv_type;
  test.limits.timeout_seconds = args.ref_timeout;
  return test;
}

// The reference's side of the report: its speeds over the reps, as for pipeshard's.
struct RefReport {
  RefTest test;
  std::vector<double> prefill_tps, decode_tps;
  RefSample last;  // token counts as the reference saw them (the same in every run)
};

// One row of the text table: pipeshard's median, min, max and, with a reference, its median,
// min, max and the ratio of the medians.
void PrintRow(const std::string& test, const Stats& ours, const std::optional<Stats>& ref) {
  std::printf("%-8s %12.2f %12.2f %12.2f", test.c_str(), ours.median, ours.min, ours.max);
  if (ref) std::printf(" %12.2f %12.2f %12.2f %8.2f", ref->median, ref->min, ref->max, ours.median / ref->median);
  std::printf("\n");
}

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& args) {
  CLI::App* cmd = app.add_subcommand("bench", "measure prefill and decode speed in this process (like llama-bench)");
  cmd->add_option("-m,--model", args.model, "GGUF model file (not with --server)");
  CLI::Option* server = cmd->add_option(
      "--server", args.server,
      "HOST:PORT of a coordinator: run the prefill and decode tests through its cluster instead of in this process");
  AddServerAccessOptions(*cmd, args.api_key, args.ca);
  cmd->add_option("--streams", args.streams, "with --server: also decode this many streams at once (aggregate tok/s)")
      ->needs(server);
  cmd->add_option("--trace", args.trace_path,
                  "with --server: write the cluster's micro-batch timelines over the run to this file as a Chrome "
                  "trace (chrome://tracing, ui.perfetto.dev)")
      ->needs(server);
  cmd->add_option("-p,--n-prompt", args.prompt_tokens, "prompt tokens per prefill test")->capture_default_str();
  cmd->add_option("-n,--n-gen", args.decode_tokens, "tokens per decode test")->capture_default_str();
  cmd->add_option("-t,--threads", args.threads, "CPU threads (0: all)");
  cmd->add_option("-r,--reps", args.reps, "repetitions of each test")->capture_default_str();
  cmd->add_option("-u,--ubatch", args.ubatch, "prompt tokens per forward pass")->capture_default_str();
  cmd->add_option("--kv-type", args.kv_type, "KV cache element type")
      ->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  cmd->add_option("--device", args.device, "cpu, or cuda:N for the CUDA backend")->capture_default_str();
  cmd->add_flag("--roofline", args.roofline,
                "measure memory read bandwidth and compare decode with weight bytes / bandwidth");
  cmd->add_option("--bandwidth", args.bandwidth_gbs,
                  "with --roofline: use this memory bandwidth in GB/s instead of measuring the host's (e.g. 3350 "
                  "for an H100 SXM's HBM3)");
  cmd->add_flag("--json", args.json, "print one JSON object");
  CLI::Option* profile = cmd->add_flag(
      "--profile", args.profile,
      "measure this host's CPU (memory bandwidth, each weight type's decode and prompt kernels, per-layer overhead) "
      "with --threads threads and print it as a hardware catalog for plan --simulate --catalog");
  cmd->add_option("--name", args.profile_name, "with --profile: the device's name in the catalog")
      ->needs(profile)->capture_default_str();
  cmd->add_option("--profile-types", args.profile_types, "with --profile: weight types to measure (default q8_0,q4_k,q4_0,q6_k,f16)")
      ->delimiter(',')->needs(profile);
  cmd->add_option("-o,--out", args.out_path, "with --profile: write the catalog to this file")->needs(profile);
  cmd->add_option("--profile-stream-mib", args.profile_stream_mib,
                  "with --profile: MiB of weights the 1-8 row products stream (default: 512 or 4x the last-level "
                  "cache the CPU reports, whichever is more); keep it well past the caches")
      ->needs(profile)->check(CLI::Range(1, 65536));
  cmd->add_option("--profile-min-ms", args.profile_min_ms, "with --profile: milliseconds each timed run lasts at least")
      ->needs(profile)->check(CLI::Range(1.0, 60000.0))->capture_default_str();
  CLI::Option* ref = cmd->add_option(
      "--ref-binary", args.ref_binary,
      "also run this llama.cpp program on the same model, -p, -n, threads, ubatch and KV type, once after each "
      "of pipeshard's reps (they alternate), and print both with the ratio pipeshard / llama.cpp; llama-bench "
      "runs with -r 1 -o json, llama-cli with a text prompt of about p tokens, --temp 0 --ignore-eos");
  cmd->add_option("--ref-kind", args.ref_kind,
                  "how to run --ref-binary: auto (llama-bench when its file name says so, else llama-cli)")
      ->check(CLI::IsMember({"auto", "llama-bench", "llama-cli"}))->needs(ref)->capture_default_str();
  cmd->add_option("--ref-timeout", args.ref_timeout, "seconds one reference run may take before it is killed")
      ->needs(ref)->capture_default_str();
  return cmd;
}

namespace {

int RunProfile(const BenchArgs& args) {
  if (!args.model.empty() || !args.server.empty()) {
    return ReportError(Status::InvalidArgument("bench --profile measures the host: give neither --model nor --server"));
  }
  ProfileArgs p;
  p.name = args.profile_name;
  p.threads = args.threads > 0 ? args.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!args.profile_types.empty()) p.types = args.profile_types;
  p.stream_bytes = static_cast<size_t>(args.profile_stream_mib) << 20;
  p.min_ms = args.profile_min_ms;
  auto measured = MeasureCpuProfile(p);
  if (!measured.ok()) return ReportError(measured.status());
  const std::string text = ProfileCatalogJson(*measured) + "\n";
  if (args.out_path.empty()) {
    std::fputs(text.c_str(), stdout);
    return kExitOk;
  }
  std::ofstream out(args.out_path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return ReportError(Status::IOError("cannot write " + args.out_path));
  std::fprintf(stderr, "wrote %s (device '%s')\n", args.out_path.c_str(), measured->name.c_str());
  return kExitOk;
}

}  // namespace

int RunBenchCommand(const BenchArgs& args) {
  if (args.profile) return RunProfile(args);
  if (!args.server.empty()) {
    if (!args.model.empty()) return ReportError(Status::InvalidArgument("bench: give --model or --server, not both"));
    ServerBenchArgs server;
    server.server = args.server;
    server.api_key = args.api_key;
    server.ca = args.ca;
    server.prompt_tokens = args.prompt_tokens;
    server.decode_tokens = args.decode_tokens;
    server.reps = args.reps;
    server.streams = args.streams;
    server.trace_path = args.trace_path;
    server.json = args.json;
    return RunServerBench(server);
  }
  if (args.model.empty()) return ReportError(Status::InvalidArgument("bench: give --model FILE (or --server HOST:PORT)"));
  if (Status s = CheckArgs(args); !s.ok()) return ReportError(s);
  std::optional<RefReport> ref;
  if (!args.ref_binary.empty()) {
    auto test = PrepareReference(args);
    if (!test.ok()) return ReportError(test.status());
    ref.emplace();
    ref->test = std::move(*test);
  }

  const auto load_start = Clock::now();
  auto model = LoadModel(args.model);
  if (!model.ok()) return ReportError(model.status());
  const LlamaConfig& config = model->config;
  const int32_t decode_sequence = kDecodePromptTokens + args.decode_tokens;
  if (args.prompt_tokens > config.n_ctx_train || decode_sequence > config.n_ctx_train) {
    return ReportError(Status::InvalidArgument(
        args.model + ": the context holds " + std::to_string(config.n_ctx_train) + " tokens but -p " +
        std::to_string(args.prompt_tokens) + " / -n " + std::to_string(args.decode_tokens) +
        " (plus " + std::to_string(kDecodePromptTokens) + " prompt token) need more"));
  }

  auto device = ParseDeviceSpec(args.device);
  if (!device.ok()) return ReportError(device.status());
  if (args.roofline && args.bandwidth_gbs == 0 && device->kind == DeviceSpec::Kind::kCuda) {
    return ReportError(Status::InvalidArgument(
        "--roofline with --device " + args.device + " needs --bandwidth GB/s (the probe measures host memory)"));
  }
  CpuBackendOptions options;
  options.threads = args.threads > 0 ? args.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Only as many positions as the tests use, as llama-bench sizes its context to the test.
  options.n_ctx = std::max(args.prompt_tokens, decode_sequence);
  options.max_seqs = 1;
  options.kv_f16 = args.kv_type == "f16";
  std::unique_ptr<Backend> backend;
  std::string kernels;
  std::string cpu_isa;  // the avx2 level's instructions (PIPESHARD_CPU_ISA); empty at other levels
  if (device->kind == DeviceSpec::Kind::kCuda) {
    if (!options.kv_f16) return ReportError(Status::InvalidArgument("--kv-type f32: the CUDA backend keeps an F16 cache"));
    CudaBackendOptions cuda;
    cuda.device = device->index;
    cuda.n_ctx = options.n_ctx;
    cuda.max_seqs = options.max_seqs;
    auto created = CreateCudaBackend(*model->file, config, LayerRange{0, config.n_layer}, cuda);
    if (!created.ok()) return ReportError(created.status().WithContext(args.model));
    backend = std::move(*created);
    kernels = device->ToString();
  } else {
    auto created = CpuBackend::Create(*model->file, config, LayerRange{0, config.n_layer}, options);
    if (!created.ok()) return ReportError(created.status().WithContext(args.model));
    kernels = cpu::KernelLevelName((*created)->kernel_level());
    // Which instructions the avx2 level runs (same bits either way; kernel_level.h).
    if ((*created)->kernel_level() == cpu::KernelLevel::kAvx2) {
      const Result<bool>& vnni = cpu::UseAvx512Vnni();
      cpu_isa = vnni.ok() && *vnni ? "avx512vnni" : "avx2";
    }
    backend = std::move(*created);
  }
  const double load_seconds = SecondsSince(load_start);

  // llama-cli reads its prompt as text from this file, removed when the command returns.
  std::unique_ptr<PromptFile> ref_prompt;
  if (ref) {
    ref->test.threads = options.threads;
    if (ref->test.kind == RefKind::kLlamaCli) {
      auto file = PromptFile::Create(PromptOfTokens(*model->tokenizer, args.prompt_tokens));
      if (!file.ok()) return ReportError(file.status());
      ref_prompt = std::move(*file);
      ref->test.prompt_file = ref_prompt->path();
    }
  }

  const auto n_vocab = static_cast<int32_t>(config.n_vocab);
  const int32_t bos = model->tokenizer->bos();
  std::mt19937 rng(kTokenSeed);
  const std::vector<int32_t> prompt = RandomTokens(rng, args.prompt_tokens, n_vocab, bos);
  const std::vector<int32_t> decode = RandomTokens(rng, decode_sequence, n_vocab, bos);

  // Warm-up (not reported): first touches of the weights and the KV cache, thread start-up.
  {
    const std::vector<int32_t> warm(prompt.begin(), prompt.begin() + std::min(args.prompt_tokens, args.ubatch));
    auto w = TimePrefill(*backend, warm, args.ubatch);
    if (!w.ok()) return ReportError(w.status());
    auto d = TimeDecode(*backend, {decode[0], decode[1]});
    if (!d.ok()) return ReportError(d.status());
  }

  // Each rep runs pipeshard's two tests, then the reference once, so that both see the same
  // machine conditions over the run (a shared machine's load drifts).
  std::vector<double> prefill_tps, decode_tps;
  for (int rep = 0; rep < args.reps; ++rep) {
    auto p = TimePrefill(*backend, prompt, args.ubatch);
    if (!p.ok()) return ReportError(p.status());
    auto d = TimeDecode(*backend, decode);
    if (!d.ok()) return ReportError(d.status());
    prefill_tps.push_back(args.prompt_tokens / std::max(*p, 1e-9));
    decode_tps.push_back(args.decode_tokens / std::max(*d, 1e-9));
    if (ref) {
      auto sample = RunReference(ref->test);
      if (!sample.ok()) return ReportError(sample.status().WithContext("--ref-binary"));
      ref->prefill_tps.push_back(sample->prefill_tokens_per_s);
      ref->decode_tps.push_back(sample->decode_tokens_per_s);
      ref->last = *sample;
    }
  }
  const Stats prefill = Summarize(prefill_tps);
  const Stats gen = Summarize(decode_tps);
  std::optional<Stats> ref_prefill, ref_gen;
  if (ref) {
    ref_prefill = Summarize(ref->prefill_tps);
    ref_gen = Summarize(ref->decode_tps);
  }
  const ModelFacts facts = DescribeModel(*model->file);
  // Before the bandwidth probe, whose buffer would otherwise count as the model's memory.
  const uint64_t peak_rss = PeakRssBytes();

  double bandwidth = 0, roofline_tps = 0;
  if (args.roofline && args.bandwidth_gbs > 0) {
    bandwidth = args.bandwidth_gbs * 1e9;
    roofline_tps = bandwidth / static_cast<double>(facts.decode_weight_bytes);
  } else if (args.roofline) {
    const size_t probe_bytes = std::max(kMinProbeBytes, kProbeCacheMultiple * LastLevelCacheBytes());
    auto bw = MeasureReadBandwidth(probe_bytes, options.threads, kProbeRuns);
    if (!bw.ok()) return ReportError(bw.status());
    bandwidth = *bw;
    roofline_tps = bandwidth / static_cast<double>(facts.decode_weight_bytes);
  }

  if (args.json) {
    nlohmann::json j;
    j["model"] = args.model;
    j["model_type"] = facts.weight_type;
    j["model_size_bytes"] = facts.size_bytes;
    j["model_params"] = facts.params;
    j["n_layer"] = config.n_layer;
    j["n_embd"] = config.n_embd;
    j["threads"] = options.threads;
    j["kernels"] = kernels;
    if (!cpu_isa.empty()) j["cpu_isa"] = cpu_isa;
    j["reps"] = args.reps;
    j["prompt_tokens"] = args.prompt_tokens;
    j["decode_tokens"] = args.decode_tokens;
    j["ubatch"] = args.ubatch;
    j["kv_type"] = args.kv_type;
    j["load_seconds"] = load_seconds;
    j["peak_rss_bytes"] = peak_rss;
    PutStats(j, "prefill_tokens_per_s", prefill);
    PutStats(j, "decode_tokens_per_s", gen);
    if (args.roofline) {
      j["read_bandwidth_bytes_per_s"] = bandwidth;
      j["decode_weight_bytes_per_token"] = facts.decode_weight_bytes;
      j["roofline_decode_tokens_per_s"] = roofline_tps;
      j["decode_roofline_fraction"] = gen.median / roofline_tps;
    }
    if (ref) {
      nlohmann::json r;
      r["binary"] = ref->test.binary;
      r["kind"] = RefKindName(ref->test.kind);
      r["prompt_tokens"] = ref->last.prompt_tokens;
      r["decode_tokens"] = ref->last.decode_tokens;
      PutStats(r, "prefill_tokens_per_s", *ref_prefill);
      PutStats(r, "decode_tokens_per_s", *ref_gen);
      j["ref"] = r;
      j["prefill_ratio"] = prefill.median / ref_prefill->median;
      j["decode_ratio"] = gen.median / ref_gen->median;
    }
    // A model path that is not UTF-8 must not abort the dump: replace it.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }

  std::printf("model: %s (llama, %s, %lld layers, %lld embd), %.1f MiB, %.1f M params\n", args.model.c_str(),
              facts.weight_type.c_str(), static_cast<long long>(config.n_layer),
              static_cast<long long>(config.n_embd), static_cast<double>(facts.size_bytes) / kMiB,
              static_cast<double>(facts.params) / 1e6);
  const std::string kernels_shown = cpu_isa.empty() ? kernels : kernels + " (" + cpu_isa + " instructions)";
  std::printf("threads %d, kernels %s, ubatch %d, kv %s, reps %d, load %.2f s, peak RSS %.1f MiB\n", options.threads,
              kernels_shown.c_str(), args.ubatch, args.kv_type.c_str(), args.reps, load_seconds, static_cast<double>(peak_rss) / kMiB);
  std::printf("%-8s %12s %12s %12s", "test", "tok/s", "min", "max");
  if (ref) {
    std::printf(" %12s %12s %12s %8s", "llama.cpp", "min", "max", "ratio");
  }
  std::printf("\n");
  PrintRow("pp" + std::to_string(args.prompt_tokens), prefill, ref_prefill);
  PrintRow("tg" + std::to_string(args.decode_tokens), gen, ref_gen);
  if (ref) {
    std::printf("llama.cpp: %s (%s, %d prompt / %d decode tokens as it counted them), one run after each rep; "
                "ratio = pipeshard / llama.cpp\n",
                ref->test.binary.c_str(), RefKindName(ref->test.kind), ref->last.prompt_tokens, ref->last.decode_tokens);
  }
  if (args.roofline) {
    std::printf("roofline: read bandwidth %.2f GB/s, %.1f MiB of weights per token -> %.2f tok/s; decode at %.0f%%\n",
                bandwidth / 1e9, static_cast<double>(facts.decode_weight_bytes) / kMiB, roofline_tps,
                100.0 * gen.median / roofline_tps);
  }
  return kExitOk;
}

}  // namespace ps::cli
