// The hardware catalog that what-if planning prices a cluster with: devices (memory, memory
// bandwidth, peak dense throughput, and the fractions of those peaks llama.cpp-class kernels
// reach) and links (bandwidth, one-way latency). The built-in catalog is
// common/plan/hardware_catalog.json, compiled in; docs/hardware_catalog.md gives each number's
// source. A catalog in the same format can be read from a file (a measured profile).
// Thread-safety: a HardwareCatalog is immutable after construction; BuiltIn() is initialised once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace ps::plan {

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
