// The hardware catalog that what-if planning prices a cluster with: devices (memory, memory
// bandwidth, peak dense throughput, and the fractions of those peaks llama.cpp-class kernels
// reach) and links (bandwidth, one-way latency). The built-in catalog is
// common/plan/hardware_catalog.json, compiled in; docs/hardware_catalog.md gives each number's
// source. A catalog in the same format can be read from a file (a measured profile).
// Thread-safety: a HardwareCatalog is immutable after construction; BuiltIn() is initialised once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/quant/ggml_type.h"
#include "common/util/status.h"

namespace ps::plan {

// Rates one weight type's kernels were measured at on a device (`pipeshard bench --profile`):
// they replace the peak-times-efficiency estimate for models of that type.
struct KernelRates {
  double decode_bytes_per_s = 0;  // weight bytes/s of a one-row product (decode)
  double prefill_ops = 0;         // ops/s of a many-row product (a prompt chunk)
  // Optional: ops/s (2 per weight and row) of a product of n activation rows, as (n, ops/s) by
  // increasing n, for weight rows of each measured length (a model uses the length nearest its
  // n_embd). Small n streams the weights from memory; large n is bound by the arithmetic.
  std::map<int64_t, std::vector<std::pair<int32_t, double>>> curves;
};

// The key of DeviceProfile::kernels for a weight type: ggml's name in lower case ("q4_k").
std::string KernelKey(GgmlType type);

struct DeviceProfile {
  std::string name;
  std::vector<std::string> aliases;
  bool gpu = false;  // "kind": "gpu" or "cpu"
  uint64_t memory_bytes = 0;
  double memory_bandwidth = 0;  // bytes/s, peak
  double f32_flops = 0;         // dense, peak
  double f16_flops = 0;
  double int8_ops = 0;
  double bandwidth_efficiency = 0;  // (0, 1]: the share of peak bandwidth decode kernels reach
  double compute_efficiency = 0;    // (0, 1]: the share of peak compute prompt GEMMs reach
  double launch_overhead_s = 0;     // fixed cost per layer and step (kernel launches, syncs)
  std::map<std::string, KernelRates> kernels;  // by ggml type name, lower case ("q8_0", "q4_k")
  // Measured, optional (0: not known): the attention kernel's FLOP/s (instead of the float peak
  // times the compute efficiency), and the rate of a block's element-wise work per row (norms,
  // RoPE, cache stores, SwiGLU: 3 n_embd + 3 n_embd_kv + n_ff elements), which GPUs fuse away.
  double attention_flops = 0;
  double row_elements_per_s = 0;
  std::string source;                          // where the numbers come from
};

struct LinkProfile {
  std::string name;
  std::vector<std::string> aliases;
  double bandwidth = 0;  // bytes/s, one direction, effective
  double latency_s = 0;  // one way, small message
};

class HardwareCatalog {
 public:
  // Every field checked: an error names `origin`, the entry and the field.
  static Result<HardwareCatalog> FromJson(std::string_view text, std::string_view origin);
  // The compiled-in common/plan/hardware_catalog.json.
  static const HardwareCatalog& BuiltIn();
  // `extra`'s entries (a measured profile) before `base`'s; a base entry sharing a name or alias
  // with an extra one is replaced by it.
  static HardwareCatalog Combine(const HardwareCatalog& extra, const HardwareCatalog& base);
  // The built-in catalog, with the entries of the catalog file at `path` first when it is not
  // empty (Combine). Errors name the file: missing, over 1 MiB, or not a catalog.
  static Result<HardwareCatalog> BuiltInWith(const std::string& path);
  // A catalog of these entries as they are (a profile just measured).
  static HardwareCatalog Of(std::vector<DeviceProfile> devices, std::vector<LinkProfile> links);
  // The catalog format, for a profile to be written and read back.
  std::string ToJson() const;

  // By name or alias, ignoring case, '-' and '_' ("tesla-p40", "p40", "PCIe3_x16").
  const DeviceProfile* FindDevice(std::string_view name) const;
  const LinkProfile* FindLink(std::string_view name) const;
  const std::vector<DeviceProfile>& devices() const { return devices_; }
  const std::vector<LinkProfile>& links() const { return links_; }

 private:
  std::vector<DeviceProfile> devices_;
  std::vector<LinkProfile> links_;
};

// One group of a cluster spec: `count` devices of one kind, joined to the next stage by `link`.
struct ClusterGroup {
  DeviceProfile device;
  int count = 0;
  LinkProfile link;
};

// The most devices a spec may name (a what-if, not a data centre).
inline constexpr int kMaxSpecDevices = 256;

// "4xP40 pcie3", "2xRTX4090 pcie4, 1xcpu-zen3-8c 10gbe": groups separated by commas, each
// `[COUNTx]DEVICE LINK` (count 1 when left out). An unknown name is refused with the known ones.
Result<std::vector<ClusterGroup>> ParseClusterSpec(std::string_view spec, const HardwareCatalog& catalog);

}  // namespace ps::plan
