#include "worker/backend/cuda/device_spec.h"

#include <charconv>

namespace ps {

namespace {
// Far above any machine's device count; keeps the ordinal small enough for every CUDA API.
constexpr int kMaxDeviceIndex = 1024;
constexpr std::string_view kCudaPrefix = "cuda:";
}  // namespace

std::string DeviceSpec::ToString() const {
  return kind == Kind::kCpu ? std::string("cpu") : std::string(kCudaPrefix) + std::to_string(index);
}

Result<DeviceSpec> ParseDeviceSpec(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument("--device '" + std::string(text) + "': expected cpu or cuda:N (N in [0, " +
                                   std::to_string(kMaxDeviceIndex) + "))");
  };
  if (text == "cpu") return DeviceSpec{};
  if (!text.starts_with(kCudaPrefix)) return bad();
  const std::string_view digits = text.substr(kCudaPrefix.size());
  if (digits.empty() || digits.front() < '0' || digits.front() > '9') return bad();  // no sign, no space
  int index = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc() || end != digits.data() + digits.size() || index >= kMaxDeviceIndex) return bad();
  return DeviceSpec{DeviceSpec::Kind::kCuda, index};
}

}  // namespace ps
