#include "worker/backend/cuda/device_spec.h"

#include <charconv>

namespace ps {

namespace {
// Far above any machine's device count; keeps the ordinal small enough for every CUDA API.
constexpr int kMaxDeviceIndex = 1024;
constexpr std::string_view kCudaPrefix = "cuda:";
constexpr std::string_view kSimPrefix = "sim:";
constexpr size_t kMaxSimName = 64;
}  // namespace

std::string DeviceSpec::ToString() const {
  switch (kind) {
    case Kind::kCpu:
      return "cpu";
    case Kind::kCuda:
      return std::string(kCudaPrefix) + std::to_string(index);
    case Kind::kSim:
      break;
  }
  std::string out(kSimPrefix);
  out += sim_device;
  return out;
}

Result<DeviceSpec> ParseDeviceSpec(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument("--device '" + std::string(text) + "': expected cpu, cuda:N (N in [0, " +
                                   std::to_string(kMaxDeviceIndex) + ")) or sim:NAME (an emulated catalog device)");
  };
  if (text == "cpu") return DeviceSpec{};
  if (text.starts_with(kSimPrefix)) {
    const std::string_view name = text.substr(kSimPrefix.size());
    if (name.empty() || name.size() > kMaxSimName) return bad();
    for (char c : name) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
      if (!ok) return bad();
    }
    DeviceSpec spec;
    spec.kind = DeviceSpec::Kind::kSim;
    spec.sim_device = std::string(name);
    return spec;
  }
  if (!text.starts_with(kCudaPrefix)) return bad();
  const std::string_view digits = text.substr(kCudaPrefix.size());
  if (digits.empty() || digits.front() < '0' || digits.front() > '9') return bad();  // no sign, no space
  int index = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc() || end != digits.data() + digits.size() || index >= kMaxDeviceIndex) return bad();
  DeviceSpec spec;
  spec.kind = DeviceSpec::Kind::kCuda;
  spec.index = index;
  return spec;
}

}  // namespace ps
