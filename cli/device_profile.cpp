#include "cli/device_profile.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iterator>
#include <map>
#include <memory>
#include <random>

#include "cli/memory_bandwidth.h"
#include "common/util/version.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/kernel_probe.h"

namespace ps::cli {

namespace {

constexpr int64_t kCols = 4096;
constexpr int64_t kChunkRows = 128;       // a pipelined prompt chunk (kMaxPipelinedChunk)
constexpr int kLayerOps = 9;              // 7 products and 2 norms per block

struct Rates {
  double decode_bytes_per_s = 0;
  double prefill_ops = 0;
};

// Row counts of the measured curve: up to kStreamedRows the product streams a matrix past the
// caches; from there on it is bound by the arithmetic and a smaller matrix serves.
constexpr int32_t kCurveRows[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
constexpr int32_t kStreamedRows = 8;
constexpr size_t kComputeMatrixBytes = 32u << 20;
// The arithmetic-bound products' matrices: 32 MiB, or less when --profile-stream-mib is smaller
// (a quick profile for tests).
size_t ComputeBytes(const ProfileArgs& args) {
  return args.stream_bytes > 0 ? std::min(kComputeMatrixBytes, args.stream_bytes) : kComputeMatrixBytes;
}

// ops/s of products of each curve row count through a chain of feed-forward-shaped matrices
// (4 * cols rows of `cols`), as a model's layers run them one after the other.
Result<std::vector<std::pair<int32_t, double>>> Curve(GgmlType type, cpu::KernelLevel level, const ProfileArgs& args,
                                                      int64_t cols, size_t streamed_bytes, std::mt19937& rng) {
  PS_ASSIGN_OR_RETURN(size_t row_bytes, RowBytes(type, cols));
  // 4W rows, or fewer when the whole budget is smaller than one such matrix (a quick profile).
  const int64_t matrix_rows =
      std::clamp<int64_t>(static_cast<int64_t>(std::min(streamed_bytes, ComputeBytes(args)) / row_bytes), 16, 4 * cols);
  const size_t matrix_bytes = row_bytes * static_cast<size_t>(matrix_rows);
  std::vector<std::pair<int32_t, double>> curve;
  const int32_t max_rows = kCurveRows[std::size(kCurveRows) - 1];
  std::vector<float> x(static_cast<size_t>(max_rows * cols));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(max_rows * matrix_rows));
  const cpu::ProbeTiming timing{args.runs, args.min_ms, false};
  for (const bool streamed : {true, false}) {
    const size_t count = std::max<size_t>(1, ((streamed ? streamed_bytes : ComputeBytes(args)) + matrix_bytes - 1) / matrix_bytes);
    std::vector<std::unique_ptr<cpu::ProbeMatrix>> matrices;
    std::vector<const cpu::WeightMatrix*> chain;
    for (size_t i = 0; i < count; ++i) {
      PS_ASSIGN_OR_RETURN(auto m, cpu::ProbeMatrix::Random(type, matrix_rows, cols, rng));
      chain.push_back(&m->View(level));
      matrices.push_back(std::move(m));
    }
    const double weights = static_cast<double>(count) * static_cast<double>(matrix_rows) * static_cast<double>(cols);
    for (int32_t n : kCurveRows) {
      if ((n <= kStreamedRows) != streamed) continue;
      const double s = cpu::TimeProductChain(level, args.threads, chain, x.data(), n, y.data(), timing);
      curve.emplace_back(n, 2.0 * weights * n / s);
    }
  }
  return curve;
}

// ops/s of a 128-row chunk through a 4096-wide matrix: the float rates attention is priced at.
Result<double> ChunkRate(GgmlType type, cpu::KernelLevel level, const ProfileArgs& args, std::mt19937& rng) {
  PS_ASSIGN_OR_RETURN(size_t row_bytes, RowBytes(type, kCols));
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(ComputeBytes(args) / row_bytes));
  PS_ASSIGN_OR_RETURN(auto w, cpu::ProbeMatrix::Random(type, rows, kCols, rng));
  std::vector<float> x(static_cast<size_t>(kChunkRows * kCols), 0.5f), y(static_cast<size_t>(kChunkRows * rows));
  const double s = cpu::TimeProduct(level, args.threads, w->View(level), x.data(), kChunkRows, y.data(), {args.runs, args.min_ms, false});
  return 2.0 * static_cast<double>(rows * kCols * kChunkRows) / s;
}

// Curves at rows of 1024 and 4096 (a small and an 8B model's widths); the single figures are
// the harmonic mean of both one-row rates (decode) and the 4096-wide 128-row rate (a chunk).
Result<Rates> MeasureType(GgmlType type, cpu::KernelLevel level, const ProfileArgs& args, size_t decode_bytes,
                          std::mt19937& rng, std::map<int64_t, std::vector<std::pair<int32_t, double>>>* curves) {
  const double bytes_per_weight = static_cast<double>(TraitsOf(type).block_bytes) / static_cast<double>(TraitsOf(type).block_size);
  double inverse_decode = 0;
  Rates r;
  for (int64_t cols : {int64_t{1024}, kCols}) {
    PS_ASSIGN_OR_RETURN(auto curve, Curve(type, level, args, cols, decode_bytes, rng));
    inverse_decode += 0.5 / (curve.front().second / 2.0 * bytes_per_weight);
    for (const auto& [n, ops] : curve) {
      if (cols == kCols && n == kChunkRows) r.prefill_ops = ops;
    }
    (*curves)[cols] = std::move(curve);
  }
  r.decode_bytes_per_s = 1.0 / inverse_decode;
  return r;
}

// A layer's fixed cost: nine products too small to be bound by anything but dispatch.
Result<double> MeasureLayerOverhead(cpu::KernelLevel level, const ProfileArgs& args, std::mt19937& rng) {
  PS_ASSIGN_OR_RETURN(auto tiny, cpu::ProbeMatrix::Random(GgmlType::Q8_0, 16, 256, rng));
  std::vector<float> x(256, 0.5f), y(16);
  const double s = cpu::TimeProduct(level, args.threads, tiny->View(level), x.data(), 1, y.data(), {args.runs, 20, true});
  return kLayerOps * s;
}

uint64_t HostMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(size) : 0;
}

std::string Today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace

Result<plan::DeviceProfile> MeasureCpuProfile(const ProfileArgs& args) {
  if (args.threads < 1) return Status::InvalidArgument("--threads must be at least 1 for --profile (got " + std::to_string(args.threads) + ")");
  if (args.name.empty() || args.name.size() > 64) return Status::InvalidArgument("--name must be 1 to 64 bytes");
  PS_ASSIGN_OR_RETURN(cpu::KernelLevel level, cpu::ResolveKernelLevel(cpu::KernelLevel::kAuto));
  std::vector<GgmlType> types;
  for (const std::string& name : args.types) {
    const auto type = ParseTypeName(name);
    if (!type || !TraitsOf(*type).supported) return Status::InvalidArgument("--profile-types: '" + name + "' is not a supported weight type");
    types.push_back(*type);
  }

  plan::DeviceProfile d;
  d.name = args.name;
  d.gpu = false;
  d.memory_bytes = HostMemoryBytes();
  if (d.memory_bytes == 0) return Status::Internal("the host's memory size is unknown (sysconf)");
  const size_t llc = LastLevelCacheBytes();
  const size_t decode_bytes = args.stream_bytes > 0 ? args.stream_bytes : std::max<size_t>(512u << 20, 4 * llc);
  const size_t stream_bytes = 2 * decode_bytes;
  PS_ASSIGN_OR_RETURN(d.memory_bandwidth, MeasureReadBandwidth(stream_bytes, args.threads, 5));

  std::mt19937 rng(7);
  for (GgmlType type : types) {
    plan::KernelRates& k = d.kernels[plan::KernelKey(type)];
    PS_ASSIGN_OR_RETURN(Rates r, MeasureType(type, level, args, decode_bytes, rng, &k.curves));
    k.decode_bytes_per_s = r.decode_bytes_per_s;
    k.prefill_ops = r.prefill_ops;
  }
  PS_ASSIGN_OR_RETURN(d.f32_flops, ChunkRate(GgmlType::F32, level, args, rng));
  const auto f16 = d.kernels.find("f16");
  if (f16 != d.kernels.end()) {
    d.f16_flops = f16->second.prefill_ops;
  } else {
    PS_ASSIGN_OR_RETURN(d.f16_flops, ChunkRate(GgmlType::F16, level, args, rng));
  }
  // Types not measured fall back to the roofline: int8 at the q8_0 chunk rate, and reads at the
  // share of the stream rate q8_0's decode reaches (or all of it, without q8_0).
  const auto q8 = d.kernels.find("q8_0");
  d.int8_ops = q8 != d.kernels.end() ? q8->second.prefill_ops : d.f32_flops;
  d.bandwidth_efficiency =
      q8 != d.kernels.end() ? std::clamp(q8->second.decode_bytes_per_s / d.memory_bandwidth, 0.01, 1.0) : 1.0;
  d.compute_efficiency = 1.0;
  // Attention and element-wise work at the benchmarks' shape (16 heads of 64, 4 KV heads, FFN
  // 4096): a 128-row chunk at positions 896..1023.
  const cpu::ProbeTiming timing{args.runs, args.min_ms, false};
  const double attention_s = cpu::TimeAttention(level, args.threads, 16, 4, 64, 896, kChunkRows, timing);
  double attended = 0;
  for (int64_t i = 0; i < kChunkRows; ++i) attended += 896.0 + static_cast<double>(i) + 1.0;
  if (attention_s > 0) d.attention_flops = attended * 4.0 * 16 * 64 / attention_s;
  const double row_s = cpu::TimeRowOps(level, 1024, 16, 4, 4096, timing);
  if (row_s > 0) d.row_elements_per_s = (3.0 * 1024 + 3.0 * 256 + 4096) / row_s;
  PS_ASSIGN_OR_RETURN(d.launch_overhead_s, MeasureLayerOverhead(level, args, rng));
  d.launch_overhead_s = std::max(d.launch_overhead_s, 1e-9);
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  d.source = "measured by `pipeshard bench --profile --threads " + std::to_string(args.threads) + "` on " + host + ", " +
             Today() + ", " + VersionLine("pipeshard") + ", kernels " + cpu::KernelLevelName(level) +
             "; rates are what the backend's kernels reach, so the compute efficiency is 1";
  return d;
}

std::string ProfileCatalogJson(const plan::DeviceProfile& profile) {
  return plan::HardwareCatalog::Of({profile}, {}).ToJson();
}

}  // namespace ps::cli
