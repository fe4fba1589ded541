// `pipeshard bench --profile`: measures this host's CPU as the what-if planner sees a device
// (common/plan/hardware_catalog.h) and writes it in the catalog's format, so that `plan
// --simulate --catalog FILE --cluster "2xNAME loopback"` can price a cluster of such hosts.
// Measured: the streaming read bandwidth; per weight type, a one-row product's weight bytes/s
// (decode; through 512 MiB or more, past the caches) and a 128-row product's ops/s (a prompt chunk); F32 and
// F16 many-row products; the attention kernel over a 128-row chunk and a block's element-wise
// work per row at the 0.5B shape; the fixed cost of a layer's nine small operations. Each rate is what the backend's kernels reach
// with --threads threads, so the profile's efficiencies are 1 except the bandwidth one (the
// Q8_0 decode rate over the stream rate), which prices the cache reads.
// Thread-safety: runs on the calling thread and the threads it starts.
#pragma once

#include <string>
#include <vector>

#include "common/plan/hardware_catalog.h"
#include "common/util/status.h"

namespace ps::cli {

struct ProfileArgs {
  std::string name = "this-host";
  int threads = 1;
  std::vector<std::string> types = {"q8_0", "q4_k", "q4_0", "q6_k", "f16"};
  double min_ms = 200;  // per run of each product
  int runs = 3;
  // Bytes of the matrices 1-8 row products stream; 0: 512 MiB or 4x the last-level cache the
  // CPU reports, whichever is more (past the caches).
  size_t stream_bytes = 0;
};

Result<plan::DeviceProfile> MeasureCpuProfile(const ProfileArgs& args);

// The profile as a catalog with one device (HardwareCatalog::ToJson's format).
std::string ProfileCatalogJson(const plan::DeviceProfile& profile);

}  // namespace ps::cli
